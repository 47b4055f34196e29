// The simulated libedgetpu's EdgeTpuManager / EdgeTpuContext and its streamcore_sim_* controls.
// No Edge TPU hardware is involved: devices are "reference" devices at paths "sim:N".
#include <cstdlib>
#include <cstring>
#include <set>

#include "edgetpu_sim/sim_state.h"

namespace sc_sim {
namespace {

const char kVersion[] =
    "streamcore simulated libedgetpu 0.1 - SIMULATOR, no Edge TPU hardware is used "
    "(C++ ABI of libedgetpu, TensorFlow Lite 2.14)";

std::set<const edgetpu::EdgeTpuContext*> g_live_contexts;  // guarded by state().mutex

void reset_devices(SimState& s) {
    s.devices.clear();
    for (int i = 0; i < s.num_devices; ++i) s.devices[device_path(i)] = DeviceState{};
}

bool valid_options(const edgetpu::EdgeTpuManager::DeviceOptions& options) {
    for (const auto& [key, value] : options) {
        if (key == "Performance") {
            if (value != "Low" && value != "Medium" && value != "High" && value != "Max") return false;
        } else if (key == "Usb.AlwaysDfu") {
            if (value != "True" && value != "False") return false;
        } else if (key == "Usb.MaxBulkInQueueLength") {
            char* end = nullptr;
            long n = std::strtol(value.c_str(), &end, 10);
            if (value.empty() || *end || n < 0 || n > 255) return false;
        } else {
            return false;
        }
    }
    return true;
}

TfLiteStatus refresh(TfLiteContext*) { return kTfLiteOk; }

class SimContext final : public edgetpu::EdgeTpuContext {
public:
    SimContext(std::string path, edgetpu::EdgeTpuManager::DeviceOptions options, bool exclusive)
        : record_{sc::kSimulatedDeviceType, std::move(path)}, options_(std::move(options)) {
        type = kTfLiteEdgeTpuContext;
        Refresh = refresh;
        if (exclusive) options_["ExclusiveOwnership"] = "";
        options_["Simulated"] = "True";
        std::lock_guard<std::mutex> lock(state().mutex);
        g_live_contexts.insert(this);
    }
    ~SimContext() override {
        std::lock_guard<std::mutex> lock(state().mutex);
        g_live_contexts.erase(this);
    }
    const edgetpu::EdgeTpuManager::DeviceEnumerationRecord& GetDeviceEnumRecord() const override { return record_; }
    edgetpu::EdgeTpuManager::DeviceOptions GetDeviceOptions() const override {
        auto options = options_;
        if (IsReady()) options["IsReady"] = "";
        return options;
    }
    bool IsReady() const override {
        std::lock_guard<std::mutex> lock(state().mutex);
        auto it = state().devices.find(record_.path);
        return it != state().devices.end() && !it->second.unplugged;
    }

private:
    edgetpu::EdgeTpuManager::DeviceEnumerationRecord record_;
    edgetpu::EdgeTpuManager::DeviceOptions options_;
};

class SimManager final : public edgetpu::EdgeTpuManager {
public:
    std::unique_ptr<edgetpu::EdgeTpuContext> NewEdgeTpuContext() override {
        return NewEdgeTpuContext(sc::kSimulatedDeviceType, "", {});
    }
    std::unique_ptr<edgetpu::EdgeTpuContext> NewEdgeTpuContext(edgetpu::DeviceType device_type) override {
        return NewEdgeTpuContext(device_type, "", {});
    }
    std::unique_ptr<edgetpu::EdgeTpuContext> NewEdgeTpuContext(edgetpu::DeviceType device_type,
                                                               const std::string& device_path) override {
        return NewEdgeTpuContext(device_type, device_path, {});
    }
    std::unique_ptr<edgetpu::EdgeTpuContext> NewEdgeTpuContext(edgetpu::DeviceType device_type,
                                                               const std::string& device_path,
                                                               const DeviceOptions& options) override {
        std::lock_guard<std::mutex> lock(open_mutex_);
        std::string path = pick_device(device_type, device_path, options);
        if (path.empty() || busy(path)) return nullptr;
        auto context = std::make_unique<SimContext>(path, options, true);
        exclusive_.insert(path);
        // The exclusive device frees its path when destroyed.
        return std::unique_ptr<edgetpu::EdgeTpuContext>(new ExclusiveContext(std::move(context), this));
    }

    std::vector<DeviceEnumerationRecord> EnumerateEdgeTpu() const override {
        std::vector<DeviceEnumerationRecord> records;
        std::lock_guard<std::mutex> lock(state().mutex);
        for (int i = 0; i < state().num_devices; ++i) {
            std::string path = device_path(i);
            auto it = state().devices.find(path);
            if (it != state().devices.end() && !it->second.unplugged)
                records.push_back({sc::kSimulatedDeviceType, path});
        }
        return records;
    }

    std::shared_ptr<edgetpu::EdgeTpuContext> OpenDevice() override {
        return OpenDevice(sc::kSimulatedDeviceType, "", {});
    }
    std::shared_ptr<edgetpu::EdgeTpuContext> OpenDevice(edgetpu::DeviceType device_type) override {
        return OpenDevice(device_type, "", {});
    }
    std::shared_ptr<edgetpu::EdgeTpuContext> OpenDevice(edgetpu::DeviceType device_type,
                                                        const std::string& device_path) override {
        return OpenDevice(device_type, device_path, {});
    }
    // Like libedgetpu: an already shared-open compatible device is handed back as is.
    std::shared_ptr<edgetpu::EdgeTpuContext> OpenDevice(edgetpu::DeviceType device_type,
                                                        const std::string& device_path,
                                                        const DeviceOptions& options) override {
        if (device_type != sc::kSimulatedDeviceType || !valid_options(options)) return nullptr;
        std::lock_guard<std::mutex> lock(open_mutex_);
        for (auto& [path, weak] : shared_)
            if (auto open = weak.lock(); open && (device_path.empty() || device_path == path)) return open;
        std::string path = pick_device(device_type, device_path, options);
        if (path.empty() || busy(path)) return nullptr;
        std::shared_ptr<edgetpu::EdgeTpuContext> context = std::make_shared<SimContext>(path, options, false);
        shared_[path] = context;
        return context;
    }

    std::vector<std::shared_ptr<edgetpu::EdgeTpuContext>> GetOpenedDevices() const override {
        std::lock_guard<std::mutex> lock(open_mutex_);
        std::vector<std::shared_ptr<edgetpu::EdgeTpuContext>> out;
        for (auto& [path, weak] : shared_)
            if (auto open = weak.lock()) out.push_back(open);
        return out;
    }

    TfLiteStatus SetVerbosity(int verbosity) override {
        return verbosity >= 0 && verbosity <= 10 ? kTfLiteOk : kTfLiteError;
    }
    std::string Version() const override { return kVersion; }

    void release_exclusive(const std::string& path) {
        std::lock_guard<std::mutex> lock(open_mutex_);
        exclusive_.erase(path);
    }

private:
    // Wraps an exclusively owned context so its path is released when the unique_ptr dies.
    class ExclusiveContext final : public edgetpu::EdgeTpuContext {
    public:
        ExclusiveContext(std::unique_ptr<SimContext> inner, SimManager* manager)
            : inner_(std::move(inner)), manager_(manager) {
            type = kTfLiteEdgeTpuContext;
            Refresh = refresh;
            std::lock_guard<std::mutex> lock(state().mutex);
            g_live_contexts.insert(this);
        }
        ~ExclusiveContext() override {
            {
                std::lock_guard<std::mutex> lock(state().mutex);
                g_live_contexts.erase(this);
            }
            manager_->release_exclusive(inner_->GetDeviceEnumRecord().path);
        }
        const edgetpu::EdgeTpuManager::DeviceEnumerationRecord& GetDeviceEnumRecord() const override {
            return inner_->GetDeviceEnumRecord();
        }
        DeviceOptions GetDeviceOptions() const override { return inner_->GetDeviceOptions(); }
        bool IsReady() const override { return inner_->IsReady(); }

    private:
        std::unique_ptr<SimContext> inner_;
        SimManager* manager_;
    };

    // A present, plugged-in device matching the request, or "".
    std::string pick_device(edgetpu::DeviceType device_type, const std::string& device_path,
                            const DeviceOptions& options) const {
        if (device_type != sc::kSimulatedDeviceType || !valid_options(options)) return "";
        for (const auto& record : EnumerateEdgeTpu())
            if (device_path.empty() ? !busy(record.path) : record.path == device_path) return record.path;
        return "";
    }
    bool busy(const std::string& path) const {
        auto it = shared_.find(path);
        if (exclusive_.count(path) || (it != shared_.end() && !it->second.expired())) return true;
        std::lock_guard<std::mutex> lock(state().mutex);
        auto device = state().devices.find(path);
        return device != state().devices.end() && device->second.busy;
    }

    mutable std::mutex open_mutex_;
    std::map<std::string, std::weak_ptr<edgetpu::EdgeTpuContext>> shared_;
    std::set<std::string> exclusive_;
};

}  // namespace

SimState& state() {
    static SimState* s = [] {
        auto* st = new SimState;  // never destroyed: contexts may outlive static destruction
        if (const char* n = std::getenv("STREAMCORE_SIM_DEVICES"); n && *n) st->num_devices = std::atoi(n);
        if (const char* l = std::getenv("STREAMCORE_SIM_LATENCY_MS"); l && *l) st->latency_ms = std::atof(l);
        if (st->num_devices < 0 || st->num_devices > 64) st->num_devices = 1;
        if (!(st->latency_ms >= 0.0 && st->latency_ms <= 10000.0)) st->latency_ms = 2.6;
        reset_devices(*st);
        return st;
    }();
    return *s;
}

std::string device_path(int index) { return "sim:" + std::to_string(index); }

std::string live_context_path(const edgetpu::EdgeTpuContext* context) {
    std::lock_guard<std::mutex> lock(state().mutex);
    if (!g_live_contexts.count(context)) return "";
    return context->GetDeviceEnumRecord().path;
}

}  // namespace sc_sim

namespace edgetpu {

EdgeTpuContext::~EdgeTpuContext() = default;

EdgeTpuManager* EdgeTpuManager::GetSingleton() {
    static sc_sim::SimManager* manager = new sc_sim::SimManager;
    return manager;
}

std::ostream& operator<<(std::ostream& out, DeviceType device_type) {
    switch (static_cast<int>(device_type)) {
        case static_cast<int>(DeviceType::kApexPci): return out << "PCI";
        case static_cast<int>(DeviceType::kApexUsb): return out << "USB";
        case static_cast<int>(sc::kSimulatedDeviceType): return out << "REFERENCE (simulated)";
        default: return out << "UNKNOWN";
    }
}

}  // namespace edgetpu

extern "C" {

// Sets the number of devices and the latency of every invoke; clears faults and counters.
// Returns 0, or -1 for out-of-range values.
SC_EDGETPU_EXPORT int streamcore_sim_configure(int num_devices, double latency_ms) {
    if (num_devices < 0 || num_devices > 64 || !(latency_ms >= 0.0 && latency_ms <= 10000.0)) return -1;
    auto& s = sc_sim::state();
    std::lock_guard<std::mutex> lock(s.mutex);
    s.num_devices = num_devices;
    s.latency_ms = latency_ms;
    sc_sim::reset_devices(s);
    return 0;
}

// fault: "fail_after" (arg more invokes succeed, then each fails), "unplug", "busy" (another process
// holds it: opening fails), "replug" (clears every fault).
// Returns 0, -1 unknown path, -2 unknown fault, -3 bad argument.
SC_EDGETPU_EXPORT int streamcore_sim_fault(const char* path, const char* fault, int arg) {
    auto& s = sc_sim::state();
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.devices.find(path ? path : "");
    if (it == s.devices.end()) return -1;
    std::string name = fault ? fault : "";
    if (name == "fail_after") {
        if (arg < 0) return -3;
        it->second.fail_after = arg;
    } else if (name == "unplug") {
        it->second.unplugged = true;
    } else if (name == "busy") {
        it->second.busy = true;
    } else if (name == "replug") {
        it->second.unplugged = false;
        it->second.busy = false;
        it->second.fail_after = -1;
    } else {
        return -2;
    }
    return 0;
}

// Returns 0 and the device's successful / failed invoke counts, or -1 for an unknown path.
SC_EDGETPU_EXPORT int streamcore_sim_stats(const char* path, long long* invokes, long long* failures) {
    auto& s = sc_sim::state();
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.devices.find(path ? path : "");
    if (it == s.devices.end()) return -1;
    if (invokes) *invokes = it->second.invokes;
    if (failures) *failures = it->second.failures;
    return 0;
}

}  // extern "C"
