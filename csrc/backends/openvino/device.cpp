#include "backends/openvino/device.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "common/errors.h"
#include "preprocess/preprocess.h"

namespace sc {

namespace {

std::size_t element_size(ovc::ov_element_type_e t) {
    switch (t) {
        case ovc::OV_BOOLEAN: case ovc::OV_I8: case ovc::OV_U8: return 1;
        case ovc::OV_F16: case ovc::OV_BF16: case ovc::OV_I16: case ovc::OV_U16: return 2;
        case ovc::OV_F32: case ovc::OV_I32: case ovc::OV_U32: return 4;
        case ovc::OV_F64: case ovc::OV_I64: case ovc::OV_U64: return 8;
        default: return 0;
    }
}

const char* numpy_name(ovc::ov_element_type_e t) {
    switch (t) {
        case ovc::OV_BOOLEAN: return "bool";
        case ovc::OV_I8: return "int8";
        case ovc::OV_U8: return "uint8";
        case ovc::OV_F16: return "float16";
        case ovc::OV_BF16: return "bfloat16";
        case ovc::OV_I16: return "int16";
        case ovc::OV_U16: return "uint16";
        case ovc::OV_F32: return "float32";
        case ovc::OV_I32: return "int32";
        case ovc::OV_U32: return "uint32";
        case ovc::OV_F64: return "float64";
        case ovc::OV_I64: return "int64";
        case ovc::OV_U64: return "uint64";
        default: return "unsupported";
    }
}

std::string shape_str(const std::vector<int64_t>& s) {
    std::string r = "[";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
    return r + "]";
}

void* aligned_buffer(std::size_t bytes) {
    std::size_t n = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, n ? n : 64);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, n ? n : 64);
    return p;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

bool is_cpu(const std::string& d) { return d == "CPU" || starts_with(d, "CPU."); }

// Accelerators (GPU, NPU) leave the host idle during infer, so streamcore preprocesses the next
// frame meanwhile. Virtual devices (AUTO, MULTI, HETERO, BATCH) may run on the CPU: no prefetch.
bool accelerator(const std::string& d) {
    for (const char* v : {"CPU", "AUTO", "MULTI", "HETERO", "BATCH"})
        if (d == v || starts_with(d, std::string(v) + ":") || starts_with(d, std::string(v) + ".")) return false;
    return true;
}

void check_device_exists(const OpenVinoRuntime& rt, const std::string& device) {
    // Virtual devices: AUTO, MULTI, HETERO, BATCH, optionally with a candidate list.
    for (const char* v : {"AUTO", "MULTI", "HETERO", "BATCH"}) {
        const std::string virt = v;
        if (device == virt) return;
        if (starts_with(device, virt + ":")) {
            std::string list = device.substr(virt.size() + 1);
            std::size_t start = 0;
            while (start <= list.size()) {
                std::size_t comma = list.find(',', start);
                std::string one = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                std::size_t paren = one.find('(');  // BATCH:GPU(4)
                if (paren != std::string::npos) one = one.substr(0, paren);
                if (!one.empty()) check_device_exists(rt, one);
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
            return;
        }
    }
    std::vector<std::string> avail = rt.available_devices();
    for (const std::string& a : avail) {
        if (a == device) return;
        // "GPU" names GPU.0 when OpenVINO lists GPU.0, GPU.1
        if (device.find('.') == std::string::npos && starts_with(a, device + ".")) return;
    }
    std::string list;
    for (const std::string& a : avail) list += (list.empty() ? "" : ", ") + a + " (" + rt.full_device_name(a) + ")";
    throw DeviceNotFoundError("OpenVINO has no device '" + device + "'; the devices that exist are: " +
                              (list.empty() ? std::string("none") : list) + " (and AUTO)");
}

}  // namespace

OpenVinoDevice::Port OpenVinoDevice::read_port(ovc::ov_output_const_port_t* port, bool input) const {
    const OpenVinoApi& a = rt_->api();
    Port p;
    char* name = nullptr;
    if (a.ov_port_get_any_name(port, &name) == ovc::OK && name) {
        p.name = name;
        a.ov_free(name);
    }
    rt_->check(a.ov_port_get_element_type(port, &p.type), "ModelError", "reading a tensor type");
    ovc::ov_partial_shape_t ps{};
    rt_->check(a.ov_port_get_partial_shape(port, &ps), "ModelError", "reading a tensor shape");
    bool dynamic = ps.rank.min != ps.rank.max || ps.rank.min < 0;
    if (!dynamic) {
        for (int64_t i = 0; i < ps.rank.max; ++i) {
            if (ps.dims[i].min != ps.dims[i].max || ps.dims[i].min < 0) dynamic = true;
            p.shape.push_back(ps.dims[i].max);
        }
    }
    a.ov_partial_shape_free(&ps);
    const char* what = input ? "input" : "output";
    if (dynamic)
        throw ModelError(std::string("model ") + what + " '" + p.name +
                         "' has a dynamic shape; streamcore's OpenVINO backend needs static shapes");
    const std::size_t es = element_size(p.type);
    if (!es)
        throw ModelError(std::string("model ") + what + " '" + p.name + "' has an unsupported element type (" +
                         std::to_string(static_cast<int>(p.type)) + ")");
    p.bytes = es;
    for (int64_t d : p.shape) p.bytes *= static_cast<std::size_t>(d);
    return p;
}

ovc::ov_tensor_t* OpenVinoDevice::wrap(const Port& p, void* data) const {
    ovc::ov_shape_t shape{static_cast<int64_t>(p.shape.size()), const_cast<int64_t*>(p.shape.data())};
    ovc::ov_tensor_t* t = nullptr;
    // The tensor refers to `data` (no copy, no ownership).
    rt_->check(rt_->api().ov_tensor_create_from_host_ptr(p.type, shape, data, &t), "DeviceError",
               "wrapping a buffer as an OpenVINO tensor");
    return t;
}

OpenVinoCompiled::~OpenVinoCompiled() {
    const OpenVinoApi& a = rt->api();
    if (compiled) a.ov_compiled_model_free(compiled);
    if (weights_tensor) a.ov_tensor_free(weights_tensor);
}

std::shared_ptr<OpenVinoCompiled> OpenVinoCompiled::compile(std::shared_ptr<OpenVinoRuntime> runtime,
                                                            const std::string& xml, const std::string& weights,
                                                            const OpenVinoDeviceOptions& options, int streams,
                                                            const std::string& model_path) {
    if (!runtime) throw DeviceError("no OpenVINO runtime");
    check_device_exists(*runtime, options.device);
    auto out = std::make_shared<OpenVinoCompiled>();
    out->rt = std::move(runtime);
    out->weights = weights;
    out->options = options;
    OpenVinoRuntime& rt = *out->rt;
    const OpenVinoApi& a = rt.api();
    ovc::ov_model_t* model = nullptr;
    std::lock_guard<std::mutex> lock(rt.core_mutex());
    if (!out->weights.empty()) {
        ovc::ov_shape_t shape{1, nullptr};
        int64_t size = static_cast<int64_t>(out->weights.size());
        shape.dims = &size;
        rt.check(a.ov_tensor_create_from_host_ptr(ovc::OV_U8, shape, &out->weights[0], &out->weights_tensor),
                 "DeviceError", "wrapping the model weights");
    }
    if (!model_path.empty()) {
        rt.check(a.ov_core_read_model(rt.core(), model_path.c_str(), nullptr, &model), "ModelError",
                 "OpenVINO could not read the model " + model_path);
    } else {
        rt.check(a.ov_core_read_model_from_memory_buffer(rt.core(), xml.data(), xml.size(), out->weights_tensor,
                                                         &model),
                 "ModelError", "OpenVINO could not read the model IR");
    }
    ovc::ov_status_e st;
    const std::string& device = options.device;
    const int n = std::max(1, streams);
    if (is_cpu(device) && options.num_threads > 0) {
        const std::string threads = std::to_string(options.num_threads * n), count = std::to_string(n);
        st = a.ov_core_compile_model(rt.core(), model, device.c_str(), 4, &out->compiled,
                                     ovc::kPropInferenceNumThreads, threads.c_str(), ovc::kPropNumStreams,
                                     count.c_str());
    } else if (is_cpu(device)) {
        const std::string count = std::to_string(n);
        st = a.ov_core_compile_model(rt.core(), model, device.c_str(), 2, &out->compiled, ovc::kPropNumStreams,
                                     count.c_str());
    } else {
        st = a.ov_core_compile_model(rt.core(), model, device.c_str(), 0, &out->compiled);
    }
    const std::string err = st == ovc::OK ? std::string() : rt.last_error(st);
    a.ov_model_free(model);
    if (st != ovc::OK) throw ModelError("OpenVINO could not compile the model for " + device + ": " + err);
    return out;
}

OpenVinoDevice::OpenVinoDevice(std::shared_ptr<OpenVinoCompiled> compiled, std::string name)
    : Device(std::move(name), "openvino:" + compiled->options.device, accelerator(compiled->options.device)),
      shared_(std::move(compiled)),
      rt_(shared_->rt),
      device_(shared_->options.device),
      compiled_(shared_->compiled) {
    const OpenVinoApi& a = rt_->api();
    const OpenVinoDeviceOptions& options = shared_->options;
    try {
        rt_->check(a.ov_compiled_model_create_infer_request(compiled_, &request_), "DeviceError",
                   "creating an OpenVINO infer request");

        // Exactly one image input, [1,H,W,C].
        std::size_t n_in = 0, n_out = 0;
        rt_->check(a.ov_compiled_model_inputs_size(compiled_, &n_in), "ModelError", "counting inputs");
        rt_->check(a.ov_compiled_model_outputs_size(compiled_, &n_out), "ModelError", "counting outputs");
        if (n_in != 1)
            throw ModelError("the model has " + std::to_string(n_in) +
                             " inputs; streamcore's OpenVINO backend needs exactly one image input [1,H,W,C]");
        ovc::ov_output_const_port_t* port = nullptr;
        rt_->check(a.ov_compiled_model_input_by_index(compiled_, 0, &port), "ModelError", "reading the input");
        try {
            in_port_ = read_port(port, true);
        } catch (...) {
            a.ov_output_const_port_free(port);
            throw;
        }
        a.ov_output_const_port_free(port);
        const auto& s = in_port_.shape;
        const bool nhwc = s.size() == 4 && s[0] == 1 && (s[3] == 1 || s[3] == 3 || s[3] == 4);
        if (!nhwc) {
            const bool nchw = s.size() == 4 && s[0] == 1 && (s[1] == 1 || s[1] == 3);
            throw ModelError("model input '" + in_port_.name + "' is " + shape_str(s) +
                             (nchw ? " (NCHW: not supported yet)" : "") + ", not an image tensor [1, height, width, 1 or 3] (NHWC); streamcore feeds frames to image models");
        }
        DType dt;
        switch (in_port_.type) {
            case ovc::OV_U8: dt = DType::UInt8; break;
            case ovc::OV_I8: dt = DType::Int8; break;
            case ovc::OV_F32: dt = DType::Float32; break;
            default:
                throw ModelError(std::string("model input type ") + numpy_name(in_port_.type) +
                                 " is not supported (uint8, int8, float32)");
        }
        // Before anything the input's size is allocated: a corrupt model asks for gigabytes.
        check_input_shape(s[1], s[2], s[3], dt, "model input '" + in_port_.name + "'");
        if (dt != DType::Float32)
            checked_zero_point(options.input_quant.zero_point, dt, "model input '" + in_port_.name + "'");
        input_buffer_ = aligned_buffer(in_port_.bytes);
        input_tensor_ = wrap(in_port_, input_buffer_);
        rt_->check(a.ov_infer_request_set_input_tensor_by_index(request_, 0, input_tensor_), "DeviceError",
                   "setting the input tensor");
        input_.data = input_buffer_;
        input_.height = static_cast<int>(s[1]);
        input_.width = static_cast<int>(s[2]);
        input_.channels = static_cast<int>(s[3]);
        input_.dtype = dt;
        input_.scale = dt == DType::Float32 ? 0.0f : options.input_quant.scale;
        input_.zero_point = static_cast<int>(options.input_quant.zero_point);
        input_.bytes = in_port_.bytes;
        inputs_meta_.push_back({in_port_.name, numpy_name(in_port_.type), s, input_.scale,
                                options.input_quant.zero_point});

        for (std::size_t i = 0; i < n_out; ++i) {
            ovc::ov_output_const_port_t* op = nullptr;
            rt_->check(a.ov_compiled_model_output_by_index(compiled_, i, &op), "ModelError", "reading an output");
            try {
                out_ports_.push_back(read_port(op, false));
            } catch (...) {
                a.ov_output_const_port_free(op);
                throw;
            }
            a.ov_output_const_port_free(op);
        }

        if (options.ssd) {
            // Outputs 0..2: box encodings [1,N,>=4], class scores [1,N,C], anchors [N,4], all f32.
            if (out_ports_.size() < 3)
                throw ModelError("SSD postprocess model has " + std::to_string(out_ports_.size()) +
                                 " outputs; expected the 3 inputs of TFLite_Detection_PostProcess");
            const Port &enc = out_ports_[0], &sc = out_ports_[1], &anc = out_ports_[2];
            const bool ok = enc.type == ovc::OV_F32 && sc.type == ovc::OV_F32 && anc.type == ovc::OV_F32 &&
                            enc.shape.size() == 3 && enc.shape[0] == 1 && enc.shape[2] >= 4 &&
                            sc.shape.size() == 3 && sc.shape[0] == 1 && sc.shape[1] == enc.shape[1] &&
                            anc.shape.size() == 2 && anc.shape[0] == enc.shape[1] && anc.shape[1] == 4;
            if (!ok)
                throw ModelError("SSD postprocess inputs have unexpected shapes: " + shape_str(enc.shape) + " " +
                                 shape_str(sc.shape) + " " + shape_str(anc.shape) +
                                 " (expected f32 [1,N,4] [1,N,C] [N,4])");
            enc_stride_ = static_cast<int>(enc.shape[2]);
            try {
                ssd_.reset(new ssd::SsdPostprocess(*options.ssd, static_cast<int>(enc.shape[1]),
                                                   static_cast<int>(sc.shape[2])));
            } catch (const std::runtime_error& e) {
                throw ModelError(e.what());
            }
            // OpenVINO writes these into device-owned buffers; set once.
            for (std::size_t i = 0; i < out_ports_.size(); ++i) {
                ssd_buffers_.push_back(aligned_buffer(out_ports_[i].bytes));
                ssd_tensors_.push_back(wrap(out_ports_[i], ssd_buffers_.back()));
                rt_->check(a.ov_infer_request_set_output_tensor_by_index(request_, i, ssd_tensors_.back()),
                           "DeviceError", "setting an SSD output tensor");
            }
            const int64_t rows = options.ssd->output_rows();
            outputs_meta_ = {{"TFLite_Detection_PostProcess", "float32", {1, rows, 4}, 0.0f, 0},
                             {"TFLite_Detection_PostProcess:1", "float32", {1, rows}, 0.0f, 0},
                             {"TFLite_Detection_PostProcess:2", "float32", {1, rows}, 0.0f, 0},
                             {"TFLite_Detection_PostProcess:3", "float32", {1}, 0.0f, 0}};
        } else {
            for (std::size_t i = 0; i < out_ports_.size(); ++i) {
                const Port& p = out_ports_[i];
                QuantParams q = i < options.output_quant.size() ? options.output_quant[i] : QuantParams{};
                if (p.type == ovc::OV_F32) q = QuantParams{};
                outputs_meta_.push_back({p.name, numpy_name(p.type), p.shape, q.scale, q.zero_point});
            }
            copy_output_.assign(out_ports_.size(), false);
        }
    } catch (...) {
        release();  // frees whatever was made; the members themselves unwind normally
        throw;
    }
}

void OpenVinoDevice::free_block(BlockTensors& b) {
    for (ovc::ov_tensor_t* t : b.tensors)
        if (t) rt_->api().ov_tensor_free(t);
    b.tensors.clear();
}

OpenVinoDevice::~OpenVinoDevice() { release(); }

void OpenVinoDevice::release() {
    const OpenVinoApi& a = rt_->api();
    for (auto& kv : block_tensors_) free_block(kv.second);
    block_tensors_.clear();
    if (request_) a.ov_infer_request_free(request_);
    request_ = nullptr;
    for (ovc::ov_tensor_t* t : ssd_tensors_) a.ov_tensor_free(t);
    ssd_tensors_.clear();
    for (void* p : ssd_buffers_) std::free(p);
    ssd_buffers_.clear();
    if (input_tensor_) a.ov_tensor_free(input_tensor_);
    input_tensor_ = nullptr;
    compiled_ = nullptr;  // freed with the last device sharing it (shared_)
    std::free(input_buffer_);
    input_buffer_ = nullptr;
}

std::vector<TensorMeta> OpenVinoDevice::describe_outputs() const { return outputs_meta_; }

std::string OpenVinoDevice::execution_devices() const {
    char* v = nullptr;
    if (rt_->api().ov_compiled_model_get_property(compiled_, "EXECUTION_DEVICES", &v) != ovc::OK || !v) return device_;
    std::string s = v;
    rt_->api().ov_free(v);
    return s;
}

OpenVinoDevice::BlockTensors& OpenVinoDevice::tensors_for(uint8_t* block) {
    auto it = block_tensors_.find(block);
    if (it == block_tensors_.end()) {
        if (block_tensors_.size() >= kMaxCachedBlocks) {  // evict the least recently used
            auto victim = block_tensors_.end();
            for (auto j = block_tensors_.begin(); j != block_tensors_.end(); ++j)
                if (j->first != bound_block_ && (victim == block_tensors_.end() || j->second.last_use < victim->second.last_use))
                    victim = j;
            if (victim != block_tensors_.end()) {
                free_block(victim->second);
                block_tensors_.erase(victim);
            }
        }
        BlockTensors bt;
        for (std::size_t i = 0; i < out_ports_.size(); ++i)
            bt.tensors.push_back(copy_output_[i] ? nullptr : wrap(out_ports_[i], block + outputs_[i].offset));
        it = block_tensors_.emplace(block, std::move(bt)).first;
    }
    it->second.last_use = ++use_clock_;
    return it->second;
}

void OpenVinoDevice::invoke_plain(uint8_t* block) {
    const OpenVinoApi& a = rt_->api();
    if (outputs_.size() != out_ports_.size())
        throw InferenceError("output layout has " + std::to_string(outputs_.size()) + " spans for " +
                             std::to_string(out_ports_.size()) + " model outputs");
    for (std::size_t i = 0; i < out_ports_.size(); ++i)
        if (outputs_[i].bytes < out_ports_[i].bytes)
            throw InferenceError("output span " + std::to_string(i) + " holds " + std::to_string(outputs_[i].bytes) +
                                 " bytes; the output needs " + std::to_string(out_ports_[i].bytes));
    bool same_layout = cached_layout_.size() == outputs_.size();
    for (std::size_t i = 0; same_layout && i < outputs_.size(); ++i)
        same_layout = cached_layout_[i].offset == outputs_[i].offset && cached_layout_[i].bytes == outputs_[i].bytes;
    if (!same_layout) {  // set_output_layout changed: the cached tensors point at old offsets
        for (auto& kv : block_tensors_) free_block(kv.second);
        block_tensors_.clear();
        bound_block_ = nullptr;
        cached_layout_ = outputs_;
    }
    if (block != bound_block_) {
        BlockTensors& bt = tensors_for(block);
        for (std::size_t i = 0; i < out_ports_.size(); ++i) {
            if (copy_output_[i]) continue;
            if (a.ov_infer_request_set_output_tensor_by_index(request_, i, bt.tensors[i]) != ovc::OK) {
                // The plugin refuses a caller's buffer for this output: it keeps its own and
                // invoke copies from it (one memcpy per frame for this output).
                copy_output_[i] = true;
            }
        }
        bound_block_ = block;
    }
    rt_->check(a.ov_infer_request_infer(request_), "InferenceError", "OpenVINO inference on " + device_ + " failed");
    for (std::size_t i = 0; i < out_ports_.size(); ++i) {
        if (!copy_output_[i]) continue;
        ovc::ov_tensor_t* t = nullptr;
        rt_->check(a.ov_infer_request_get_output_tensor_by_index(request_, i, &t), "InferenceError",
                   "reading an output");
        void* data = nullptr;
        const ovc::ov_status_e st = a.ov_tensor_data(t, &data);
        if (st == ovc::OK && data) std::memcpy(block + outputs_[i].offset, data, out_ports_[i].bytes);
        a.ov_tensor_free(t);
        rt_->check(st, "InferenceError", "reading an output");
    }
}

void OpenVinoDevice::invoke_ssd(uint8_t* block) {
    const OpenVinoApi& a = rt_->api();
    const std::size_t rows = static_cast<std::size_t>(ssd_->options().output_rows());
    const std::size_t need[4] = {rows * 16, rows * 4, rows * 4, 4};
    if (outputs_.size() != 4) throw InferenceError("an SSD device needs 4 output spans (boxes, classes, scores, count)");
    for (int i = 0; i < 4; ++i)
        if (outputs_[i].bytes < need[i]) throw InferenceError("SSD output span " + std::to_string(i) + " is too small");
    rt_->check(a.ov_infer_request_infer(request_), "InferenceError", "OpenVINO inference on " + device_ + " failed");
    ssd::SsdOutputs out;
    out.boxes = reinterpret_cast<float*>(block + outputs_[0].offset);
    out.classes = reinterpret_cast<float*>(block + outputs_[1].offset);
    out.scores = reinterpret_cast<float*>(block + outputs_[2].offset);
    out.count = reinterpret_cast<float*>(block + outputs_[3].offset);
    try {
        ssd_->run(static_cast<const float*>(ssd_buffers_[0]), enc_stride_, static_cast<const float*>(ssd_buffers_[1]),
                  static_cast<const float*>(ssd_buffers_[2]), out);
    } catch (const std::runtime_error& e) {
        throw InferenceError(e.what());
    }
}

void OpenVinoDevice::invoke(uint8_t* block) {
    if (!block) throw InferenceError("null output block");
    if (ssd_)
        invoke_ssd(block);
    else
        invoke_plain(block);
}

bool OpenVinoDevice::outputs_zero_copy(uint8_t* block) const {
    if (ssd_) return false;
    const OpenVinoApi& a = rt_->api();
    for (std::size_t i = 0; i < out_ports_.size(); ++i) {
        if (copy_output_[i]) return false;
        ovc::ov_tensor_t* t = nullptr;
        if (a.ov_infer_request_get_output_tensor_by_index(request_, i, &t) != ovc::OK) return false;
        void* data = nullptr;
        a.ov_tensor_data(t, &data);
        a.ov_tensor_free(t);
        if (data != block + outputs_[i].offset) return false;
    }
    return true;
}

}  // namespace sc
