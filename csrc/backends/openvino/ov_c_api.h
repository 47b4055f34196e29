// The subset of OpenVINO's C API (openvino/c/*.h) that streamcore uses, declared here so the
// build needs no OpenVINO headers or libraries: libopenvino_c.so is dlopen'ed at run time.
//
// Read from the headers shipped in the `openvino` 2026.4.1 wheel
// (site-packages/openvino/include/openvino/c/: ov_common.h, ov_core.h, ov_shape.h,
// ov_dimension.h, ov_rank.h, ov_partial_shape.h, ov_tensor.h, ov_node.h, ov_model.h,
// ov_compiled_model.h, ov_infer_request.h, ov_property.h), build 2026.4.1-22982-e213a147257.
// The enum values and struct layouts below must match that version; OpenVinoRuntime refuses
// other major versions (see runtime.cpp, kTestedMajor).
#pragma once
#include <cstddef>
#include <cstdint>

namespace sc {
namespace ovc {

extern "C" {

// Opaque handles.
struct ov_core;
struct ov_model;
struct ov_compiled_model;
struct ov_infer_request;
struct ov_tensor;
struct ov_output_const_port;
typedef struct ov_core ov_core_t;
typedef struct ov_model ov_model_t;
typedef struct ov_compiled_model ov_compiled_model_t;
typedef struct ov_infer_request ov_infer_request_t;
typedef struct ov_tensor ov_tensor_t;
typedef struct ov_output_const_port ov_output_const_port_t;

// ov_common.h: ov_status_e (0 is OK; failures are negative).
typedef enum {
    OK = 0,
    GENERAL_ERROR = -1,
    NOT_IMPLEMENTED = -2,
    NETWORK_NOT_LOADED = -3,
    PARAMETER_MISMATCH = -4,
    NOT_FOUND = -5,
    OUT_OF_BOUNDS = -6,
    UNEXPECTED = -7,
    REQUEST_BUSY = -8,
    RESULT_NOT_READY = -9,
    NOT_ALLOCATED = -10,
    INFER_NOT_STARTED = -11,
    NETWORK_NOT_READ = -12,
    INFER_CANCELLED = -13,
    INVALID_C_PARAM = -14,
    UNKNOWN_C_ERROR = -15,
    NOT_IMPLEMENT_C_METHOD = -16,
    UNKNOW_EXCEPTION = -17,
} ov_status_e;

// ov_common.h: ov_element_type_e (declaration order is the value).
typedef enum {
    OV_DYNAMIC = 0U,
    OV_BOOLEAN,   // 1
    OV_BF16,      // 2
    OV_F16,       // 3
    OV_F32,       // 4
    OV_F64,       // 5
    OV_I4,        // 6
    OV_I8,        // 7
    OV_I16,       // 8
    OV_I32,       // 9
    OV_I64,       // 10
    OV_U1,        // 11
    OV_U2,        // 12
    OV_U3,        // 13
    OV_U4,        // 14
    OV_U6,        // 15
    OV_U8,        // 16
    OV_U16,       // 17
    OV_U32,       // 18
    OV_U64,       // 19
    OV_NF4,       // 20
    OV_F8E4M3,    // 21
    OV_F8E5M3,    // 22
    OV_STRING,    // 23
    OV_F4E2M1,    // 24
    OV_F8E8M0,    // 25
} ov_element_type_e;

// ov_shape.h
typedef struct {
    int64_t rank;
    int64_t* dims;
} ov_shape_t;

// ov_dimension.h / ov_rank.h
typedef struct ov_dimension {
    int64_t min;
    int64_t max;
} ov_dimension_t;
typedef ov_dimension_t ov_rank_t;

// ov_partial_shape.h
typedef struct ov_partial_shape {
    ov_rank_t rank;
    ov_dimension_t* dims;
} ov_partial_shape_t;

// ov_core.h
typedef struct ov_version {
    const char* buildNumber;
    const char* description;
} ov_version_t;

typedef struct {
    char** devices;
    size_t size;
} ov_available_devices_t;

// Function pointer types (one per symbol resolved).
typedef ov_status_e (*ov_get_openvino_version_fn)(ov_version_t*);
typedef void (*ov_version_free_fn)(ov_version_t*);
typedef const char* (*ov_get_last_err_msg_fn)();
typedef const char* (*ov_get_error_info_fn)(ov_status_e);
typedef void (*ov_free_fn)(const char*);

typedef ov_status_e (*ov_core_create_fn)(ov_core_t**);
typedef void (*ov_core_free_fn)(ov_core_t*);
typedef ov_status_e (*ov_core_get_available_devices_fn)(const ov_core_t*, ov_available_devices_t*);
typedef void (*ov_available_devices_free_fn)(ov_available_devices_t*);
typedef ov_status_e (*ov_core_get_property_fn)(const ov_core_t*, const char* device_name, const char* key,
                                               char** value);
typedef ov_status_e (*ov_core_read_model_fn)(const ov_core_t*, const char* model_path, const char* bin_path,
                                             ov_model_t** model);
typedef ov_status_e (*ov_core_read_model_from_memory_buffer_fn)(const ov_core_t*, const char* model_str,
                                                                 const size_t str_len, const ov_tensor_t* weights,
                                                                 ov_model_t** model);
// Variadic: property_args_size key/value C strings follow (key, value, key, value, ...),
// property_args_size counting both (2 per property).
typedef ov_status_e (*ov_core_compile_model_fn)(const ov_core_t*, const ov_model_t*, const char* device_name,
                                                const size_t property_args_size, ov_compiled_model_t**, ...);
typedef void (*ov_model_free_fn)(ov_model_t*);

typedef ov_status_e (*ov_compiled_model_inputs_size_fn)(const ov_compiled_model_t*, size_t*);
typedef ov_status_e (*ov_compiled_model_outputs_size_fn)(const ov_compiled_model_t*, size_t*);
typedef ov_status_e (*ov_compiled_model_input_by_index_fn)(const ov_compiled_model_t*, const size_t,
                                                           ov_output_const_port_t**);
typedef ov_status_e (*ov_compiled_model_output_by_index_fn)(const ov_compiled_model_t*, const size_t,
                                                            ov_output_const_port_t**);
typedef ov_status_e (*ov_compiled_model_create_infer_request_fn)(const ov_compiled_model_t*, ov_infer_request_t**);
typedef ov_status_e (*ov_compiled_model_get_property_fn)(const ov_compiled_model_t*, const char* key, char** value);
typedef void (*ov_compiled_model_free_fn)(ov_compiled_model_t*);

typedef ov_status_e (*ov_port_get_any_name_fn)(const ov_output_const_port_t*, char** name);
typedef ov_status_e (*ov_port_get_partial_shape_fn)(const ov_output_const_port_t*, ov_partial_shape_t*);
typedef ov_status_e (*ov_port_get_element_type_fn)(const ov_output_const_port_t*, ov_element_type_e*);
typedef void (*ov_output_const_port_free_fn)(ov_output_const_port_t*);
typedef void (*ov_partial_shape_free_fn)(ov_partial_shape_t*);
typedef ov_status_e (*ov_shape_free_fn)(ov_shape_t*);

typedef ov_status_e (*ov_tensor_create_from_host_ptr_fn)(const ov_element_type_e, const ov_shape_t, void* host_ptr,
                                                         ov_tensor_t**);
typedef ov_status_e (*ov_tensor_data_fn)(const ov_tensor_t*, void** data);
typedef ov_status_e (*ov_tensor_get_byte_size_fn)(const ov_tensor_t*, size_t*);
typedef void (*ov_tensor_free_fn)(ov_tensor_t*);

typedef ov_status_e (*ov_infer_request_set_input_tensor_by_index_fn)(ov_infer_request_t*, const size_t,
                                                                     const ov_tensor_t*);
typedef ov_status_e (*ov_infer_request_set_output_tensor_by_index_fn)(ov_infer_request_t*, const size_t,
                                                                      const ov_tensor_t*);
typedef ov_status_e (*ov_infer_request_get_output_tensor_by_index_fn)(const ov_infer_request_t*, const size_t,
                                                                      ov_tensor_t**);
typedef ov_status_e (*ov_infer_request_infer_fn)(ov_infer_request_t*);
typedef void (*ov_infer_request_free_fn)(ov_infer_request_t*);

}  // extern "C"

// Property keys (ov_property.h exports them as const char* variables; these are their values).
constexpr const char* kPropInferenceNumThreads = "INFERENCE_NUM_THREADS";
constexpr const char* kPropNumStreams = "NUM_STREAMS";
constexpr const char* kPropFullDeviceName = "FULL_DEVICE_NAME";

}  // namespace ovc
}  // namespace sc
