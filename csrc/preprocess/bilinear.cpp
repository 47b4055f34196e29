// The bilinear fast path: AVX2 gathers fetch both horizontal taps of 8 samples in one 32-bit load.
#include <immintrin.h>

#include "preprocess/kernels.h"

namespace sc {

namespace {

void bilinear_scalar(const uint8_t* row0, const uint8_t* row1, float wy0, float wy1, const int32_t* offsets,
                     const float* w0, const float* w1, int step, int from, int n, float* out) {
    for (int x = from; x < n; ++x) {
        const uint8_t* a = row0 + offsets[x];
        const uint8_t* b = row1 + offsets[x];
        const float top = w0[x] * a[0] + w1[x] * a[step];
        const float bottom = w0[x] * b[0] + w1[x] * b[step];
        out[x] = wy0 * top + wy1 * bottom;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) int bilinear_avx2(const uint8_t* row0, const uint8_t* row1, float wy0, float wy1,
                                                  const int32_t* offsets, const float* w0, const float* w1, int step,
                                                  int vector_n, float* out) {
    const __m256i low_byte = _mm256_set1_epi32(0xFF);
    const __m128i shift = _mm_cvtsi32_si128(8 * step);
    const __m256 vy0 = _mm256_set1_ps(wy0), vy1 = _mm256_set1_ps(wy1);
    int x = 0;
    for (; x + 8 <= vector_n; x += 8) {
        const __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(offsets + x));
        const __m256i g0 = _mm256_i32gather_epi32(reinterpret_cast<const int*>(row0), idx, 1);
        const __m256i g1 = _mm256_i32gather_epi32(reinterpret_cast<const int*>(row1), idx, 1);
        const __m256 a0 = _mm256_cvtepi32_ps(_mm256_and_si256(g0, low_byte));
        const __m256 a1 = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srl_epi32(g0, shift), low_byte));
        const __m256 b0 = _mm256_cvtepi32_ps(_mm256_and_si256(g1, low_byte));
        const __m256 b1 = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srl_epi32(g1, shift), low_byte));
        const __m256 wa = _mm256_loadu_ps(w0 + x), wb = _mm256_loadu_ps(w1 + x);
        const __m256 top = _mm256_add_ps(_mm256_mul_ps(wa, a0), _mm256_mul_ps(wb, a1));
        const __m256 bottom = _mm256_add_ps(_mm256_mul_ps(wa, b0), _mm256_mul_ps(wb, b1));
        _mm256_storeu_ps(out + x, _mm256_add_ps(_mm256_mul_ps(vy0, top), _mm256_mul_ps(vy1, bottom)));
    }
    return x;
}

bool has_avx2() {
    static const bool yes = __builtin_cpu_supports("avx2");
    return yes;
}
#endif

}  // namespace

void bilinear_samples(const uint8_t* row0, const uint8_t* row1, float wy0, float wy1, const int32_t* offsets,
                      const float* w0, const float* w1, int step, int n, int vector_n, float* out) {
    int done = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (step < 4 && has_avx2()) done = bilinear_avx2(row0, row1, wy0, wy1, offsets, w0, w1, step, vector_n, out);
#endif
    bilinear_scalar(row0, row1, wy0, wy1, offsets, w0, w1, step, done, n, out);
}

}  // namespace sc
