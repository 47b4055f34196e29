// The inner loops of the fused pass, compiled for AVX2 and a baseline with runtime dispatch.
#pragma once
#include <cstdint>

namespace sc {

// out[i] = sum_k weights[k] * rows[k][i] for i < n.
void blend_rows(const uint8_t* const* rows, const float* weights, int k, int n, float* out);

// out[x] = sum_j weights[x * width + j] * src[(start[x] + j) * step] for x < n.
void gather_taps(const float* src, int step, const int* start, const float* weights, int width, int n,
                 float* out);

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
void convert_f32(const float* in0, const float* in1, const float* in2, int n, int channels,
                 const ChannelMap& map, float* out);

}  // namespace sc

namespace sc {

// Bilinear in both axes straight from two source rows:
// out[x] = wy0 * (w0[x] * row0[offsets[x]] + w1[x] * row0[offsets[x] + step]) + wy1 * (same on row1).
// For x < vector_n the kernel may read 4 bytes from offsets[x] (callers keep that inside the rows).
void bilinear_samples(const uint8_t* row0, const uint8_t* row1, float wy0, float wy1, const int32_t* offsets,
                      const float* w0, const float* w1, int step, int n, int vector_n, float* out);

}  // namespace sc
