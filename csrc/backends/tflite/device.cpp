#include "backends/tflite/device.h"

#include <cstring>

#include "backends/tflite/symbols.h"
#include "common/errors.h"

namespace sc {

TfliteDevice::TfliteDevice(std::string name, std::string kind, void* interpreter, TensorDesc input,
                           std::vector<InputBuffer> inputs_data, std::vector<const void*> output_data,
                           std::vector<TensorMeta> inputs, std::vector<TensorMeta> outputs, bool prefetch, std::function<bool()> probe)
    : Device(std::move(name), std::move(kind), prefetch),
      interpreter_(interpreter),
      output_data_(std::move(output_data)),
      input_meta_(std::move(inputs)),
      output_meta_(std::move(outputs)),
      probe_(std::move(probe)) {
    if (!interpreter_) throw ModelError("device " + this->name() + ": null interpreter handle");
    for (const InputBuffer& b : inputs_data) {
        if (!b.data) throw ModelError("device " + this->name() + ": an input tensor is not allocated");
    }
    input_ = input;
    inputs_ = std::move(inputs_data);
}

void TfliteDevice::invoke(uint8_t* block) {
    if (tflite_api().invoke(interpreter_) != 0) {
        throw InferenceError("device " + name() + ": Invoke failed (see the TFLite log)");
    }
    // TFLite owns its output tensors: one copy into the block (bytes to KB).
    const std::size_t n = std::min(outputs_.size(), output_data_.size());
    for (std::size_t i = 0; i < n; ++i) {
        std::memcpy(block + outputs_[i].offset, output_data_[i], outputs_[i].bytes);
    }
}

}  // namespace sc
