// The fused frame -> model input pass: colour conversion, geometry, resampling and
// quantization in one sweep over the output tensor.
#pragma once
#include "preprocess/frame.h"

namespace sc {

// Where the frame (or its ROI) lands in the tensor. Throws RoiError for an ROI outside
// the frame and InputError for impossible sizes.
Geometry plan_geometry(int frame_w, int frame_h, int tensor_w, int tensor_h,
                       const PreprocessParams& params);

// Writes the whole tensor (padding included). Never reads outside the frame's planes.
// Safe to call without the GIL. Throws InputError / RoiError.
Geometry preprocess(const Frame& frame, const TensorDesc& out, const PreprocessParams& params);

}  // namespace sc
