#include "preprocess/fixed_rows.h"

#include <algorithm>
#include <atomic>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "preprocess/taps_avx2.h"
#define SC_HAVE_AVX2_KERNELS 1
#endif

namespace sc {

namespace {

std::atomic<bool> simd_allowed{true};
std::atomic<bool> avx512_allowed{true};

inline int16_t mulhrs(int a, int b) { return int16_t((a * b + (1 << 14)) >> 15); }

struct Load8 {
    int operator()(const uint8_t* row, size_t i) const { return row[i] << kSampleBits; }
};

struct Load16 {
    SampleFormat f;
    int operator()(const uint8_t* row, size_t i) const {
        const int v = row[2 * i] | (row[2 * i + 1] << 8);  // little-endian on any host
        return ((v < f.max ? v : f.max) << f.left) >> f.right;
    }
};

template <typename Load>
void blend_scalar(const uint8_t* const* rows, const int16_t* weights, int k, size_t from, size_t n,
                  const Load& load, int16_t* out) {
    for (size_t i = from; i < n; ++i) {
        int sum = 0;
        for (int r = 0; r < k; ++r) sum += mulhrs(load(rows[r], i), weights[r]);
        out[i] = int16_t(sum);
    }
}

void gather_scalar(const int16_t* src, const FixedTaps& t, int from, float* out) {
    const size_t n = size_t(t.count), width = size_t(2 * t.pairs);
    for (size_t x = size_t(from); x < n; ++x) {
        const int16_t* p = src + t.index[x];
        int32_t sum = 0;
        for (size_t j = 0; j < width; ++j) {
            const int32_t pair = t.weights[(j / 2) * n + x];
            const int32_t w = (j & 1) ? (pair >> 16) : int16_t(pair & 0xFFFF);
            sum += w * p[j * size_t(t.step)];
        }
        out[x] = float(sum) * kPixelPerUnit;
    }
}

#ifdef SC_HAVE_AVX2_KERNELS
bool has_avx2() {
    static const bool yes = __builtin_cpu_supports("avx2");
    return yes;
}

// 16 samples from element i, as Q6 int16 lanes.
struct Avx8 {
    __attribute__((target("avx2"))) __m256i operator()(const uint8_t* row, size_t i) const {
        const __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i)));
        return _mm256_slli_epi16(v, kSampleBits);
    }
};

// 16-bit samples with the bits low (clamped, then shifted up) or high (shifted down).
struct Avx16Low {
    __m256i max;
    __m128i left;
    __attribute__((target("avx2"))) __m256i operator()(const uint8_t* row, size_t i) const {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * i));
        return _mm256_sll_epi16(_mm256_min_epu16(v, max), left);
    }
};

struct Avx16High {
    __m128i right;
    __attribute__((target("avx2"))) __m256i operator()(const uint8_t* row, size_t i) const {
        return _mm256_srl_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * i)), right);
    }
};

template <typename Load>
__attribute__((target("avx2"))) inline __m256i blend16_avx2(const uint8_t* const* rows, const int16_t* weights,
                                                             int k, size_t i, const Load& load) {
    __m256i acc = _mm256_setzero_si256();
    for (int r = 0; r < k; ++r)
        acc = _mm256_add_epi16(acc, _mm256_mulhrs_epi16(load(rows[r], i), _mm256_set1_epi16(weights[r])));
    return acc;
}

// Returns how many leading samples it wrote (all of them when n >= 16: the last step overlaps the
// previous one instead of leaving a scalar tail, and never reads before rows[r] or past rows[r] + n).
template <typename Load>
__attribute__((target("avx2"))) size_t blend_avx2(const uint8_t* const* rows, const int16_t* weights, int k, size_t n,
                                                  const Load& load, int16_t* out) {
    if (n < 16) return 0;
    if (k == 2) {
        const uint8_t *a = rows[0], *b = rows[1];
        const __m256i wa = _mm256_set1_epi16(weights[0]), wb = _mm256_set1_epi16(weights[1]);
        for (size_t i = 0;; i += 16) {
            if (i + 16 > n) i = n - 16;
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                                _mm256_add_epi16(_mm256_mulhrs_epi16(load(a, i), wa), _mm256_mulhrs_epi16(load(b, i), wb)));
            if (i + 16 == n) return n;
        }
    }
    // Any k: the first row writes, the others add (out stays in L1 between passes), then the last
    // partial step is recomputed whole, overlapping the previous one.
    const size_t full = n & ~size_t(15);
    for (int r = 0; r < k; ++r) {
        if (r > 0 && weights[r] == 0) continue;
        const uint8_t* row = rows[r];
        const __m256i w = _mm256_set1_epi16(weights[r]);
        for (size_t i = 0; i < full; i += 16) {
            __m256i* dst = reinterpret_cast<__m256i*>(out + i);
            const __m256i term = _mm256_mulhrs_epi16(load(row, i), w);
            _mm256_storeu_si256(dst, r == 0 ? term : _mm256_add_epi16(_mm256_loadu_si256(dst), term));
        }
    }
    if (full < n) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + n - 16), blend16_avx2(rows, weights, k, n - 16, load));
    return n;
}

bool has_avx512() {
    static const bool yes = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    return yes;
}

// The two-row blend (every bilinear output row) on 32 lanes: the same integers as blend_avx2, half
// the instructions per sample. Loads: 32 samples from element i, as Q6 int16 lanes.
struct Avx512x8 {
    __attribute__((target("avx2,avx512f,avx512bw"))) __m512i operator()(const uint8_t* row, size_t i) const {
        const __m512i v = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + i)));
        return _mm512_slli_epi16(v, kSampleBits);
    }
};

struct Avx512x16Low {
    __m512i max;
    __m128i left;
    __attribute__((target("avx2,avx512f,avx512bw"))) __m512i operator()(const uint8_t* row, size_t i) const {
        return _mm512_sll_epi16(_mm512_min_epu16(_mm512_loadu_si512(row + 2 * i), max), left);
    }
};

struct Avx512x16High {
    __m128i right;
    __attribute__((target("avx2,avx512f,avx512bw"))) __m512i operator()(const uint8_t* row, size_t i) const {
        return _mm512_srl_epi16(_mm512_loadu_si512(row + 2 * i), right);
    }
};

// All n samples when n >= 32 (the last step overlaps the previous one), else none.
template <typename Load>
__attribute__((target("avx2,avx512f,avx512bw"))) size_t blend2_avx512(const uint8_t* const* rows,
                                                                        const int16_t* weights, size_t n,
                                                                        const Load& load, int16_t* out) {
    if (n < 32) return 0;
    const uint8_t *a = rows[0], *b = rows[1];
    const __m512i wa = _mm512_set1_epi16(weights[0]), wb = _mm512_set1_epi16(weights[1]);
    for (size_t i = 0;; i += 32) {
        if (i + 32 > n) i = n - 32;
        _mm512_storeu_si512(out + i, _mm512_add_epi16(_mm512_mulhrs_epi16(load(a, i), wa), _mm512_mulhrs_epi16(load(b, i), wb)));
        if (i + 32 == n) return n;
    }
}

__attribute__((target("avx2,avx512f,avx512bw"))) size_t blend2_avx512_16(const uint8_t* const* rows,
                                                                           const int16_t* weights, size_t n,
                                                                           const SampleFormat& f, int16_t* out) {
    if (f.left == 0 && f.max == 0xFFFF) return blend2_avx512(rows, weights, n, Avx512x16High{_mm_cvtsi32_si128(f.right)}, out);
    if (f.right == 0)
        return blend2_avx512(rows, weights, n,
                             Avx512x16Low{_mm512_set1_epi16(int16_t(uint16_t(f.max))), _mm_cvtsi32_si128(f.left)}, out);
    return 0;
}

// Eight samples' tap pairs picked from the window at their first tap by one two-source permute
// (16-bit lanes), then one multiply-add: a few instructions where the AVX2 gather makes eight
// loads and inserts. W: the window's elements, 32 (two 256-bit loads) or 64 (two 512-bit loads).
// GCC 12's 512-to-256-bit casts read an "undefined" vector, which -Wuninitialized reports.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
template <int W>
__attribute__((target("avx2,avx512f,avx512bw,avx512vl"))) void permute_row(const int16_t* src, const FixedTaps& t,
                                                                            float scale, float* out) {
    const int n = t.count;
    const __m256i one = _mm256_set1_epi32(1);
    const __m256 factor = _mm256_set1_ps(scale);  // a power of two: the product is exact
    for (int x = 0;; x += 8) {
        if (x + 8 > n) x = n - 8;  // overlap the previous step rather than leave a tail
        const int32_t* idx = t.index + x;
        const int16_t* w = src + idx[0];
        const __m256i off = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i*)idx), _mm256_set1_epi32(idx[0]));
        // Lane pair (2j, 2j + 1) of sample j: elements off_j and off_j + 1 of the window.
        const __m256i perm = _mm256_or_si256(off, _mm256_slli_epi32(_mm256_add_epi32(off, one), 16));
        __m256i taps;
        if (W == 32) {
            taps = _mm256_permutex2var_epi16(_mm256_loadu_si256((const __m256i*)w), perm,
                                             _mm256_loadu_si256((const __m256i*)(w + 16)));
        } else {
            taps = _mm512_castsi512_si256(_mm512_permutex2var_epi16(
                _mm512_loadu_si512(w), _mm512_zextsi256_si512(perm), _mm512_loadu_si512(w + 32)));
        }
        const __m256i acc = _mm256_madd_epi16(taps, _mm256_loadu_si256((const __m256i*)(t.weights + x)));
        _mm256_storeu_ps(out + x, _mm256_mul_ps(_mm256_cvtepi32_ps(acc), factor));
        if (x + 8 == n) return;
    }
}
#pragma GCC diagnostic pop

__attribute__((target("avx2"))) int gather_avx2(const int16_t* src, const FixedTaps& t, float* out) {
    const int n = t.count;
    if (n < 8) return 0;
    for (int x = 0;; x += 8) {
        if (x + 8 > n) x = n - 8;  // overlap the previous step rather than leave a tail
        _mm256_storeu_ps(out + x, _mm256_mul_ps(taps_avx2::gather8(src, t, x), _mm256_set1_ps(kPixelPerUnit)));
        if (x + 8 == n) return n;
    }
}
#endif

}  // namespace

SampleFormat sample_format(int bytes, int bits, bool high_aligned) {
    SampleFormat f;
    f.bytes = bytes;
    if (bytes == 1) {
        f.max = 0xFF;
        f.left = kSampleBits;
    } else if (high_aligned) {
        f.right = 16 - (8 + kSampleBits);  // the top 14 bits: v >> 2
    } else {
        f.max = (1 << bits) - 1;  // stray high bits would overflow the int16 lanes
        f.left = 8 + kSampleBits - bits;
    }
    return f;
}

#ifdef SC_HAVE_AVX2_KERNELS
namespace {

__attribute__((target("avx2"))) size_t blend16_dispatch(const uint8_t* const* rows, const int16_t* weights, int k,
                                                        size_t n, const SampleFormat& f, int16_t* out) {
    if (k == 2 && avx512_enabled() && has_avx512()) {
        if (const size_t done = blend2_avx512_16(rows, weights, n, f, out)) return done;
    }
    if (f.left == 0 && f.max == 0xFFFF)
        return blend_avx2(rows, weights, k, n, Avx16High{_mm_cvtsi32_si128(f.right)}, out);
    if (f.right == 0)
        return blend_avx2(rows, weights, k, n, Avx16Low{_mm256_set1_epi16(int16_t(uint16_t(f.max))), _mm_cvtsi32_si128(f.left)},
                          out);
    return 0;
}

}  // namespace
#endif

void blend_rows_q6(const uint8_t* const* rows, const int16_t* weights, int k, size_t n, const SampleFormat& format,
                   int16_t* out) {
    size_t done = 0;
    if (format.bytes == 1) {
#ifdef SC_HAVE_AVX2_KERNELS
        if (simd_enabled() && k == 2 && avx512_enabled() && has_avx512()) done = blend2_avx512(rows, weights, n, Avx512x8{}, out);
        if (simd_enabled() && has_avx2() && !done) done = blend_avx2(rows, weights, k, n, Avx8{}, out);
#endif
        blend_scalar(rows, weights, k, done, n, Load8{}, out);
        return;
    }
#ifdef SC_HAVE_AVX2_KERNELS
    if (simd_enabled() && has_avx2()) done = blend16_dispatch(rows, weights, k, n, format, out);
#endif
    blend_scalar(rows, weights, k, done, n, Load16{format}, out);
}

void gather_taps_q6(const int16_t* src, const FixedTaps& taps, float* out) {
    int done = 0;
#ifdef SC_HAVE_AVX2_KERNELS
    if (gather_row_permute(src, taps, kPixelPerUnit, out)) return;
    if (simd_enabled() && has_avx2()) done = gather_avx2(src, taps, out);
#endif
    gather_scalar(src, taps, done, out);
}

bool gather_row_permute(const int16_t* src, const FixedTaps& taps, float scale, float* out) {
#ifdef SC_HAVE_AVX2_KERNELS
    if (taps.window8 <= 0 || taps.window8 > 64 || taps.count < 8 || !simd_enabled() || !avx512_enabled() ||
        !has_avx512())
        return false;
    if (taps.window8 <= 32)
        permute_row<32>(src, taps, scale, out);
    else
        permute_row<64>(src, taps, scale, out);
    return true;
#else
    (void)src, (void)taps, (void)scale, (void)out;
    return false;
#endif
}

int permute_window(const FixedTaps& t) {
    if (t.pairs != 1 || t.step != 1 || t.count < 8) return 0;
    for (int x = 1; x < t.count; ++x)
        if (t.index[x] < t.index[x - 1]) return 0;
    int widest = 0;
    for (int x = 0; x + 8 <= t.count; ++x) widest = std::max(widest, t.index[x + 7] + 2 - t.index[x]);
    return widest;
}

bool set_simd_enabled(bool enabled) { return simd_allowed.exchange(enabled, std::memory_order_relaxed); }
bool simd_enabled() { return simd_allowed.load(std::memory_order_relaxed); }
bool set_avx512_enabled(bool enabled) { return avx512_allowed.exchange(enabled, std::memory_order_relaxed); }
bool avx512_enabled() { return avx512_allowed.load(std::memory_order_relaxed); }

}  // namespace sc
