// Folds colour conversion, normalization and quantization into one affine map per channel.
#pragma once
#include "preprocess/frame.h"
#include "preprocess/kernels.h"

namespace sc {

struct OutputMap {
    ChannelMap channels;  // from resampled input samples to tensor values
    float pad;            // params.pad_value as a tensor value (already rounded for integer types)
};

// Input samples are (Y, U, V) for YUV formats, (R, G, B) for packed RGB, (gray, -, -) for gray8.
OutputMap make_output_map(const Frame& frame, const TensorDesc& tensor, const PreprocessParams& params);

}  // namespace sc
