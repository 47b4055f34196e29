// A tensor that already has the model input's shape, dtype and quantization (a Frigate ZMQ
// request, say): no preprocessing, one copy from the caller's buffer into the device input.
#pragma once
#include <cstddef>
#include <cstdint>

#include "preprocess/frame.h"

namespace sc {

// InputError unless `bytes` is exactly the input's size (the only check the core can make on
// untyped bytes; dtype and shape are checked by the caller, who knows them).
void check_raw_tensor(std::size_t bytes, const TensorDesc& input);

// Copies `data` into `input` and returns the identity geometry (frame = tensor).
Geometry copy_raw_tensor(const uint8_t* data, std::size_t bytes, const TensorDesc& input);

}  // namespace sc
