#include "backends/openvino/runtime.h"

#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "common/errors.h"

namespace sc {

namespace {

const char* kInstallHint = "pip install 'streamcore[openvino]'";

bool is_dir(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// libopenvino_c.so, or the longest libopenvino_c.so.* (the wheel ships only libopenvino_c.so.NNNN).
std::string find_library(const std::string& dir) {
    DIR* d = opendir(dir.c_str());
    if (!d) return {};
    std::string best;
    while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n.rfind("libopenvino_c.so", 0) != 0) continue;
        if (best.empty() || n == "libopenvino_c.so" || (best != "libopenvino_c.so" && n > best)) best = n;
    }
    closedir(d);
    return best.empty() ? std::string() : dir + "/" + best;
}

int parse_major(const std::string& v) { return std::atoi(v.c_str()); }

std::map<std::string, std::shared_ptr<OpenVinoRuntime>>& registry() {
    static std::map<std::string, std::shared_ptr<OpenVinoRuntime>> r;
    return r;
}
std::mutex& registry_mutex() {
    static std::mutex m;
    return m;
}

}  // namespace

std::shared_ptr<OpenVinoRuntime> OpenVinoRuntime::load(const std::string& library_path) {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = registry().find(library_path);
    if (it != registry().end()) return it->second;

    std::string path = library_path;
    if (is_dir(path)) {
        std::string found = find_library(path);
        if (found.empty())
            throw Error("BackendUnavailableError",
                        "no libopenvino_c.so in " + path + "; install OpenVINO with " + kInstallHint);
        path = found;
    }
    // RTLD_LOCAL: OpenVINO's symbols stay out of the global namespace (the Python openvino
    // package may load the same libraries; the loader shares them by soname anyway).
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char* e = dlerror();
        throw Error("BackendUnavailableError", "cannot load OpenVINO's C library " + path + " (" +
                                                   (e ? e : "?") + "); install it with " + kInstallHint);
    }
    std::shared_ptr<OpenVinoRuntime> rt(new OpenVinoRuntime());
    rt->handle_ = h;
    rt->path_ = path;
    OpenVinoApi& a = rt->api_;
#define SC_OV_RESOLVE(name)                                                                           \
    a.name = reinterpret_cast<ovc::name##_fn>(dlsym(h, #name));                                        \
    if (!a.name)                                                                                       \
        throw Error("BackendUnavailableError", std::string("OpenVINO's C library ") + path +             \
                                                   " lacks " #name "; install a supported OpenVINO with " + \
                                                   kInstallHint);
    SC_OV_RESOLVE(ov_get_openvino_version)
    SC_OV_RESOLVE(ov_version_free)
    SC_OV_RESOLVE(ov_get_last_err_msg)
    SC_OV_RESOLVE(ov_get_error_info)
    SC_OV_RESOLVE(ov_free)
    SC_OV_RESOLVE(ov_core_create)
    SC_OV_RESOLVE(ov_core_free)
    SC_OV_RESOLVE(ov_core_get_available_devices)
    SC_OV_RESOLVE(ov_available_devices_free)
    SC_OV_RESOLVE(ov_core_get_property)
    SC_OV_RESOLVE(ov_core_read_model)
    SC_OV_RESOLVE(ov_core_read_model_from_memory_buffer)
    SC_OV_RESOLVE(ov_core_compile_model)
    SC_OV_RESOLVE(ov_model_free)
    SC_OV_RESOLVE(ov_compiled_model_inputs_size)
    SC_OV_RESOLVE(ov_compiled_model_outputs_size)
    SC_OV_RESOLVE(ov_compiled_model_input_by_index)
    SC_OV_RESOLVE(ov_compiled_model_output_by_index)
    SC_OV_RESOLVE(ov_compiled_model_create_infer_request)
    SC_OV_RESOLVE(ov_compiled_model_get_property)
    SC_OV_RESOLVE(ov_compiled_model_free)
    SC_OV_RESOLVE(ov_port_get_any_name)
    SC_OV_RESOLVE(ov_port_get_partial_shape)
    SC_OV_RESOLVE(ov_port_get_element_type)
    SC_OV_RESOLVE(ov_output_const_port_free)
    SC_OV_RESOLVE(ov_partial_shape_free)
    SC_OV_RESOLVE(ov_shape_free)
    SC_OV_RESOLVE(ov_tensor_create_from_host_ptr)
    SC_OV_RESOLVE(ov_tensor_data)
    SC_OV_RESOLVE(ov_tensor_get_byte_size)
    SC_OV_RESOLVE(ov_tensor_free)
    SC_OV_RESOLVE(ov_infer_request_set_input_tensor_by_index)
    SC_OV_RESOLVE(ov_infer_request_set_output_tensor_by_index)
    SC_OV_RESOLVE(ov_infer_request_get_output_tensor_by_index)
    SC_OV_RESOLVE(ov_infer_request_infer)
    SC_OV_RESOLVE(ov_infer_request_free)
#undef SC_OV_RESOLVE

    // Version before anything else: struct layouts and enum values are only known for 2026.x.
    ovc::ov_version_t v{nullptr, nullptr};
    if (a.ov_get_openvino_version(&v) != ovc::OK || !v.buildNumber)
        throw Error("BackendVersionError", "OpenVINO at " + path + " does not report its version");
    rt->version_ = v.buildNumber;
    a.ov_version_free(&v);
    const int major = parse_major(rt->version_);
    if (major != kTestedMajor)
        throw Error("BackendVersionError",
                    "OpenVINO " + rt->version_ + " at " + path + " is outside the tested range " +
                        std::to_string(kTestedMajor) + ".x (tested with 2026.4.1); install it with " + kInstallHint);

    ovc::ov_status_e st = a.ov_core_create(&rt->core_);
    if (st != ovc::OK || !rt->core_)
        throw Error("BackendUnavailableError", "ov_core_create failed: " + rt->last_error(st));
    registry()[library_path] = rt;
    return rt;
}

OpenVinoRuntime::~OpenVinoRuntime() {
    if (core_) api_.ov_core_free(core_);
    // No dlclose: OpenVINO's plugins keep threads and static state.
}

std::string OpenVinoRuntime::last_error(int status) const {
    std::string msg;
    if (api_.ov_get_last_err_msg) {
        const char* m = api_.ov_get_last_err_msg();
        if (m && *m) msg = m;
    }
    if (msg.empty() && api_.ov_get_error_info) {
        const char* m = api_.ov_get_error_info(static_cast<ovc::ov_status_e>(status));
        if (m) msg = m;
    }
    if (msg.empty()) msg = "status " + std::to_string(status);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return msg;
}

void OpenVinoRuntime::check(int status, const char* cls, const std::string& what) const {
    if (status != ovc::OK) throw Error(cls, what + ": " + last_error(status));
}

std::vector<std::string> OpenVinoRuntime::available_devices() const {
    ovc::ov_available_devices_t d{nullptr, 0};
    std::lock_guard<std::mutex> lock(core_mutex_);
    check(api_.ov_core_get_available_devices(core_, &d), "DeviceError", "listing OpenVINO devices");
    std::vector<std::string> out;
    for (size_t i = 0; i < d.size; ++i) out.emplace_back(d.devices[i]);
    api_.ov_available_devices_free(&d);
    return out;
}

std::string OpenVinoRuntime::full_device_name(const std::string& device) const {
    char* value = nullptr;
    std::lock_guard<std::mutex> lock(core_mutex_);
    if (api_.ov_core_get_property(core_, device.c_str(), ovc::kPropFullDeviceName, &value) != ovc::OK || !value)
        return device;
    std::string s = value;
    api_.ov_free(value);
    return s;
}

std::vector<OpenVinoDeviceInfo> OpenVinoRuntime::devices() const {
    std::vector<OpenVinoDeviceInfo> out;
    for (const std::string& n : available_devices()) out.push_back({n, full_device_name(n)});
    return out;
}

}  // namespace sc
