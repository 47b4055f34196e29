// Colour conversion and quantization of resampled rows, compiled for AVX2 and a baseline (runtime dispatch).
#pragma once
#include <cstdint>

#include "preprocess/fixed_rows.h"

namespace sc {

// Per output channel c: v = m[c] . (in0, in1, in2) + offset[c], clamped to [lo[c], hi[c]].
struct ChannelMap {
    float m[3][3];
    float offset[3];
    float lo[3];
    float hi[3];
};

// Converts n pixels into `channels` (1 or 3) interleaved outputs, rounding to the integer types.
void convert_u8(const float* in0, const float* in1, const float* in2, int n, int channels,
                const ChannelMap& map, uint8_t* out);
void convert_i8(const float* in0, const float* in1, const float* in2, int n, int channels,
                const ChannelMap& map, int8_t* out);
// The horizontal taps of n_in (1 or 3) channels from their blended rows, converted and quantized
// to uint8 (int8 when is_signed) like gather_taps_q6 followed by convert_u8/convert_i8, with the
// same result. Returns false, writing nothing, when no SIMD kernel applies (then use those two).
// `scratch`: a row of taps[c].count floats per input channel, which the kernel may use.
bool gather_convert_bytes(const int16_t* const* rows, const FixedTaps* taps, int n_in, int channels,
                          const ChannelMap& map, bool is_signed, float* const* scratch, uint8_t* out);

void convert_f32(const float* in0, const float* in1, const float* in2, int n, int channels,
                 const ChannelMap& map, float* out);

}  // namespace sc
