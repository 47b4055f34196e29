// A device: one model instance bound to one accelerator or one CPU worker thread.
// Backends subclass it (csrc/backends/<name>/). No Python types here: workers call it
// with the GIL released, and Python objects a device depends on are held by `keepalive`,
// whose deleter the binding layer supplies.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "preprocess/frame.h"   // TensorDesc {void* data; int height,width,channels; DType dtype; float scale; int zero_point; size_t bytes;}

namespace sc {

// Where one output tensor goes inside an output block (offsets are multiples of 64;
// blocks are 64-byte aligned).
struct OutputSpan {
    std::size_t offset = 0;
    std::size_t bytes = 0;
};

// One input tensor's memory, as the runtime owns it.
struct InputBuffer {
    void* data = nullptr;
    std::size_t bytes = 0;
};

// A tensor as a backend describes it (for the Python side's TensorInfo).
struct TensorMeta {
    std::string name;
    std::string dtype;           // numpy name: uint8, int8, int32, int64, float32, ...
    std::vector<int64_t> shape;
    float scale = 0.0f;          // 0: not quantized
    int64_t zero_point = 0;
};

class Device {
public:
    Device(std::string name, std::string kind, bool prefetch)
        : name_(std::move(name)), kind_(std::move(kind)), prefetch_(prefetch) {}
    virtual ~Device() = default;
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    const std::string& name() const { return name_; }
    // "<backend>:<device>", e.g. "tflite:cpu", "tflite:edgetpu", "litert:cpu", "openvino:CPU".
    const std::string& kind() const { return kind_; }
    // Accelerators leave the host idle during invoke: the next frame is preprocessed then.
    bool prefetch() const { return prefetch_; }

    // The image input that preprocess writes into (data null when the model has none, as a
    // later segment of a pipelined model). Valid for the device's life.
    const TensorDesc& input() const { return input_; }
    bool has_image_input() const { return input_.data != nullptr; }
    // Every input in model order, the image input included: the other inputs are copied in
    // from the previous segment's outputs or from the caller. Empty for single-input devices.
    const std::vector<InputBuffer>& input_buffers() const { return inputs_; }
    // Set once by the owner before the device joins a scheduler.
    const std::vector<OutputSpan>& outputs() const { return outputs_; }
    void set_output_layout(std::vector<OutputSpan> spans) { outputs_ = std::move(spans); }
    std::size_t output_bytes() const {
        std::size_t end = 0;
        for (const OutputSpan& s : outputs_) end = end > s.offset + s.bytes ? end : s.offset + s.bytes;
        return end;
    }

    virtual std::vector<TensorMeta> describe_inputs() const = 0;
    virtual std::vector<TensorMeta> describe_outputs() const = 0;

    // Worker thread only, without the GIL: runs the model on input() and leaves every output
    // in `block` (output_bytes() long, 64-byte aligned) at its span, either by copying or by
    // letting the runtime write there. Throws sc::Error (common/errors.h): InferenceError
    // for a device fault.
    virtual void invoke(uint8_t* block) = 0;
    // Readiness probe (any thread, no GIL); false takes the device out of rotation.
    virtual bool ready() { return true; }

    std::atomic<uint64_t> frames{0};
    std::atomic<uint64_t> errors{0};
    std::atomic<uint64_t> busy_ns{0};

    // What the device depends on that is not native (Python objects), released after the
    // subclass is destroyed. The binding layer's deleter takes the GIL.
    std::shared_ptr<void> keepalive;

protected:
    TensorDesc input_;
    std::vector<InputBuffer> inputs_;
    std::vector<OutputSpan> outputs_;

private:
    std::string name_;
    std::string kind_;
    bool prefetch_;
};

}  // namespace sc
