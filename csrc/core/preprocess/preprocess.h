// The fused frame -> model input pass: colour conversion, geometry, resampling and
// quantization in one sweep over the output tensor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "preprocess/frame.h"

namespace sc {

// The largest image input a model may have: a side over 8192 pixels or more than 256 MiB is a
// corrupt or mistaken model, refused before anything that size is allocated.
constexpr int64_t kMaxTensorSide = 8192;
constexpr int64_t kMaxInputBytes = int64_t(256) << 20;

// Checks an image input [1, height, width, channels] of `dtype` against the limits above, in
// 64 bits before any narrowing; throws ModelError naming `what` (the model or device) and the limit.
void check_input_shape(int64_t height, int64_t width, int64_t channels, DType dtype, const std::string& what);

// A quantized input's zero point as an int; ModelError unless it is a value of `dtype`
// (0..255 for uint8, -128..127 for int8). Float inputs ignore it (returned as 0 if out of range).
int checked_zero_point(int64_t zero_point, DType dtype, const std::string& what);

// Where the frame (or its ROI) lands in the tensor. Throws RoiError for an ROI outside
// the frame and InputError for impossible sizes.
Geometry plan_geometry(int frame_w, int frame_h, int tensor_w, int tensor_h,
                       const PreprocessParams& params);

// Writes the whole tensor (padding included). Never reads outside the frame's planes.
// Safe to call without the GIL. Throws InputError / RoiError.
Geometry preprocess(const Frame& frame, const TensorDesc& out, const PreprocessParams& params);

}  // namespace sc
