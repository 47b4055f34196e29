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
// A gathered sum (Q6 samples times Q14 weights) times this is a pixel value.
constexpr float kPixelPerUnit = 1.0f / float(1 << (kSampleBits + kTapWeightBits));

// How a row's samples become Q6 (pixel * 64 on the 8-bit scale): 8-bit samples are shifted up by 6;
// little-endian 16-bit samples are clamped to `max`, shifted left by `left`, then right by `right`
// (10-bit in the low bits: min(v, 1023) << 4; in the high bits, or 16-bit: v >> 2).
struct SampleFormat {
    int bytes = 1;
    int max = 0xFFFF;
    int left = 0;
    int right = 0;
};

SampleFormat sample_format(int bytes, int bits, bool high_aligned);

// out[i] = sum_k round((q6(rows[k][i]) * weights[k]) / 2^15) for i < n (the rounding of vpmulhrsw).
// Reads exactly bytes [0, n * format.bytes) of each row, nothing beyond.
void blend_rows_q6(const uint8_t* const* rows, const int16_t* weights, int k, size_t n, const SampleFormat& format,
                   int16_t* out);

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
