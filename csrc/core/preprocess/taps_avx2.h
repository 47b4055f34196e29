// AVX2 horizontal taps over Q6 blended rows, shared by the gather kernel (fixed_rows.cpp) and the
// fused gather + convert kernel (kernels.cpp). Include only where __x86_64__ && __GNUC__.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "preprocess/fixed_rows.h"

namespace sc {
namespace taps_avx2 {

// Eight 32-bit loads at src + index[j] + offset, inserted one by one: on Zen 4 this is about
// twice as fast as vpgatherdd, and on par with it on Intel cores.
__attribute__((target("avx2"))) inline __m256i load_pairs(const int16_t* src, const int32_t* index, int offset) {
    int32_t v[8];
    for (int j = 0; j < 8; ++j) std::memcpy(&v[j], src + index[j] + offset, 4);
    return _mm256_setr_epi32(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
}

// Output samples x .. x + 7 of one channel: the scalar kernel's integer sums as floats (times
// kPixelPerUnit, a power of two, they are pixel values).
__attribute__((target("avx2"))) inline __m256 gather8(const int16_t* src, const FixedTaps& t, int x) {
    const int32_t* idx = t.index + x;
    const size_t n = size_t(t.count);
    __m256i acc;
    if (t.pairs == 1 && t.step == 1) {  // bilinear on a planar row: one 32-bit load per sample
        acc = _mm256_madd_epi16(load_pairs(src, idx, 0), _mm256_loadu_si256((const __m256i*)(t.weights + x)));
    } else {
        acc = _mm256_setzero_si256();
        for (int q = 0; q < t.pairs; ++q) {
            const __m256i w = _mm256_loadu_si256((const __m256i*)(t.weights + size_t(q) * n + x));
            __m256i taps;
            if (t.step == 1) {  // both taps in one 32-bit load
                taps = load_pairs(src, idx, 2 * q);
            } else {
                const __m256i lo = load_pairs(src, idx, 2 * q * t.step);
                const __m256i hi = load_pairs(src, idx, (2 * q + 1) * t.step);
                taps = _mm256_blend_epi16(lo, _mm256_slli_epi32(hi, 16), 0xAA);
            }
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(taps, w));
        }
    }
    return _mm256_cvtepi32_ps(acc);
}

}  // namespace taps_avx2
}  // namespace sc
