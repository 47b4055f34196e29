#include "backends/edgetpu/runtime.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <set>
#include <utility>

#include "common/errors.h"
#include "backends/tflite/symbols.h"

namespace sc {
namespace {

std::string install_hint() {
    return std::string(
               "Install the Edge TPU runtime: Coral's Debian package libedgetpu1-std (or libedgetpu1-max "
               "for the maximum clock) from Coral's apt repository "
               "(https://coral.ai/docs/accelerator/get-started/), or a libedgetpu build matched to "
               "TensorFlow Lite 2.14; set ") +
           kLibEdgeTpuEnv + " to its path if it is not on the library search path as " + kLibEdgeTpuDefault +
           ".";
}

// Device paths open in this process, per libedgetpu manager (one manager per loaded library).
std::mutex g_open_mutex;
std::set<std::pair<const void*, std::string>> g_open_paths;

const char* type_name(edgetpu::DeviceType type) {
    switch (static_cast<int>(type)) {
        case static_cast<int>(edgetpu::DeviceType::kApexPci): return "pci";
        case static_cast<int>(edgetpu::DeviceType::kApexUsb): return "usb";
        case static_cast<int>(kSimulatedDeviceType): return "reference";
        default: return "unknown";
    }
}

void require_one_of(const std::string& key, const std::string& value, std::initializer_list<const char*> allowed) {
    for (const char* a : allowed)
        if (value == a) return;
    std::string list;
    for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
    throw DeviceError("Edge TPU option " + key + "='" + value + "' is invalid; use one of: " + list);
}

}  // namespace

void validate_device_options(const std::map<std::string, std::string>& options) {
    for (const auto& [key, value] : options) {
        if (key == "Performance") {
            require_one_of(key, value, {"Low", "Medium", "High", "Max"});
        } else if (key == "Usb.AlwaysDfu") {
            require_one_of(key, value, {"True", "False"});
        } else if (key == "Usb.MaxBulkInQueueLength") {
            bool digits = !value.empty() && value.size() <= 3 &&
                          std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
            if (!digits || std::stoi(value) > 255)
                throw DeviceError("Edge TPU option Usb.MaxBulkInQueueLength='" + value +
                                  "' is invalid; use an integer from 0 to 255");
        } else {
            throw DeviceError("unknown Edge TPU option '" + key +
                              "'; libedgetpu accepts Performance, Usb.AlwaysDfu and Usb.MaxBulkInQueueLength");
        }
    }
}

OpenedEdgeTpu::OpenedEdgeTpu(std::shared_ptr<edgetpu::EdgeTpuContext> context, std::string type, std::string path,
                             const void* manager, bool simulated)
    : context_(std::move(context)), type_(std::move(type)), path_(std::move(path)), manager_(manager),
      simulated_(simulated) {}

OpenedEdgeTpu::~OpenedEdgeTpu() {
    context_.reset();  // closes the device before the path may be opened again
    std::lock_guard<std::mutex> lock(g_open_mutex);
    g_open_paths.erase({manager_, path_});
}

std::map<std::string, std::string> OpenedEdgeTpu::options() const {
    edgetpu::EdgeTpuManager::DeviceOptions opts = context_->GetDeviceOptions();
    return std::map<std::string, std::string>(opts.begin(), opts.end());
}

EdgeTpuRuntime::EdgeTpuRuntime(const std::string& library_path) : path_(library_path) {
    if (library_path.empty()) throw EdgeTpuUnavailableError("empty libedgetpu path. " + install_hint());
    handle_ = dlopen(library_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) {
        const char* err = dlerror();
        throw EdgeTpuUnavailableError("cannot load libedgetpu from '" + library_path + "' (" +
                                      (err ? err : "unknown error") + "). " + install_hint());
    }
    // Never dlclose: contexts, registrations and their deleters point into the library.
    auto resolve = [&](const char* symbol) {
        dlerror();
        void* p = dlsym(handle_, symbol);
        if (!p)
            throw EdgeTpuUnavailableError("'" + library_path + "' does not export " + symbol +
                                          ", so it is not a usable libedgetpu. " + install_hint());
        return p;
    };
    auto get_singleton = reinterpret_cast<edgetpu::EdgeTpuManager* (*)()>(resolve(kGetSingletonSymbol));
    register_custom_op_ = reinterpret_cast<edgetpu::TfLiteRegistrationV25* (*)()>(resolve(kRegisterCustomOpSymbol));
    simulated_ = dlsym(handle_, "streamcore_sim_configure") != nullptr;
    manager_ = get_singleton();
    if (!manager_)
        throw EdgeTpuUnavailableError("libedgetpu at '" + library_path +
                                      "' reports that Edge TPUs are not supported on this platform "
                                      "(EdgeTpuManager::GetSingleton() returned null)");
}

std::string EdgeTpuRuntime::version() const { return manager_->Version(); }

std::vector<EdgeTpuRecord> EdgeTpuRuntime::enumerate() const {
    std::vector<EdgeTpuRecord> records;
    for (const auto& r : manager_->EnumerateEdgeTpu()) records.push_back({type_name(r.type), r.path});
    return records;
}

std::vector<std::string> EdgeTpuRuntime::opened_paths() const {
    std::vector<std::string> paths;
    for (const auto& context : manager_->GetOpenedDevices())
        if (context) paths.push_back(context->GetDeviceEnumRecord().path);
    return paths;
}

void EdgeTpuRuntime::set_verbosity(int verbosity) const {
    if (verbosity < 0 || verbosity > 10 || manager_->SetVerbosity(verbosity) != kTfLiteOk)
        throw DeviceError("Edge TPU log verbosity must be 0..10, not " + std::to_string(verbosity));
}

std::shared_ptr<OpenedEdgeTpu> EdgeTpuRuntime::open(const std::string& type, const std::string& path,
                                                    const std::map<std::string, std::string>& options) {
    edgetpu::DeviceType device_type;
    if (type == "usb") {
        device_type = edgetpu::DeviceType::kApexUsb;
    } else if (type == "pci") {
        device_type = edgetpu::DeviceType::kApexPci;
    } else if (type == "reference" && simulated_) {
        device_type = kSimulatedDeviceType;
    } else {
        throw DeviceError("unknown Edge TPU type '" + type + "'; use \"usb\" or \"pci\"" +
                          (simulated_ ? " (or \"reference\" for simulated devices)" : ""));
    }
    if (path.empty())
        throw DeviceError("open an Edge TPU by the path enumerate() reports; an empty path lets libedgetpu "
                          "hand back any device that is already open");
    validate_device_options(options);

    std::lock_guard<std::mutex> lock(g_open_mutex);
    if (g_open_paths.count({manager_, path}))
        throw DeviceError("Edge TPU " + type + ":" + path +
                          " is already open in this process; share the open device instead of opening it again");
    bool present = false;
    std::string available;
    for (const auto& r : manager_->EnumerateEdgeTpu()) {
        present = present || (r.path == path && r.type == device_type);
        available += std::string(available.empty() ? "" : ", ") + type_name(r.type) + ":" + r.path;
    }
    if (!present)
        throw DeviceNotFoundError("no Edge TPU " + type + ":" + path + " is connected (found: " +
                                  (available.empty() ? std::string("none") : available) +
                                  "); check the cable or PCIe driver and list devices again");

    edgetpu::EdgeTpuManager::DeviceOptions opts(options.begin(), options.end());
    std::shared_ptr<edgetpu::EdgeTpuContext> context = manager_->OpenDevice(device_type, path, opts);
    if (!context)
        throw DeviceError("libedgetpu could not open Edge TPU " + type + ":" + path +
                          "; it may be in use by another process, or lack permissions (USB: add a udev rule "
                          "or your user to the plugdev group; PCIe: load the gasket/apex driver and check "
                          "/dev/apex_*), then replug it and retry");
    g_open_paths.insert({manager_, path});
    return std::make_shared<OpenedEdgeTpu>(std::move(context), type, path, manager_, simulated_);
}

TfLiteRegistration EdgeTpuRuntime::registration() const {
    const edgetpu::TfLiteRegistrationV25* old = register_custom_op_();
    if (!old) throw DeviceError("libedgetpu's RegisterCustomOp() returned null");
    TfLiteRegistration reg;
    std::memset(&reg, 0, sizeof(reg));
    reg.init = old->init;
    reg.free = old->free;
    reg.prepare = old->prepare;
    reg.invoke = old->invoke;
    reg.custom_name = old->custom_name;
    reg.version = old->version;
    return reg;
}

void EdgeTpuRuntime::register_custom_op(std::uintptr_t resolver_address) const {
    if (!resolver_address) throw InputError("the op resolver address is null");
    TfLiteRegistration reg = registration();  // AddCustom copies it
    tflite_api().add_custom(reinterpret_cast<void*>(resolver_address), edgetpu::kCustomOp, &reg, 1);
}

void* EdgeTpuRuntime::sim_symbol(const char* name) const {
    void* p = simulated_ ? dlsym(handle_, name) : nullptr;
    if (!p)
        throw DeviceError("'" + path_ + "' is not streamcore's simulated libedgetpu (no " + name +
                          "); simulator controls only work on streamcore.edgetpu_sim.sim_library_path()");
    return p;
}

void EdgeTpuRuntime::sim_configure(int num_devices, double latency_ms) const {
    auto fn = reinterpret_cast<int (*)(int, double)>(sim_symbol("streamcore_sim_configure"));
    if (fn(num_devices, latency_ms) != 0)
        throw DeviceError("invalid simulator configuration: num_devices must be 0..64 and latency_ms 0..10000 (got " +
                          std::to_string(num_devices) + ", " + std::to_string(latency_ms) + ")");
}

void EdgeTpuRuntime::sim_fault(const std::string& path, const std::string& fault, int arg) const {
    auto fn = reinterpret_cast<int (*)(const char*, const char*, int)>(sim_symbol("streamcore_sim_fault"));
    switch (fn(path.c_str(), fault.c_str(), arg)) {
        case 0: return;
        case -1: throw DeviceNotFoundError("the simulator has no device '" + path + "'");
        case -2:
            throw DeviceError("unknown simulator fault '" + fault + "'; use fail_after, unplug, busy or replug");
        default: throw DeviceError("invalid argument " + std::to_string(arg) + " for simulator fault " + fault);
    }
}

SimStats EdgeTpuRuntime::sim_stats(const std::string& path) const {
    auto fn = reinterpret_cast<int (*)(const char*, long long*, long long*)>(sim_symbol("streamcore_sim_stats"));
    long long invokes = 0, failures = 0;
    if (fn(path.c_str(), &invokes, &failures) != 0)
        throw DeviceNotFoundError("the simulator has no device '" + path + "'");
    return {invokes, failures};
}

void bind_interpreter(std::uintptr_t interpreter_address, const OpenedEdgeTpu& device) {
    if (!interpreter_address) throw InputError("the interpreter handle is null");
    void* interpreter = reinterpret_cast<void*>(interpreter_address);
    const TfLiteApi& api = tflite_api();
    api.set_num_threads(interpreter, 1);  // before the context: SetNumThreads refreshes external contexts
    api.set_external_context(interpreter, kTfLiteEdgeTpuContext, device.external_context());
}

}  // namespace sc
