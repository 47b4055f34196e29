// Our declaration of libedgetpu's public C++ ABI (google-coral/libedgetpu tflite/public/edgetpu.h).
// Virtual functions are declared in the same order as there, so the Itanium vtable slots match;
// do not reorder, add or remove virtual members. The simulated libedgetpu implements this too.
#pragma once
#include <memory>
#include <ostream>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/tflite/c_abi.h"

// libedgetpu passes std::string across its ABI; it is built with the C++11 string.
static_assert(_GLIBCXX_USE_CXX11_ABI == 1, "build with -D_GLIBCXX_USE_CXX11_ABI=1 (libedgetpu's std::string ABI)");
static_assert(sizeof(std::string) == 32, "libedgetpu expects the C++11 std::string layout");

#define SC_EDGETPU_EXPORT __attribute__((visibility("default")))

namespace edgetpu {

static const char kCustomOp[] = "edgetpu-custom-op";

enum class DeviceType {
    kApexPci = 0,
    kApexUsb = 1,
};

class EdgeTpuContext;

class SC_EDGETPU_EXPORT EdgeTpuManager {
public:
    using DeviceOptions = std::unordered_map<std::string, std::string>;
    struct DeviceEnumerationRecord {
        DeviceType type;
        std::string path;
    };

    static EdgeTpuManager* GetSingleton();

    // Deprecated exclusive-ownership API; declared only to keep the vtable slots.
    virtual std::unique_ptr<EdgeTpuContext> NewEdgeTpuContext() = 0;
    virtual std::unique_ptr<EdgeTpuContext> NewEdgeTpuContext(DeviceType device_type) = 0;
    virtual std::unique_ptr<EdgeTpuContext> NewEdgeTpuContext(DeviceType device_type,
                                                              const std::string& device_path) = 0;
    virtual std::unique_ptr<EdgeTpuContext> NewEdgeTpuContext(DeviceType device_type,
                                                              const std::string& device_path,
                                                              const DeviceOptions& options) = 0;

    virtual std::vector<DeviceEnumerationRecord> EnumerateEdgeTpu() const = 0;

    virtual std::shared_ptr<EdgeTpuContext> OpenDevice() = 0;
    virtual std::shared_ptr<EdgeTpuContext> OpenDevice(DeviceType device_type) = 0;
    virtual std::shared_ptr<EdgeTpuContext> OpenDevice(DeviceType device_type, const std::string& device_path) = 0;
    virtual std::shared_ptr<EdgeTpuContext> OpenDevice(DeviceType device_type, const std::string& device_path,
                                                       const DeviceOptions& options) = 0;

    virtual std::vector<std::shared_ptr<EdgeTpuContext>> GetOpenedDevices() const = 0;
    virtual TfLiteStatus SetVerbosity(int verbosity) = 0;
    virtual std::string Version() const = 0;

protected:
    virtual ~EdgeTpuManager() = default;
};

// The pointer given to Interpreter::SetExternalContext is the TfLiteExternalContext base
// subobject, which sits after the vtable pointer: always convert with static_cast.
class SC_EDGETPU_EXPORT EdgeTpuContext : public TfLiteExternalContext {
public:
    virtual ~EdgeTpuContext() = 0;
    virtual const EdgeTpuManager::DeviceEnumerationRecord& GetDeviceEnumRecord() const = 0;
    virtual EdgeTpuManager::DeviceOptions GetDeviceOptions() const = 0;
    virtual bool IsReady() const = 0;
};

// TfLiteRegistration as TF 2.5 laid it out, which is what libedgetpu (built against TF 2.5)
// returns: it ends at `version`, so reading a TF 2.14 registration from it reads past its end.
struct TfLiteRegistrationV25 {
    void* (*init)(TfLiteContext* context, const char* buffer, size_t length);
    void (*free)(TfLiteContext* context, void* buffer);
    TfLiteStatus (*prepare)(TfLiteContext* context, TfLiteNode* node);
    TfLiteStatus (*invoke)(TfLiteContext* context, TfLiteNode* node);
    const char* (*profiling_string)(const TfLiteContext* context, const TfLiteNode* node);
    int32_t builtin_code;
    const char* custom_name;
    int version;
};
static_assert(sizeof(TfLiteRegistrationV25) == 64, "TF 2.5 TfLiteRegistration layout");

// Declared returning TfLiteRegistration* in edgetpu.h; the return type is not part of the
// mangled name (_ZN7edgetpu16RegisterCustomOpEv), so we can say what it really points to.
SC_EDGETPU_EXPORT TfLiteRegistrationV25* RegisterCustomOp();

SC_EDGETPU_EXPORT std::ostream& operator<<(std::ostream& out, DeviceType device_type);

}  // namespace edgetpu

namespace sc {
// Not in libedgetpu's public enum: the simulated libedgetpu reports its devices with this
// type so nothing mistakes them for USB or PCIe hardware.
constexpr edgetpu::DeviceType kSimulatedDeviceType = static_cast<edgetpu::DeviceType>(2);

// Mangled names of libedgetpu's entry points (checked with nm against the simulator build).
constexpr const char* kGetSingletonSymbol = "_ZN7edgetpu14EdgeTpuManager12GetSingletonEv";
constexpr const char* kRegisterCustomOpSymbol = "_ZN7edgetpu16RegisterCustomOpEv";
}  // namespace sc
