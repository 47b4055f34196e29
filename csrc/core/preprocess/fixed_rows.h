// Fixed-point resampling: per output row, blend the source rows vertically into an int16 row of
// samples x64 (Q6), then gather each output sample's horizontal taps from that row. AVX2 with a
// scalar baseline chosen at run time; both compute exactly the same integers.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sc {

constexpr int kSampleBits = 6;      // blended samples are pixel * 64
constexpr int kRowWeightBits = 15;  // vertical weights, below 1 << 15
constexpr int kTapWeightBits = 14;  // horizontal weights, at most 1 << 14

// out[i] = sum_k round((rows[k][i] * 64 * weights[k]) / 2^15) for i < n (the rounding of vpmulhrsw).
// Reads exactly rows[k][0..n), nothing beyond.
void blend_rows_q6(const uint8_t* const* rows, const int16_t* weights, int k, size_t n, int16_t* out);

// The horizontal taps of one channel, in blended-row elements.
struct FixedTaps {
    int count = 0;                      // output samples
    int pairs = 0;                      // taps per sample / 2 (an odd width gets a zero-weight tap)
    int step = 1;                       // elements between neighbouring samples of the channel
    const int32_t* index = nullptr;     // element of each output sample's first tap
    const int32_t* weights = nullptr;   // [pair][x]: Q14 weight of tap 2q in the low, 2q+1 in the high half
};

// out[x] = (sum_j w_j * src[index[x] + j * step]) / 2^20, i.e. a pixel value, for x < count.
// Reads src elements up to index[x] + 2 * pairs * step (one past the last tap: 32-bit loads), so
// callers pad src by at least 2 * step + 2 initialised elements.
void gather_taps_q6(const int16_t* src, const FixedTaps& taps, float* out);

// Test hook: false forces the scalar baseline (to compare it with the SIMD kernels).
void set_simd_enabled(bool enabled);
bool simd_enabled();

}  // namespace sc
