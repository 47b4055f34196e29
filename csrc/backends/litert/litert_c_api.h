// Hand-written declarations of the subset of the LiteRT C API that streamcore's
// LiteRT backend uses. streamcore never includes LiteRT headers and never links
// against libLiteRt.so: the library is dlopen()ed at run time and every function
// below is resolved with dlsym() into a LiteRtApi table (runtime.cpp).
//
// Source read: github.com/google-ai-edge/LiteRT, main at commit
//   f67457790c9c2ab67347d6fe53270e8d3df20868 (2026-08-21), which is after
//   19a1585ff "Bump LiteRT SDK versions to 2.3.0" (the 2.3.0 wheel has no tag in
//   the repository; the next release tag present is v2.2.0). Files:
//   litert/c/litert_common.h, litert_layout.h, litert_model_types.h,
//   litert_model.h, litert_environment.h, litert_options.h,
//   litert_opaque_options.h, litert_compiled_model.h, litert_tensor_buffer.h,
//   litert_tensor_buffer_types.h, litert_tensor_buffer_requirements.h,
//   options/litert_cpu_options.cc (the "xnnpack" TOML payload).
// Every symbol was checked against `nm -D` of ai_edge_litert 2.3.0's libLiteRt.so.
// The struct layouts used (LiteRtLayout, LiteRtRankedTensorType,
// LiteRtQuantizationPerTensor) are marked "ABI stable" upstream; their sizes are
// static_assert-ed below exactly as upstream does. These layouts were identical
// in v2.2.0 (checked with git diff).
#pragma once
#include <cstddef>
#include <cstdint>

extern "C" {

// ---- opaque handles (litert_common.h: LITERT_DEFINE_HANDLE) ----
typedef struct LiteRtEnvironmentT* LiteRtEnvironment;
typedef struct LiteRtModelT* LiteRtModel;
typedef struct LiteRtSignatureT* LiteRtSignature;
typedef struct LiteRtTensorT* LiteRtTensor;
typedef struct LiteRtOptionsT* LiteRtOptions;
typedef struct LiteRtOpaqueOptionsT* LiteRtOpaqueOptions;
typedef struct LiteRtCompiledModelT* LiteRtCompiledModel;
typedef struct LiteRtTensorBufferT* LiteRtTensorBuffer;
typedef struct LiteRtTensorBufferRequirementsT* LiteRtTensorBufferRequirements;
typedef struct LiteRtEnvOptionOpaque LiteRtEnvOption;  // only passed as nullptr

typedef size_t LiteRtParamIndex;        // litert_common.h
typedef int LiteRtHwAcceleratorSet;     // litert_common.h

// ---- litert_common.h ----
typedef enum {
  kLiteRtStatusOk = 0,
  kLiteRtStatusErrorInvalidArgument = 1,
  kLiteRtStatusErrorMemoryAllocationFailure = 2,
  kLiteRtStatusErrorRuntimeFailure = 3,
  kLiteRtStatusErrorMissingInputTensor = 4,
  kLiteRtStatusErrorUnsupported = 5,
  kLiteRtStatusErrorNotFound = 6,
  kLiteRtStatusErrorTimeoutExpired = 7,
  kLiteRtStatusErrorWrongVersion = 8,
  kLiteRtStatusErrorUnknown = 9,
  kLiteRtStatusErrorAlreadyExists = 10,
  kLiteRtStatusCancelled = 100,
  kLiteRtStatusErrorFileIO = 500,
  kLiteRtStatusErrorInvalidFlatbuffer = 501,
  kLiteRtStatusErrorDynamicLoading = 502,
  kLiteRtStatusErrorSerialization = 503,
  kLiteRtStatusErrorCompilation = 504,
  kLiteRtStatusErrorIndexOOB = 1000,
  kLiteRtStatusErrorInvalidIrType = 1001,
  kLiteRtStatusErrorInvalidGraphInvariant = 1002,
  kLiteRtStatusErrorGraphModification = 1003,
  kLiteRtStatusErrorUnsupportedRuntimeVersion = 4000,
  kLiteRtStatusErrorUnsupportedCompilerVersion = 4001,
  kLiteRtStatusErrorIncompatibleByteCodeVersion = 4002,
  kLiteRtStatusErrorUnsupportedOpShapeInferer = 5000,
  kLiteRtStatusErrorShapeInferenceFailed = 5001,
} LiteRtStatus;

typedef enum {
  kLiteRtHwAcceleratorNone = 0,
  kLiteRtHwAcceleratorCpu = 1 << 0,
  kLiteRtHwAcceleratorGpu = 1 << 1,
  kLiteRtHwAcceleratorNpu = 1 << 2,
} LiteRtHwAccelerators;

typedef enum {
  kLiteRtTensorBufferLockModeRead = 0,
  kLiteRtTensorBufferLockModeWrite = 1,
  kLiteRtTensorBufferLockModeReadWrite = 2,
} LiteRtTensorBufferLockMode;

// ---- litert_layout.h ----
#define SC_LITERT_TENSOR_MAX_RANK 8
typedef struct {
  unsigned int rank : 7;
  unsigned int has_strides : 1;
  int32_t dimensions[SC_LITERT_TENSOR_MAX_RANK];  // < 0: dynamic
  uint32_t strides[SC_LITERT_TENSOR_MAX_RANK];
} LiteRtLayout;
static_assert(sizeof(LiteRtLayout) == 68, "LiteRtLayout size mismatch");
static_assert(offsetof(LiteRtLayout, dimensions) == 4, "LiteRtLayout dimensions offset");
static_assert(offsetof(LiteRtLayout, strides) == 36, "LiteRtLayout strides offset");

// ---- litert_model_types.h ----
typedef enum {
  kLiteRtElementTypeNone = 0,
  kLiteRtElementTypeBool = 6,
  kLiteRtElementTypeInt2 = 20,
  kLiteRtElementTypeInt4 = 18,
  kLiteRtElementTypeInt8 = 9,
  kLiteRtElementTypeInt16 = 7,
  kLiteRtElementTypeInt32 = 2,
  kLiteRtElementTypeInt64 = 4,
  kLiteRtElementTypeUInt4 = 21,
  kLiteRtElementTypeUInt8 = 3,
  kLiteRtElementTypeUInt16 = 17,
  kLiteRtElementTypeUInt32 = 16,
  kLiteRtElementTypeUInt64 = 13,
  kLiteRtElementTypeFloat8E4M3FN = 22,
  kLiteRtElementTypeFloat8E5M2 = 23,
  kLiteRtElementTypeFloat16 = 10,
  kLiteRtElementTypeBFloat16 = 19,
  kLiteRtElementTypeFloat32 = 1,
  kLiteRtElementTypeFloat64 = 11,
  kLiteRtElementTypeComplex64 = 8,
  kLiteRtElementTypeComplex128 = 12,
  kLiteRtElementTypeTfResource = 14,
  kLiteRtElementTypeTfString = 5,
  kLiteRtElementTypeTfVariant = 15,
} LiteRtElementType;

typedef struct {
  LiteRtElementType element_type;
  LiteRtLayout layout;
} LiteRtRankedTensorType;
static_assert(sizeof(LiteRtRankedTensorType) == 72, "LiteRtRankedTensorType size mismatch");
static_assert(offsetof(LiteRtRankedTensorType, layout) == 4, "LiteRtRankedTensorType layout offset");

typedef enum {
  kLiteRtRankedTensorType = 0,
  kLiteRtUnrankedTensorType = 1,
} LiteRtTensorTypeId;

typedef struct {
  float scale;
  int64_t zero_point;
} LiteRtQuantizationPerTensor;
static_assert(sizeof(LiteRtQuantizationPerTensor) == 16, "LiteRtQuantizationPerTensor size");

typedef enum {
  kLiteRtQuantizationNone = 0,
  kLiteRtQuantizationPerTensor = 1,
  kLiteRtQuantizationPerChannel = 2,
  kLiteRtQuantizationBlockWise = 3,
} LiteRtQuantizationTypeId;

// ---- litert_tensor_buffer_types.h ----
#define SC_LITERT_HOST_MEMORY_BUFFER_ALIGNMENT 64
typedef void (*LiteRtHostMemoryDeallocator)(void* addr);

// ---- function pointer types ----
// litert_environment.h
typedef LiteRtStatus (*PFN_LiteRtCreateEnvironment)(int num_options, const LiteRtEnvOption* options,
                                                    LiteRtEnvironment* environment);
typedef void (*PFN_LiteRtDestroyEnvironment)(LiteRtEnvironment environment);
// litert_model.h
typedef LiteRtStatus (*PFN_LiteRtCreateModelFromBuffer)(LiteRtEnvironment environment, const void* buffer_addr,
                                                        size_t buffer_size, LiteRtModel* model);
typedef void (*PFN_LiteRtDestroyModel)(LiteRtModel model);
typedef LiteRtStatus (*PFN_LiteRtGetNumModelSignatures)(LiteRtModel model, LiteRtParamIndex* num_signatures);
typedef LiteRtStatus (*PFN_LiteRtGetModelSignature)(LiteRtModel model, LiteRtParamIndex signature_index,
                                                    LiteRtSignature* signature);
typedef LiteRtStatus (*PFN_LiteRtGetNumSignatureInputs)(LiteRtSignature signature, LiteRtParamIndex* num_inputs);
typedef LiteRtStatus (*PFN_LiteRtGetNumSignatureOutputs)(LiteRtSignature signature, LiteRtParamIndex* num_outputs);
typedef LiteRtStatus (*PFN_LiteRtGetSignatureInputTensorByIndex)(LiteRtSignature signature, LiteRtParamIndex input_idx,
                                                                 LiteRtTensor* tensor);
typedef LiteRtStatus (*PFN_LiteRtGetSignatureOutputTensorByIndex)(LiteRtSignature signature,
                                                                  LiteRtParamIndex output_idx, LiteRtTensor* tensor);
typedef LiteRtStatus (*PFN_LiteRtGetTensorName)(LiteRtTensor tensor, const char** name);
typedef LiteRtStatus (*PFN_LiteRtGetTensorTypeId)(LiteRtTensor tensor, LiteRtTensorTypeId* type_id);
typedef LiteRtStatus (*PFN_LiteRtGetRankedTensorType)(LiteRtTensor tensor, LiteRtRankedTensorType* ranked_tensor_type);
typedef LiteRtStatus (*PFN_LiteRtGetQuantizationTypeId)(LiteRtTensor tensor, LiteRtQuantizationTypeId* q_type_id);
typedef LiteRtStatus (*PFN_LiteRtGetPerTensorQuantization)(LiteRtTensor tensor, LiteRtQuantizationPerTensor* q);
// litert_options.h / litert_opaque_options.h
typedef LiteRtStatus (*PFN_LiteRtCreateOptions)(LiteRtOptions* options);
typedef void (*PFN_LiteRtDestroyOptions)(LiteRtOptions options);
typedef LiteRtStatus (*PFN_LiteRtSetOptionsHardwareAccelerators)(LiteRtOptions options,
                                                                 LiteRtHwAcceleratorSet hardware_accelerators);
// Ownership of opaque_options passes to options.
typedef LiteRtStatus (*PFN_LiteRtAddOpaqueOptions)(LiteRtOptions options, LiteRtOpaqueOptions opaque_options);
typedef LiteRtStatus (*PFN_LiteRtCreateOpaqueOptions)(const char* payload_identifier, void* payload_data,
                                                      void (*payload_destructor)(void* payload_data),
                                                      LiteRtOpaqueOptions* options);
typedef void (*PFN_LiteRtDestroyOpaqueOptions)(LiteRtOpaqueOptions options);
// litert_compiled_model.h
typedef LiteRtStatus (*PFN_LiteRtCreateCompiledModel)(LiteRtEnvironment environment, LiteRtModel model,
                                                      LiteRtOptions compilation_options,
                                                      LiteRtCompiledModel* compiled_model);
typedef void (*PFN_LiteRtDestroyCompiledModel)(LiteRtCompiledModel compiled_model);
typedef LiteRtStatus (*PFN_LiteRtGetCompiledModelOutputTensorLayouts)(LiteRtCompiledModel compiled_model,
                                                                      LiteRtParamIndex signature_index,
                                                                      size_t num_layouts, LiteRtLayout* layouts,
                                                                      bool update_allocation);
typedef LiteRtStatus (*PFN_LiteRtGetCompiledModelOutputBufferRequirements)(
    LiteRtCompiledModel compiled_model, LiteRtParamIndex signature_index, LiteRtParamIndex output_index,
    LiteRtTensorBufferRequirements* buffer_requirements);
typedef LiteRtStatus (*PFN_LiteRtRunCompiledModel)(LiteRtCompiledModel compiled_model,
                                                   LiteRtParamIndex signature_index, size_t num_input_buffers,
                                                   LiteRtTensorBuffer* input_buffers, size_t num_output_buffers,
                                                   LiteRtTensorBuffer* output_buffers);
// litert_tensor_buffer_requirements.h
typedef LiteRtStatus (*PFN_LiteRtGetTensorBufferRequirementsBufferSize)(LiteRtTensorBufferRequirements requirements,
                                                                        size_t* buffer_size);
// litert_tensor_buffer.h
typedef LiteRtStatus (*PFN_LiteRtCreateTensorBufferFromHostMemory)(const LiteRtRankedTensorType* tensor_type,
                                                                   void* host_buffer_addr, size_t host_buffer_size,
                                                                   LiteRtHostMemoryDeallocator deallocator,
                                                                   LiteRtTensorBuffer* buffer);
typedef void (*PFN_LiteRtDestroyTensorBuffer)(LiteRtTensorBuffer buffer);
typedef LiteRtStatus (*PFN_LiteRtGetTensorBufferTensorType)(LiteRtTensorBuffer tensor_buffer,
                                                            LiteRtRankedTensorType* tensor_type);

}  // extern "C"

// CPU (XNNPACK) compilation options: an opaque-options item whose identifier is
// "xnnpack" and whose payload is a NUL-terminated TOML string, exactly what
// LrtGetOpaqueCpuOptionsData() builds in litert/c/options/litert_cpu_options.cc
// (the Lrt* CPU-option helpers themselves are not exported by libLiteRt.so).
#define SC_LITERT_CPU_OPTIONS_ID "xnnpack"
// XNNPACK delegate flags (tflite/delegates/xnnpack/xnnpack_delegate.h):
// TFLITE_XNNPACK_DELEGATE_FLAG_QS8 = 1, TFLITE_XNNPACK_DELEGATE_FLAG_QU8 = 2.
#define SC_XNNPACK_FLAG_QS8 0x1u
#define SC_XNNPACK_FLAG_QU8 0x2u
