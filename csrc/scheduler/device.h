// A device is one interpreter bound to one accelerator or one CPU worker thread.
#pragma once
#include <pybind11/pybind11.h>

#include <atomic>
#include <cstddef>
#include <string>
#include <vector>

#include "preprocess/frame.h"

namespace sc {

struct OutputSlot {
    const void* data;   // the interpreter's output tensor buffer
    std::size_t bytes;
    std::size_t offset;  // where it goes in an output block
};

class Device {
public:
    // `owner` keeps the Python interpreter alive; `keepalive` (delegates, TPU contexts)
    // is released after it, in order, because the interpreter refers to them.
    Device(std::string name, std::uintptr_t interpreter, pybind11::object owner,
           TensorDesc input, std::vector<OutputSlot> outputs, pybind11::list keepalive,
           bool prefetch);
    ~Device();  // called with the GIL held
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    const std::string& name() const { return name_; }
    const TensorDesc& input() const { return input_; }
    const std::vector<OutputSlot>& outputs() const { return outputs_; }
    std::size_t output_bytes() const;
    // Accelerators leave the host idle during invoke: the next frame is preprocessed then.
    bool prefetch() const { return prefetch_; }

    // Worker thread only, without the GIL. Throws InferenceError.
    void invoke();

    std::atomic<uint64_t> frames{0};
    std::atomic<uint64_t> errors{0};
    std::atomic<uint64_t> busy_ns{0};

private:
    std::string name_;
    void* interpreter_;
    pybind11::object owner_;
    TensorDesc input_;
    std::vector<OutputSlot> outputs_;
    pybind11::list keepalive_;
    bool prefetch_;
};

}  // namespace sc
