// libedgetpu (or the simulated libedgetpu) loaded at run time through its C++ ABI.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/edgetpu/edgetpu_abi.h"

namespace sc {

// Where the runtime is looked for when no path is given.
constexpr const char* kLibEdgeTpuEnv = "STREAMCORE_LIBEDGETPU";
constexpr const char* kLibEdgeTpuDefault = "libedgetpu.so.1";

struct EdgeTpuRecord {
    std::string type;  // "usb", "pci" or "reference" (the simulator)
    std::string path;
};

struct SimStats {
    int64_t invokes = 0;   // successful invokes
    int64_t failures = 0;  // invokes that returned an error
};

// One opened Edge TPU. Interpreters bound to it hold a shared_ptr, so the libedgetpu context
// outlives them; the device path counts as open until the last holder lets go.
class OpenedEdgeTpu {
public:
    OpenedEdgeTpu(std::shared_ptr<edgetpu::EdgeTpuContext> context, std::string type, std::string path,
                  const void* manager, bool simulated);
    ~OpenedEdgeTpu();
    OpenedEdgeTpu(const OpenedEdgeTpu&) = delete;
    OpenedEdgeTpu& operator=(const OpenedEdgeTpu&) = delete;

    const std::string& type() const { return type_; }
    const std::string& path() const { return path_; }
    bool simulated() const { return simulated_; }
    bool is_ready() const { return context_->IsReady(); }
    std::map<std::string, std::string> options() const;
    // The pointer Interpreter::SetExternalContext expects (the base subobject, not the object).
    TfLiteExternalContext* external_context() const { return context_.get(); }

private:
    std::shared_ptr<edgetpu::EdgeTpuContext> context_;
    std::string type_;
    std::string path_;
    const void* manager_;
    bool simulated_;
};

class EdgeTpuRuntime {
public:
    // dlopens `library_path` (RTLD_NOW | RTLD_LOCAL). Throws EdgeTpuUnavailableError.
    explicit EdgeTpuRuntime(const std::string& library_path);

    const std::string& path() const { return path_; }
    // True for streamcore's simulated libedgetpu (it exports the streamcore_sim_* entry points).
    bool simulated() const { return simulated_; }
    std::string version() const;
    std::vector<EdgeTpuRecord> enumerate() const;
    // Paths of the devices libedgetpu holds open with shared ownership (GetOpenedDevices()).
    std::vector<std::string> opened_paths() const;
    // libedgetpu's log verbosity, 0..10.
    void set_verbosity(int verbosity) const;
    // `path` must come from enumerate(): libedgetpu's OpenDevice without one hands back any open device.
    std::shared_ptr<OpenedEdgeTpu> open(const std::string& type, const std::string& path,
                                        const std::map<std::string, std::string>& options);

    // libedgetpu's TF 2.5-sized registration copied into a zeroed TF 2.14 one.
    TfLiteRegistration registration() const;
    // Adds edgetpu-custom-op to a tflite::MutableOpResolver (needs sc::load_tflite_api first).
    void register_custom_op(std::uintptr_t resolver_address) const;

    // Simulator controls; DeviceError when this library is not the simulator.
    void sim_configure(int num_devices, double latency_ms) const;
    void sim_fault(const std::string& path, const std::string& fault, int arg) const;
    SimStats sim_stats(const std::string& path) const;

private:
    void* sim_symbol(const char* name) const;

    std::string path_;
    void* handle_ = nullptr;
    edgetpu::EdgeTpuManager* manager_ = nullptr;
    edgetpu::TfLiteRegistrationV25* (*register_custom_op_)() = nullptr;
    bool simulated_ = false;
};

// Binds an interpreter (tflite::impl::Interpreter*) to the device; call before AllocateTensors.
void bind_interpreter(std::uintptr_t interpreter_address, const OpenedEdgeTpu& device);

// Rejects option names and values libedgetpu does not accept (it would silently ignore them).
void validate_device_options(const std::map<std::string, std::string>& options);

}  // namespace sc
