// A tflite_runtime C++ interpreter as a device: XNNPACK on the CPU, or bound to an Edge TPU
// (real or simulated) through libedgetpu's external context.
#pragma once
#include <functional>

#include "scheduler/device.h"

namespace sc {

class TfliteDevice : public Device {
public:
    // `interpreter` is a tflite::impl::Interpreter* with tensors allocated; `input` points at
    // its image input tensor and `output_data` at its output tensors (fixed after the warm-up
    // invoke); `inputs_data` is every input (`input.data` is null when none is an image).
    // `probe`, when given, is the readiness probe (an Edge TPU's IsReady).
    TfliteDevice(std::string name, std::string kind, void* interpreter, TensorDesc input,
                 std::vector<InputBuffer> inputs_data, std::vector<const void*> output_data,
                 std::vector<TensorMeta> inputs, std::vector<TensorMeta> outputs, bool prefetch, std::function<bool()> probe);

    std::vector<TensorMeta> describe_inputs() const override { return input_meta_; }
    std::vector<TensorMeta> describe_outputs() const override { return output_meta_; }
    void invoke(uint8_t* block) override;
    bool ready() override { return probe_ ? probe_() : true; }

private:
    void* interpreter_;
    std::vector<const void*> output_data_;
    std::vector<TensorMeta> input_meta_, output_meta_;
    std::function<bool()> probe_;
};

}  // namespace sc
