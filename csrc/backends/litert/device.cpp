#include "backends/litert/device.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>

#include "backends/litert/quiet_stderr.h"
#include "common/errors.h"
#include "preprocess/preprocess.h"

namespace sc {
namespace litert {

namespace {

constexpr std::size_t kAlign = SC_LITERT_HOST_MEMORY_BUFFER_ALIGNMENT;  // 64

std::size_t round_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

void* aligned_zeroed(std::size_t n) {
    void* p = std::aligned_alloc(kAlign, round_up(n ? n : 1));
    if (!p) throw DeviceError("out of memory");
    std::memset(p, 0, round_up(n ? n : 1));
    return p;
}

// numpy dtype name and element size; "" for element types streamcore does not carry.
const char* dtype_name(LiteRtElementType t, std::size_t* size) {
    switch (t) {
        case kLiteRtElementTypeUInt8: *size = 1; return "uint8";
        case kLiteRtElementTypeInt8: *size = 1; return "int8";
        case kLiteRtElementTypeBool: *size = 1; return "bool";
        case kLiteRtElementTypeInt16: *size = 2; return "int16";
        case kLiteRtElementTypeUInt16: *size = 2; return "uint16";
        case kLiteRtElementTypeFloat16: *size = 2; return "float16";
        case kLiteRtElementTypeInt32: *size = 4; return "int32";
        case kLiteRtElementTypeUInt32: *size = 4; return "uint32";
        case kLiteRtElementTypeFloat32: *size = 4; return "float32";
        case kLiteRtElementTypeInt64: *size = 8; return "int64";
        case kLiteRtElementTypeUInt64: *size = 8; return "uint64";
        case kLiteRtElementTypeFloat64: *size = 8; return "float64";
        default: *size = 0; return "";
    }
}

std::string shape_str(const LiteRtLayout& l) {
    std::string s = "[";
    for (unsigned i = 0; i < l.rank; ++i) s += (i ? "," : "") + std::to_string(l.dimensions[i]);
    return s + "]";
}

std::string st(LiteRtStatus s) { return std::string(status_name(s)) + " (" + std::to_string(int(s)) + ")"; }

}  // namespace

LiteRtDevice::LiteRtDevice(std::shared_ptr<LiteRtRuntime> runtime, const void* model, std::size_t model_size,
                           int num_threads, std::string name, bool takes_frames)
    : Device(std::move(name), "litert:cpu", /*prefetch=*/false),
      rt_(std::move(runtime)),
      api_(rt_->api()),
      num_threads_(num_threads) {
    try {
        if (num_threads < 0) throw DeviceError("num_threads must be >= 0 (0: LiteRT decides)");
        if (!model || model_size < 8) throw ModelError("model is empty or too short to be a .tflite flatbuffer");
        model_bytes_ = aligned_zeroed(model_size);
        std::memcpy(model_bytes_, model, model_size);

        std::lock_guard<std::mutex> lock(rt_->build_mutex());
        QuietStderr quiet;
        LiteRtStatus s = api_.LiteRtCreateModelFromBuffer(rt_->env(), model_bytes_, model_size, &model_);
        if (s != kLiteRtStatusOk || !model_)
            throw ModelError("LiteRT cannot load the model (" + st(s) + "): not a valid .tflite flatbuffer?");

        LiteRtParamIndex nsig = 0;
        if (api_.LiteRtGetNumModelSignatures(model_, &nsig) != kLiteRtStatusOk || nsig == 0)
            throw ModelError("model has no signature/subgraph");
        LiteRtSignature sig = nullptr;
        if (api_.LiteRtGetModelSignature(model_, 0, &sig) != kLiteRtStatusOk)
            throw ModelError("cannot read the model's first signature");
        LiteRtParamIndex nin = 0, nout = 0;
        api_.LiteRtGetNumSignatureInputs(sig, &nin);
        api_.LiteRtGetNumSignatureOutputs(sig, &nout);
        if (nin == 0) throw ModelError("model has no inputs");
        if (nout == 0) throw ModelError("model has no outputs");

        // ---- the inputs: the image one (preprocess fills it) and any others (copied in) ----
        int image = -1;
        for (LiteRtParamIndex i = 0; i < nin; ++i) {
            LiteRtTensor in = nullptr;
            LiteRtRankedTensorType tt{};
            LiteRtTensorTypeId tid{};
            if (api_.LiteRtGetSignatureInputTensorByIndex(sig, i, &in) != kLiteRtStatusOk ||
                api_.LiteRtGetTensorTypeId(in, &tid) != kLiteRtStatusOk || tid != kLiteRtRankedTensorType ||
                api_.LiteRtGetRankedTensorType(in, &tt) != kLiteRtStatusOk)
                throw ModelError(nin == 1 ? "the model input has no static rank"
                                          : "model input " + std::to_string(i) + " has no static rank");
            std::size_t esize = 0;
            const char* dname = dtype_name(tt.element_type, &esize);
            TensorMeta meta;
            const char* in_name = nullptr;
            api_.LiteRtGetTensorName(in, &in_name);
            meta.name = in_name ? in_name : "";
            meta.dtype = dname;
            LiteRtQuantizationTypeId q{};
            LiteRtQuantizationPerTensor qp{};
            if (api_.LiteRtGetQuantizationTypeId(in, &q) == kLiteRtStatusOk && q == kLiteRtQuantizationPerTensor &&
                api_.LiteRtGetPerTensorQuantization(in, &qp) == kLiteRtStatusOk) {
                meta.scale = qp.scale;
                meta.zero_point = qp.zero_point;
            }
            const LiteRtLayout& il = tt.layout;
            const bool image_type = tt.element_type == kLiteRtElementTypeUInt8 ||
                                    tt.element_type == kLiteRtElementTypeInt8 ||
                                    tt.element_type == kLiteRtElementTypeFloat32;
            const bool image_like = il.rank == 4 && il.dimensions[0] == 1 && il.dimensions[1] > 0 &&
                                    il.dimensions[2] > 0 && (il.dimensions[3] == 1 || il.dimensions[3] == 3) &&
                                    image_type;
            if (takes_frames && nin == 1) {  // the single input must be an image: say why not
                if (il.rank != 4 || il.dimensions[0] != 1 || il.dimensions[1] <= 0 || il.dimensions[2] <= 0 ||
                    il.dimensions[3] <= 0 || il.dimensions[3] > 4)
                    throw ModelError("the model input is " + shape_str(il) + ", not an image tensor [1, height, width, 1 or 3]; streamcore feeds frames to image models (classifiers and detectors)");
                if (!image_type)
                    throw ModelError(std::string("the image input must be uint8, int8 or float32, got ") +
                                     (*dname ? dname : ("element type " + std::to_string(int(tt.element_type))).c_str()));
            }
            if (!*dname)
                throw ModelError("input " + meta.name + " has an unsupported element type " +
                                 std::to_string(int(tt.element_type)));
            std::size_t bytes = esize;
            for (unsigned d = 0; d < il.rank; ++d) {
                if (il.dimensions[d] < 0)
                    throw ModelError("input " + meta.name + " has a dynamic shape " + shape_str(il));
                meta.shape.push_back(il.dimensions[d]);
                bytes *= std::size_t(il.dimensions[d]);
            }
            if (takes_frames && image < 0 && (image_like || nin == 1)) {
                image = static_cast<int>(i);
                const DType dt = tt.element_type == kLiteRtElementTypeUInt8  ? DType::UInt8
                                 : tt.element_type == kLiteRtElementTypeInt8 ? DType::Int8
                                                                             : DType::Float32;
                // Before anything the input's size is allocated: a corrupt model asks for gigabytes.
                check_input_shape(il.dimensions[1], il.dimensions[2], il.dimensions[3], dt, "model input '" + meta.name + "'");
                if (meta.scale > 0) checked_zero_point(meta.zero_point, dt, "model input '" + meta.name + "'");
                input_.height = il.dimensions[1];
                input_.width = il.dimensions[2];
                input_.channels = il.dimensions[3];
                input_.dtype = dt;
                input_.scale = meta.scale;  // 0: not quantized (float input)
                input_.zero_point = int(meta.zero_point);
                input_.bytes = bytes;
            }
            input_meta_.push_back(std::move(meta));
            input_types_.push_back(tt);
            input_bytes_.push_back(bytes);
        }
        if (takes_frames && image < 0)
            throw ModelError("none of the model's " + std::to_string(nin) +
                             " inputs is an image tensor [1, height, width, 1 or 3] for frames to fill");

        // ---- compile for the CPU with XNNPACK (threads, QS8|QU8) ----
        if (api_.LiteRtCreateOptions(&options_) != kLiteRtStatusOk) throw DeviceError("LiteRtCreateOptions failed");
        api_.LiteRtSetOptionsHardwareAccelerators(options_, kLiteRtHwAcceleratorCpu);
        const std::string toml = "num_threads = " + std::to_string(num_threads) +
                                 "\nflags = " + std::to_string(SC_XNNPACK_FLAG_QS8 | SC_XNNPACK_FLAG_QU8) + "\n";
        char* payload = new char[toml.size() + 1];
        std::memcpy(payload, toml.c_str(), toml.size() + 1);
        LiteRtOpaqueOptions cpu = nullptr;
        s = api_.LiteRtCreateOpaqueOptions(SC_LITERT_CPU_OPTIONS_ID, payload,
                                           [](void* p) { delete[] static_cast<char*>(p); }, &cpu);
        if (s != kLiteRtStatusOk) {
            delete[] payload;
            throw DeviceError("LiteRtCreateOpaqueOptions(xnnpack) failed: " + st(s));
        }
        s = api_.LiteRtAddOpaqueOptions(options_, cpu);  // options_ owns cpu from here
        if (s != kLiteRtStatusOk) {
            api_.LiteRtDestroyOpaqueOptions(cpu);
            throw DeviceError("LiteRtAddOpaqueOptions failed: " + st(s));
        }
        s = api_.LiteRtCreateCompiledModel(rt_->env(), model_, options_, &compiled_);
        if (s != kLiteRtStatusOk || !compiled_)
            throw ModelError("LiteRT cannot compile the model for the CPU: " + st(s));

        // ---- outputs: settle their shapes ----
        // Models with TFLite_Detection_PostProcess declare rank-0 outputs in the file,
        // and the compiled model reports rank 0 (buffer requirements: 4 bytes) until
        // its tensors are allocated. LiteRtGetCompiledModelOutputTensorLayouts with
        // update_allocation=true allocates and returns the real shapes without a run
        // (SSD: [1,10,4] [1,10] [1,10] [1]); the buffer requirements stay stale at 4
        // bytes, so sizes are computed from these layouts instead.
        std::vector<LiteRtLayout> layouts(nout);
        s = api_.LiteRtGetCompiledModelOutputTensorLayouts(compiled_, 0, nout, layouts.data(), true);
        if (s != kLiteRtStatusOk) throw ModelError("cannot get the output shapes: " + st(s));
        for (LiteRtParamIndex i = 0; i < nout; ++i) {
            LiteRtTensor t = nullptr;
            LiteRtRankedTensorType tt{};
            LiteRtTensorTypeId tid{};
            LiteRtQuantizationTypeId q{};
            LiteRtQuantizationPerTensor qp{};
            if (api_.LiteRtGetSignatureOutputTensorByIndex(sig, i, &t) != kLiteRtStatusOk ||
                api_.LiteRtGetTensorTypeId(t, &tid) != kLiteRtStatusOk || tid != kLiteRtRankedTensorType ||
                api_.LiteRtGetRankedTensorType(t, &tt) != kLiteRtStatusOk)
                throw ModelError("output " + std::to_string(i) + " has no static rank");
            std::size_t os = 0;
            const char* on = dtype_name(tt.element_type, &os);
            if (!*on)
                throw ModelError("output " + std::to_string(i) + " has an unsupported element type " +
                                 std::to_string(int(tt.element_type)));
            tt.layout = layouts[i];
            std::size_t n = 1;
            TensorMeta meta;
            for (unsigned d = 0; d < tt.layout.rank; ++d) {
                if (tt.layout.dimensions[d] < 0)
                    throw ModelError("output " + std::to_string(i) + " has a dynamic shape " + shape_str(tt.layout) +
                                     " that LiteRT does not settle at build time");
                n *= std::size_t(tt.layout.dimensions[d]);
                meta.shape.push_back(tt.layout.dimensions[d]);
            }
            const char* oname = nullptr;
            api_.LiteRtGetTensorName(t, &oname);
            meta.name = oname ? oname : "";
            meta.dtype = on;
            if (api_.LiteRtGetQuantizationTypeId(t, &q) == kLiteRtStatusOk && q == kLiteRtQuantizationPerTensor &&
                api_.LiteRtGetPerTensorQuantization(t, &qp) == kLiteRtStatusOk) {
                meta.scale = qp.scale;
                meta.zero_point = qp.zero_point;
            }
            output_meta_.push_back(std::move(meta));
            output_types_.push_back(tt);
            output_bytes_.push_back(n * os);
        }

        // ---- the input buffers: our memory, wrapped without a copy ----
        for (std::size_t i = 0; i < input_types_.size(); ++i) {
            input_mems_.push_back(aligned_zeroed(input_bytes_[i]));
            input_buffers_.push_back(nullptr);
            s = api_.LiteRtCreateTensorBufferFromHostMemory(&input_types_[i], input_mems_[i], input_bytes_[i], nullptr,
                                                            &input_buffers_[i]);
            if (s != kLiteRtStatusOk) throw DeviceError("cannot wrap input buffer " + std::to_string(i) + ": " + st(s));
            inputs_.push_back({input_mems_[i], input_bytes_[i]});
        }
        if (image >= 0) input_.data = input_mems_[image];
    } catch (const Error&) {
        cleanup();
        throw;
    } catch (const std::bad_alloc&) {
        cleanup();
        throw;
    } catch (const std::exception& e) {
        // LiteRT's C API lets C++ exceptions out on some malformed models (a tensor without
        // a name: "basic_string::_M_construct null not valid"); they are the model's fault.
        cleanup();
        throw ModelError(std::string("LiteRT cannot load this model (") + e.what() +
                         "); the model is malformed or uses something LiteRT does not support");
    } catch (...) {
        cleanup();
        throw;
    }
}

void LiteRtDevice::release_binding(BlockBinding& b) {
    for (LiteRtTensorBuffer tb : b.buffers)
        if (tb) api_.LiteRtDestroyTensorBuffer(tb);
    b.buffers.clear();
}

void LiteRtDevice::cleanup() {
    QuietStderr quiet;
    for (auto& b : bindings_) release_binding(b);
    bindings_.clear();
    for (LiteRtTensorBuffer tb : input_buffers_)
        if (tb) api_.LiteRtDestroyTensorBuffer(tb);
    input_buffers_.clear();
    if (compiled_) api_.LiteRtDestroyCompiledModel(compiled_);
    compiled_ = nullptr;
    if (options_) api_.LiteRtDestroyOptions(options_);
    options_ = nullptr;
    if (model_) api_.LiteRtDestroyModel(model_);
    model_ = nullptr;
    for (void* mem : input_mems_) std::free(mem);
    input_mems_.clear();
    inputs_.clear();
    std::free(model_bytes_);
    model_bytes_ = nullptr;
}

LiteRtDevice::~LiteRtDevice() { cleanup(); }

LiteRtDevice::BlockBinding& LiteRtDevice::binding_for(uint8_t* block) {
    const uint64_t now = ++use_clock_;
    for (auto& b : bindings_) {
        if (b.block == block && b.spans.size() == outputs_.size() &&
            std::equal(b.spans.begin(), b.spans.end(), outputs_.begin(), [](const OutputSpan& x, const OutputSpan& y) {
                return x.offset == y.offset && x.bytes == y.bytes;
            })) {
            b.last_use = now;
            return b;
        }
    }
    // New block (or new layout): validate the layout and bind host-memory tensor
    // buffers over the block's spans (no deallocator: the pool owns the block).
    if (outputs_.size() != output_types_.size())
        throw InferenceError("set_output_layout gave " + std::to_string(outputs_.size()) + " spans for " +
                             std::to_string(output_types_.size()) + " model outputs");
    if (reinterpret_cast<uintptr_t>(block) % kAlign != 0)
        throw InferenceError("output block is not 64-byte aligned");
    BlockBinding nb;
    nb.block = block;
    nb.spans = outputs_;
    nb.last_use = now;
    try {
        for (std::size_t i = 0; i < outputs_.size(); ++i) {
            const OutputSpan& sp = outputs_[i];
            if (sp.offset % kAlign != 0)
                throw InferenceError("output span " + std::to_string(i) + " offset is not a multiple of 64");
            if (sp.bytes < output_bytes_[i])
                throw InferenceError("output span " + std::to_string(i) + " has " + std::to_string(sp.bytes) +
                                     " bytes, the tensor needs " + std::to_string(output_bytes_[i]));
            LiteRtTensorBuffer tb = nullptr;
            LiteRtStatus s = api_.LiteRtCreateTensorBufferFromHostMemory(&output_types_[i], block + sp.offset,
                                                                         output_bytes_[i], nullptr, &tb);
            if (s != kLiteRtStatusOk) throw InferenceError("cannot bind output " + std::to_string(i) + ": " + st(s));
            nb.buffers.push_back(tb);
        }
    } catch (...) {
        release_binding(nb);
        throw;
    }
    if (bindings_.size() >= kMaxCachedBlocks) {
        auto lru = std::min_element(bindings_.begin(), bindings_.end(),
                                    [](const BlockBinding& a, const BlockBinding& b) { return a.last_use < b.last_use; });
        release_binding(*lru);
        *lru = std::move(nb);
        return *lru;
    }
    bindings_.push_back(std::move(nb));
    return bindings_.back();
}

void LiteRtDevice::invoke(uint8_t* block) {
    if (!block) throw InferenceError("null output block");
    BlockBinding& b = binding_for(block);
    // LiteRT turns each host-memory buffer into a TFLite custom allocation, so the
    // kernels read input_mems_ and write straight into the block: no copy either way.
    LiteRtStatus s = api_.LiteRtRunCompiledModel(compiled_, 0, input_buffers_.size(), input_buffers_.data(),
                                                 b.buffers.size(), b.buffers.data());
    if (s != kLiteRtStatusOk) throw InferenceError("LiteRtRunCompiledModel failed on device '" + name() + "': " + st(s));
}

}  // namespace litert
}  // namespace sc
