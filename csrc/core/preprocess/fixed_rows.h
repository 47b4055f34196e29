// Fixed-point resampling: per output row, blend the source rows vertically into an int16 row of
// samples x64 (Q6), then gather each output sample's horizontal taps from that row. AVX2, and
// AVX-512 for two-row blends and narrow tap windows, with a scalar baseline chosen at run time;
// all compute exactly the same integers.
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
    // Elements from the first tap of any 8 consecutive samples to one past their last (bilinear taps
    // on a planar row whose indices never decrease; 0 otherwise): the permute gather's window.
    int window8 = 0;
};

// window8 for taps whose index[] is set (see FixedTaps).
int permute_window(const FixedTaps& taps);

// Elements a blended row needs past its last tap: the gathers' loads (the permute gather reads a
// 64-element window from each group's first tap).
constexpr size_t kRowPadding = 64;

// out[x] = (sum_j w_j * src[index[x] + j * step]) / 2^20, i.e. a pixel value, for x < count.
// Reads src elements up to index[x] + kRowPadding, so callers pad src by kRowPadding initialised
// elements.
void gather_taps_q6(const int16_t* src, const FixedTaps& taps, float* out);

// The same sums times `scale` (kPixelPerUnit gives pixel values; 1 the raw sums, which the fused
// convert takes), through AVX-512 permutes of a window of the row instead of one load per tap:
// false, writing nothing, unless the CPU has AVX-512BW/VL and 0 < taps.window8 <= 64.
bool gather_row_permute(const int16_t* src, const FixedTaps& taps, float scale, float* out);

// Test hooks, returning the previous setting: false forces the scalar baseline (to compare it with
// the SIMD kernels); false for AVX-512 leaves the AVX2 kernels (to compare the two).
bool set_simd_enabled(bool enabled);
bool simd_enabled();
bool set_avx512_enabled(bool enabled);
bool avx512_enabled();

}  // namespace sc
