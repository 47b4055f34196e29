// Our own ABI-exact declarations of the TensorFlow Lite 2.14 C structs that custom ops
// and external contexts (libedgetpu) exchange with the interpreter. Only what we touch is
// declared; field order and types follow tensorflow/lite/core/c/common.h of TF 2.14.
// The names stay global (as in TFLite) so C++ symbols that mention them mangle the same.
#pragma once
#include <cstddef>
#include <cstdint>

extern "C" {

typedef enum TfLiteStatus {
    kTfLiteOk = 0,
    kTfLiteError = 1,
    kTfLiteDelegateError = 2,
    kTfLiteApplicationError = 3,
    kTfLiteDelegateDataNotFound = 4,
    kTfLiteDelegateDataWriteError = 5,
    kTfLiteDelegateDataReadError = 6,
    kTfLiteUnresolvedOps = 7,
    kTfLiteCancelled = 8,
} TfLiteStatus;

typedef enum TfLiteType {
    kTfLiteNoType = 0,
    kTfLiteFloat32 = 1,
    kTfLiteInt32 = 2,
    kTfLiteUInt8 = 3,
    kTfLiteInt64 = 4,
    kTfLiteString = 5,
    kTfLiteBool = 6,
    kTfLiteInt16 = 7,
    kTfLiteComplex64 = 8,
    kTfLiteInt8 = 9,
    kTfLiteFloat16 = 10,
    kTfLiteFloat64 = 11,
    kTfLiteComplex128 = 12,
    kTfLiteUInt64 = 13,
    kTfLiteResource = 14,
    kTfLiteVariant = 15,
    kTfLiteUInt32 = 16,
    kTfLiteUInt16 = 17,
    kTfLiteInt4 = 18,
} TfLiteType;

typedef enum TfLiteExternalContextType {
    kTfLiteEigenContext = 0,
    kTfLiteGemmLowpContext = 1,
    kTfLiteEdgeTpuContext = 2,
    kTfLiteCpuBackendContext = 3,
    kTfLiteMaxExternalContexts = 4,
} TfLiteExternalContextType;

struct TfLiteContext;
struct TfLiteDelegate;
struct TfLiteRegistrationExternal;
struct TfLiteAsyncKernel;

typedef struct TfLiteExternalContext {
    TfLiteExternalContextType type;
    TfLiteStatus (*Refresh)(struct TfLiteContext* context);
} TfLiteExternalContext;

typedef struct TfLiteIntArray {
    int size;
    int data[];
} TfLiteIntArray;

typedef struct TfLiteQuantizationParams {
    float scale;
    int32_t zero_point;
} TfLiteQuantizationParams;

typedef struct TfLiteQuantization {
    int type;  // TfLiteQuantizationType
    void* params;
} TfLiteQuantization;

typedef struct TfLiteTensor {
    TfLiteType type;
    void* data;  // TfLitePtrUnion: a union of pointers, so one pointer here
    TfLiteIntArray* dims;
    TfLiteQuantizationParams params;
    int allocation_type;  // TfLiteAllocationType
    size_t bytes;
    const void* allocation;
    const char* name;
    struct TfLiteDelegate* delegate;
    int buffer_handle;
    bool data_is_stale;
    bool is_variable;
    TfLiteQuantization quantization;
    void* sparsity;  // TfLiteSparsity*
    const TfLiteIntArray* dims_signature;
} TfLiteTensor;

typedef struct TfLiteNode {
    TfLiteIntArray* inputs;
    TfLiteIntArray* outputs;
    TfLiteIntArray* intermediates;
    TfLiteIntArray* temporaries;
    void* user_data;
    void* builtin_data;
    const void* custom_initial_data;
    int custom_initial_data_size;
    struct TfLiteDelegate* delegate;
    bool might_have_side_effect;
} TfLiteNode;

struct TfLiteRegistration;

// Prefix of TfLiteContext up to the members we use (the interpreter owns the struct).
typedef struct TfLiteContext {
    size_t tensors_size;
    TfLiteStatus (*GetExecutionPlan)(struct TfLiteContext* context, TfLiteIntArray** execution_plan);
    TfLiteTensor* tensors;
    void* impl_;
    TfLiteStatus (*ResizeTensor)(struct TfLiteContext*, TfLiteTensor* tensor, TfLiteIntArray* new_size);
    void (*ReportError)(struct TfLiteContext*, const char* msg, ...);
    TfLiteStatus (*AddTensors)(struct TfLiteContext*, int tensors_to_add, int* first_new_tensor_index);
    TfLiteStatus (*GetNodeAndRegistration)(struct TfLiteContext*, int node_index, TfLiteNode** node,
                                           struct TfLiteRegistration** registration);
    void* ReplaceNodeSubsetsWithDelegateKernels;  // takes TfLiteRegistration by value; never called
    int recommended_num_threads;
    TfLiteExternalContext* (*GetExternalContext)(struct TfLiteContext*, TfLiteExternalContextType);
    void (*SetExternalContext)(struct TfLiteContext*, TfLiteExternalContextType, TfLiteExternalContext*);
} TfLiteContext;

typedef struct TfLiteRegistration {
    void* (*init)(TfLiteContext* context, const char* buffer, size_t length);
    void (*free)(TfLiteContext* context, void* buffer);
    TfLiteStatus (*prepare)(TfLiteContext* context, TfLiteNode* node);
    TfLiteStatus (*invoke)(TfLiteContext* context, TfLiteNode* node);
    const char* (*profiling_string)(const TfLiteContext* context, const TfLiteNode* node);
    int32_t builtin_code;
    const char* custom_name;
    int version;
    struct TfLiteRegistrationExternal* registration_external;
    struct TfLiteAsyncKernel* (*async_kernel)(TfLiteContext* context, TfLiteNode* node);
    uint64_t inplace_operator;
} TfLiteRegistration;

}  // extern "C"

#if defined(__x86_64__) || defined(__aarch64__)
// LP64 layouts. The TfLiteRegistration ones were checked against the disassembly of
// tflite_runtime 2.14's MutableOpResolver::AddCustom, which copies fields up to 0x50.
static_assert(sizeof(TfLiteExternalContext) == 16, "TfLiteExternalContext layout");
static_assert(sizeof(TfLiteTensor) == 112, "TfLiteTensor layout (TF 2.14)");
static_assert(offsetof(TfLiteTensor, bytes) == 40, "TfLiteTensor::bytes offset");
static_assert(offsetof(TfLiteTensor, quantization) == 80, "TfLiteTensor::quantization offset");
static_assert(sizeof(TfLiteNode) == 80, "TfLiteNode layout");
static_assert(offsetof(TfLiteContext, ReportError) == 40, "TfLiteContext::ReportError offset");
static_assert(offsetof(TfLiteContext, GetExternalContext) == 80, "TfLiteContext::GetExternalContext offset");
static_assert(offsetof(TfLiteRegistration, custom_name) == 48, "TfLiteRegistration::custom_name offset");
static_assert(offsetof(TfLiteRegistration, version) == 56, "TfLiteRegistration::version offset");
static_assert(offsetof(TfLiteRegistration, registration_external) == 64, "TF 2.14 registration_external");
static_assert(offsetof(TfLiteRegistration, inplace_operator) == 80, "TF 2.14 inplace_operator");
static_assert(sizeof(TfLiteRegistration) == 88, "TfLiteRegistration layout (TF 2.14)");
#endif
