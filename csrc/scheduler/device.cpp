#include "scheduler/device.h"

#include "common/errors.h"
#include "tflite/symbols.h"

namespace sc {

Device::Device(std::string name, std::uintptr_t interpreter, pybind11::object owner,
               TensorDesc input, std::vector<OutputSlot> outputs, pybind11::list keepalive,
               bool prefetch)
    : name_(std::move(name)),
      interpreter_(reinterpret_cast<void*>(interpreter)),
      owner_(std::move(owner)),
      input_(input),
      outputs_(std::move(outputs)),
      keepalive_(std::move(keepalive)),
      prefetch_(prefetch) {
    if (!interpreter_) throw ModelError("device " + name_ + ": null interpreter handle");
    if (!input_.data) throw ModelError("device " + name_ + ": input tensor is not allocated");
}

Device::~Device() {
    owner_ = pybind11::none();  // the interpreter first: it uses what keepalive holds
    while (keepalive_.size() > 0) keepalive_.attr("pop")(0);
}

std::size_t Device::output_bytes() const {
    std::size_t end = 0;
    for (const OutputSlot& o : outputs_) end = std::max(end, o.offset + o.bytes);
    return end;
}

void Device::invoke() {
    if (tflite_api().invoke(interpreter_) != 0) {
        throw InferenceError("device " + name_ + ": Invoke failed (see the TFLite log)");
    }
}

}  // namespace sc
