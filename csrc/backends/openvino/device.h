// An OpenVINO compiled model as a streamcore device, through OpenVINO's C API (runtime.h).
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backends/openvino/runtime.h"
#include "backends/openvino/ssd_postprocess.h"
#include "scheduler/device.h"

namespace sc {

// TFLite quantization of a tensor that OpenVINO's IR no longer records (the converted graph
// keeps uint8 inputs/outputs and dequantizes inside). scale 0: not quantized.
struct QuantParams {
    float scale = 0.0f;
    int64_t zero_point = 0;
};

struct OpenVinoDeviceOptions {
    std::string device = "CPU";   // CPU, GPU, GPU.1, NPU, AUTO, AUTO:GPU,CPU ...
    int num_threads = 0;          // per device, CPU only (INFERENCE_NUM_THREADS); 0: OpenVINO's default
    std::optional<ssd::SsdOptions> ssd;  // set: the model ends at TFLite_Detection_PostProcess's inputs
    QuantParams input_quant;
    std::vector<QuantParams> output_quant;  // per model output (plain models); may be empty
};

// One compiled model shared by the devices (infer requests) made from it. On the CPU, N
// devices share one model compiled with NUM_STREAMS=N: separately compiled single-stream
// models all land on the same core (measured: two of them give one core's throughput).
struct OpenVinoCompiled {
    std::shared_ptr<OpenVinoRuntime> rt;
    std::string weights;  // owned copy: the read model's constants may point into it
    ovc::ov_tensor_t* weights_tensor = nullptr;
    ovc::ov_compiled_model_t* compiled = nullptr;
    OpenVinoDeviceOptions options;  // what every device made from it uses
    ~OpenVinoCompiled();

    // Reads the model on the runtime's shared core, from IR in memory (xml text + weights bytes)
    // or, with `model_path`, from a file any OpenVINO frontend reads (.tflite, .onnx, .xml), and
    // compiles it for `streams` infer requests running at once. Throws DeviceNotFoundError,
    // ModelError.
    static std::shared_ptr<OpenVinoCompiled> compile(std::shared_ptr<OpenVinoRuntime> runtime, const std::string& xml,
                                                     const std::string& weights, const OpenVinoDeviceOptions& options,
                                                     int streams, const std::string& model_path = "");
};

class OpenVinoDevice : public Device {
public:
    // One infer request of `compiled`. Throws ModelError (model shape/type), DeviceError.
    OpenVinoDevice(std::shared_ptr<OpenVinoCompiled> compiled, std::string name);
    ~OpenVinoDevice() override;

    std::vector<TensorMeta> describe_inputs() const override { return inputs_meta_; }
    std::vector<TensorMeta> describe_outputs() const override;
    void invoke(uint8_t* block) override;

    // Test hook: true when every output of the last plain-model invoke was written by
    // OpenVINO straight into the block (the request's output tensor data == block + offset).
    bool outputs_zero_copy(uint8_t* block) const;
    const std::string& device_name() const { return device_; }
    std::string execution_devices() const;

private:
    struct Port {
        std::string name;
        ovc::ov_element_type_e type = ovc::OV_F32;
        std::vector<int64_t> shape;
        std::size_t bytes = 0;
    };
    struct BlockTensors {
        std::vector<ovc::ov_tensor_t*> tensors;  // null: that output is copied (see invoke)
        uint64_t last_use = 0;
    };
    static constexpr std::size_t kMaxCachedBlocks = 64;

    Port read_port(ovc::ov_output_const_port_t* port, bool input) const;
    ovc::ov_tensor_t* wrap(const Port& p, void* data) const;
    BlockTensors& tensors_for(uint8_t* block);
    void invoke_plain(uint8_t* block);
    void invoke_ssd(uint8_t* block);
    void free_block(BlockTensors& b);
    void release();  // frees every OpenVINO handle and buffer (destructor, failed constructor)

    std::shared_ptr<OpenVinoCompiled> shared_;
    std::shared_ptr<OpenVinoRuntime> rt_;
    std::string device_;
    ovc::ov_compiled_model_t* compiled_ = nullptr;  // owned by shared_
    ovc::ov_infer_request_t* request_ = nullptr;

    Port in_port_;
    std::vector<Port> out_ports_;
    std::vector<TensorMeta> inputs_meta_, outputs_meta_;
    void* input_buffer_ = nullptr;  // 64-byte aligned, wrapped by input_tensor_
    ovc::ov_tensor_t* input_tensor_ = nullptr;

    // Plain models: output tensors wrapping block spans, per block pointer (LRU-bounded).
    std::map<uint8_t*, BlockTensors> block_tensors_;
    uint8_t* bound_block_ = nullptr;  // the block whose tensors are set on the request
    std::vector<OutputSpan> cached_layout_;
    uint64_t use_clock_ = 0;
    std::vector<bool> copy_output_;  // set_output_tensor refused for that output: memcpy instead

    // SSD models: OpenVINO writes the op's inputs into device-owned buffers, decoded natively.
    std::unique_ptr<ssd::SsdPostprocess> ssd_;
    std::vector<void*> ssd_buffers_;
    std::vector<ovc::ov_tensor_t*> ssd_tensors_;
    int enc_stride_ = 4;
};



}  // namespace sc
