// OpenVINO's C API loaded at run time (dlopen of libopenvino_c.so from the `openvino` wheel),
// with one shared ov_core_t. Nothing here needs OpenVINO at build time.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/openvino/ov_c_api.h"

namespace sc {

// Every C API function the backend calls.
struct OpenVinoApi {
#define SC_OV_FN(name) ovc::name##_fn name = nullptr;
    SC_OV_FN(ov_get_openvino_version)
    SC_OV_FN(ov_version_free)
    SC_OV_FN(ov_get_last_err_msg)
    SC_OV_FN(ov_get_error_info)
    SC_OV_FN(ov_free)
    SC_OV_FN(ov_core_create)
    SC_OV_FN(ov_core_free)
    SC_OV_FN(ov_core_get_available_devices)
    SC_OV_FN(ov_available_devices_free)
    SC_OV_FN(ov_core_get_property)
    SC_OV_FN(ov_core_read_model)
    SC_OV_FN(ov_core_read_model_from_memory_buffer)
    SC_OV_FN(ov_core_compile_model)
    SC_OV_FN(ov_model_free)
    SC_OV_FN(ov_compiled_model_inputs_size)
    SC_OV_FN(ov_compiled_model_outputs_size)
    SC_OV_FN(ov_compiled_model_input_by_index)
    SC_OV_FN(ov_compiled_model_output_by_index)
    SC_OV_FN(ov_compiled_model_create_infer_request)
    SC_OV_FN(ov_compiled_model_get_property)
    SC_OV_FN(ov_compiled_model_free)
    SC_OV_FN(ov_port_get_any_name)
    SC_OV_FN(ov_port_get_partial_shape)
    SC_OV_FN(ov_port_get_element_type)
    SC_OV_FN(ov_output_const_port_free)
    SC_OV_FN(ov_partial_shape_free)
    SC_OV_FN(ov_shape_free)
    SC_OV_FN(ov_tensor_create_from_host_ptr)
    SC_OV_FN(ov_tensor_data)
    SC_OV_FN(ov_tensor_get_byte_size)
    SC_OV_FN(ov_tensor_free)
    SC_OV_FN(ov_infer_request_set_input_tensor_by_index)
    SC_OV_FN(ov_infer_request_set_output_tensor_by_index)
    SC_OV_FN(ov_infer_request_get_output_tensor_by_index)
    SC_OV_FN(ov_infer_request_infer)
    SC_OV_FN(ov_infer_request_free)
#undef SC_OV_FN
};

struct OpenVinoDeviceInfo {
    std::string name;       // CPU, GPU, GPU.1, NPU
    std::string full_name;  // FULL_DEVICE_NAME, e.g. "Intel(R) Core(TM) i7 ..."
};

class OpenVinoRuntime {
public:
    // Tested range: 2026.x (major == kTestedMajor).
    static constexpr int kTestedMajor = 2026;

    // dlopen's `library_path`: libopenvino_c.so[.N] itself, or the wheel's openvino/libs/
    // directory (the newest libopenvino_c.so* in it). Throws sc::Error
    // BackendUnavailableError (library or symbol missing) or BackendVersionError.
    // Loading the same path twice returns the same runtime.
    static std::shared_ptr<OpenVinoRuntime> load(const std::string& library_path);

    ~OpenVinoRuntime();
    OpenVinoRuntime(const OpenVinoRuntime&) = delete;
    OpenVinoRuntime& operator=(const OpenVinoRuntime&) = delete;

    const OpenVinoApi& api() const { return api_; }
    ovc::ov_core_t* core() const { return core_; }
    const std::string& version() const { return version_; }  // build number, e.g. 2026.4.1-22982-...
    const std::string& library_path() const { return path_; }

    std::vector<std::string> available_devices() const;
    std::vector<OpenVinoDeviceInfo> devices() const;  // with full names
    std::string full_device_name(const std::string& device) const;

    // Throws sc::Error(cls, what + ": " + OpenVINO's last error message) unless status is OK.
    void check(int status, const char* cls, const std::string& what) const;
    std::string last_error(int status) const;

    // Compile calls on one core are serialised (the C API core is shared by devices).
    std::mutex& core_mutex() const { return core_mutex_; }

private:
    OpenVinoRuntime() = default;
    void* handle_ = nullptr;
    ovc::ov_core_t* core_ = nullptr;
    OpenVinoApi api_;
    std::string version_;
    std::string path_;
    mutable std::mutex core_mutex_;
};

}  // namespace sc
