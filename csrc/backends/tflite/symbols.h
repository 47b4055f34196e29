// The TFLite C++ API that tflite_runtime's extension exports, resolved at run time.
// Member functions are called through their mangled symbols with `this` first (Itanium ABI).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace sc {

using TfLiteStatusInt = int;  // TfLiteStatus: 0 == kTfLiteOk

// Prefix of TfLiteXNNPackDelegateOptions (2.14); the reserve absorbs fields we don't set.
// Returned by value, so it must stay larger than 16 bytes (memory return on x86_64 and aarch64).
struct XnnpackOptions {
    int32_t num_threads;
    uint32_t flags;
    void* weights_cache;
    bool handle_variable_ops;
    unsigned char reserved[64];
};
constexpr uint32_t kXnnpackFlagQS8 = 0x1;
constexpr uint32_t kXnnpackFlagQU8 = 0x2;

// Stands in for std::unique_ptr<FlatBufferModel> in a by-value return: a non-trivial
// destructor makes the compiler use the same hidden return slot on every ABI.
struct ReturnedModel {
    void* model = nullptr;
    ~ReturnedModel() {}
};

struct TfLiteApi {
    // tflite::impl::Interpreter
    TfLiteStatusInt (*invoke)(void* interpreter) = nullptr;
    TfLiteStatusInt (*allocate_tensors)(void* interpreter) = nullptr;
    void (*set_num_threads)(void* interpreter, int num_threads) = nullptr;
    TfLiteStatusInt (*modify_graph_with_delegate)(void* interpreter, void* delegate) = nullptr;
    void (*set_external_context)(void* interpreter, int type, void* context) = nullptr;
    // tflite::MutableOpResolver::AddCustom(const char*, const TfLiteRegistration*, int version)
    void (*add_custom)(void* resolver, const char* name, const void* registration, int version) = nullptr;
    // XNNPACK delegate (C API)
    void* (*xnnpack_create)(const XnnpackOptions* options) = nullptr;
    void (*xnnpack_delete)(void* delegate) = nullptr;
    XnnpackOptions (*xnnpack_options_default)() = nullptr;
    uint32_t (*xnnpack_get_flags)(void* delegate) = nullptr;
    // tflite::impl::FlatBufferModel::VerifyAndBuildFromBuffer
    ReturnedModel (*verify_and_build_from_buffer)(const char* data, std::size_t size, void* verifier,
                                                  void* error_reporter) = nullptr;
    void (*flatbuffer_model_destroy)(void* model) = nullptr;  // complete-object destructor
    std::string library_path;
};

// Resolves every symbol from the already-loaded tflite_runtime extension at `path`.
// Throws sc::Error (ModelError) naming the missing symbol. Idempotent.
const TfLiteApi& load_tflite_api(const std::string& path);
// The loaded API; throws if load_tflite_api has not succeeded.
const TfLiteApi& tflite_api();

}  // namespace sc
