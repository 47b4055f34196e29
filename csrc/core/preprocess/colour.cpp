#include "preprocess/colour.h"

#include <algorithm>
#include <cmath>

#include "common/errors.h"
#include "preprocess/frame_layout.h"

namespace sc {

namespace {

struct Affine3 {
    double m[3][3] = {};
    double offset[3] = {};
};

// Pixel values (0..255, before clamping) of the tensor's channels as a function of the input samples.
Affine3 pixel_map(const Frame& frame, int out_channels) {
    const double kr = frame.matrix == Matrix::BT709 ? 0.2126 : 0.299;
    const double kb = frame.matrix == Matrix::BT709 ? 0.0722 : 0.114;
    const double kg = 1 - kr - kb;
    Affine3 a;
    if (is_yuv(frame.format)) {
        const bool full = frame.range == Range::Full;
        const double ys = full ? 1.0 : 255.0 / 219.0, yo = full ? 0.0 : -16.0 * ys;
        const double cs = full ? 1.0 : 255.0 / 224.0;
        const double rv = 2 * (1 - kr) * cs, bu = 2 * (1 - kb) * cs;
        const double gu = 2 * kb * (1 - kb) / kg * cs, gv = 2 * kr * (1 - kr) / kg * cs;
        if (out_channels == 1) {
            a.m[0][0] = ys;
            a.offset[0] = yo;
            return a;
        }
        const double rows[3][3] = {{ys, 0, rv}, {ys, -gu, -gv}, {ys, bu, 0}};
        for (int c = 0; c < 3; ++c) {
            for (int j = 0; j < 3; ++j) a.m[c][j] = rows[c][j];
            a.offset[c] = yo - 128.0 * (rows[c][1] + rows[c][2]);
        }
        return a;
    }
    if (is_gray(frame.format)) {
        for (int c = 0; c < out_channels; ++c) a.m[c][0] = 1;
        return a;
    }
    if (out_channels == 1) {
        a.m[0][0] = kr;
        a.m[0][1] = kg;
        a.m[0][2] = kb;
        return a;
    }
    for (int c = 0; c < 3; ++c) a.m[c][c] = 1;
    return a;
}

}  // namespace

OutputMap make_output_map(const Frame& frame, const TensorDesc& tensor, const PreprocessParams& params) {
    if (!(params.std != 0.0f) || !std::isfinite(params.std) || !std::isfinite(params.mean))
        throw InputError("std must be a finite non-zero number and mean finite; the defaults mean=128, std=128 suit most models");
    // tensor value = alpha * pixel + beta
    double alpha = 1.0 / params.std, beta = -double(params.mean) / params.std;
    double lo = -INFINITY, hi = INFINITY;
    if (tensor.dtype != DType::Float32) {
        if (tensor.scale > 0) {
            alpha /= tensor.scale;
            beta = beta / tensor.scale + tensor.zero_point;
        } else if (tensor.scale == 0) {  // not quantized: raw pixels (int8 centred on 0)
            alpha = 1;
            beta = tensor.dtype == DType::Int8 ? -128 : 0;
        } else {
            throw InputError("tensor scale must be >= 0 (0 means not quantized)");
        }
        lo = tensor.dtype == DType::Int8 ? -128 : 0;
        hi = tensor.dtype == DType::Int8 ? 127 : 255;
    }
    const int channels = tensor.channels;
    const Affine3 pixels = pixel_map(frame, channels);
    const double at0 = beta, at255 = alpha * 255 + beta;
    const double clamp_lo = std::max(std::min(at0, at255), lo), clamp_hi = std::min(std::max(at0, at255), hi);
    OutputMap map{};
    for (int c = 0; c < channels; ++c) {
        const int from = (params.bgr && channels == 3) ? 2 - c : c;
        for (int j = 0; j < 3; ++j) map.channels.m[c][j] = float(alpha * pixels.m[from][j]);
        map.channels.offset[c] = float(alpha * pixels.offset[from] + beta);
        map.channels.lo[c] = float(clamp_lo);
        map.channels.hi[c] = float(std::max(clamp_lo, clamp_hi));
    }
    double pad = std::min(std::max(alpha * params.pad_value + beta, clamp_lo), clamp_hi);
    if (tensor.dtype != DType::Float32) pad = std::floor(pad + 0.5);
    map.pad = float(pad);
    return map;
}

}  // namespace sc
