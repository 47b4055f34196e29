#include "preprocess/kernels.h"

#include <algorithm>
#include <cmath>

#include "preprocess/fixed_rows.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "preprocess/taps_avx2.h"
#endif

// Not under TSan: ifunc resolvers run at relocation, before its runtime is up, and crash.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define SC_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SC_SIMD_CLONES
#endif

namespace sc {

namespace {

// Callers clamp v into the type's range first, so truncating v + 0.5 rounds half up.
inline uint8_t to_u8(float v) { return uint8_t(int(v + 0.5f)); }
inline int8_t to_i8(float v) { return int8_t(int(v + 128.5f) - 128); }
inline float to_f32(float v) { return v; }

// size_t indices: Python builds extensions with -fwrapv, which defeats vectorizing int indices.
template <typename T, int C, T (*Store)(float)>
inline __attribute__((always_inline)) void convert(const float* in0, const float* in1, const float* in2,
                                                   int n, const ChannelMap& map, T* out) {
    const ChannelMap m = map;  // a local copy: stores through T* may not alias it
    const size_t count = size_t(n);
    for (size_t x = 0; x < count; ++x) {
        const float a = in0[x], b = in1[x], c = in2[x];
        for (size_t ch = 0; ch < size_t(C); ++ch) {
            float v = m.m[ch][0] * a + m.m[ch][1] * b + m.m[ch][2] * c + m.offset[ch];
            v = std::min(std::max(v, m.lo[ch]), m.hi[ch]);
            out[x * C + ch] = Store(v);
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define SC_HAVE_AVX2_CONVERT 1

bool has_avx2() {
    static const bool yes = __builtin_cpu_supports("avx2");
    return yes;
}

// One output channel's coefficients as vectors, loaded once (byte stores could alias the map).
// m0..m2 are premultiplied by kPixelPerUnit, so they apply to the gathered sums directly: a power
// of two, it changes no rounding, and (sum * unit) * m == sum * (m * unit) exactly.
struct ChannelVectors {
    __m256 m0, m1, m2, offset, lo, hi;
};

__attribute__((target("avx2"))) inline ChannelVectors channel_vectors(const ChannelMap& m, int ch) {
    return {_mm256_set1_ps(m.m[ch][0] * kPixelPerUnit), _mm256_set1_ps(m.m[ch][1] * kPixelPerUnit),
            _mm256_set1_ps(m.m[ch][2] * kPixelPerUnit), _mm256_set1_ps(m.offset[ch]), _mm256_set1_ps(m.lo[ch]),
            _mm256_set1_ps(m.hi[ch])};
}

// Products of a channel's row that are zero in the map, and so skipped: adding an exact zero
// changes no value, so every variant computes what the scalar code does.
enum Terms { kAllTerms, kNoB, kNoC };

// One channel of 8 pixels from t = m0 * a, with the scalar code's operation order and rounding
// (truncating v + 0.5 after the clamp; `bias` adds 128 for int8, whose bytes are then flipped by
// 0x80). Without `Clamp` the caller has shown that the clamp is the byte type's whole range and
// that |v| stays far below 2^31: then the saturating packs clamp to the same bytes.
template <int T, bool Clamp>
__attribute__((target("avx2"))) inline __m256i channel_avx2(__m256 t, __m256 b, __m256 c, const ChannelVectors& m,
                                                            __m256 bias) {
    __m256 v = t;
    if (T != kNoB) v = _mm256_add_ps(v, _mm256_mul_ps(m.m1, b));
    if (T != kNoC) v = _mm256_add_ps(v, _mm256_mul_ps(m.m2, c));
    v = _mm256_add_ps(v, m.offset);
    if (Clamp) v = _mm256_min_ps(_mm256_max_ps(v, m.lo), m.hi);
    return _mm256_cvttps_epi32(_mm256_add_ps(v, bias));
}

// Converts and stores exactly 8 pixels (8 or 24 bytes) of 1- or 3-channel bytes.
struct ByteStore {
    __m256 bias;
    __m256i flip;
    ChannelVectors c0, c1, c2;
};

__attribute__((target("avx2"))) inline ByteStore byte_store(const ChannelMap& m, bool is_signed) {
    return {_mm256_set1_ps(is_signed ? 128.5f : 0.5f), _mm256_set1_epi8(is_signed ? char(0x80) : 0),
            channel_vectors(m, 0), channel_vectors(m, 1), channel_vectors(m, 2)};
}

// Which terms each of the three channels skips; `Shared`: every channel has the same m0 (YUV
// input: the luma gain), so m0 * a is computed once.
template <bool Shared, int T0, int T1, int T2, bool Clamp>
struct Pattern {};

template <bool Shared, int T0, int T1, int T2, bool Clamp>
__attribute__((target("avx2"))) inline void store8(__m256 a, __m256 b, __m256 c, int channels, const ByteStore& s,
                                                   uint8_t* out, Pattern<Shared, T0, T1, T2, Clamp>) {
    if (channels == 1) {
        const __m256i v = channel_avx2<T0, Clamp>(_mm256_mul_ps(s.c0.m0, a), b, c, s.c0, s.bias);
        __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(v, v), _mm256_setzero_si256());
        bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(_mm256_xor_si256(bytes, s.flip)));
        return;
    }
    // Per 128-bit lane: r0-3 g0-3 b0-3 b0-3 -> r0 g0 b0 r1 g1 b1 ... b3 and 4 spare bytes; then the
    // two lanes' 12 bytes are joined, so exactly 24 bytes are stored.
    const __m256i interleave = _mm256_setr_epi8(0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, 12, 13, 14, 15,
                                                0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, 12, 13, 14, 15);
    const __m256 t0 = _mm256_mul_ps(s.c0.m0, a);
    const __m256 t1 = Shared ? t0 : _mm256_mul_ps(s.c1.m0, a), t2 = Shared ? t0 : _mm256_mul_ps(s.c2.m0, a);
    const __m256i r = channel_avx2<T0, Clamp>(t0, b, c, s.c0, s.bias), g = channel_avx2<T1, Clamp>(t1, b, c, s.c1, s.bias),
                  bl = channel_avx2<T2, Clamp>(t2, b, c, s.c2, s.bias);
    __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(r, g), _mm256_packs_epi32(bl, bl));
    bytes = _mm256_xor_si256(_mm256_shuffle_epi8(bytes, interleave), s.flip);
    bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(bytes));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + 16), _mm256_extracti128_si256(bytes, 1));
}

// Where each input channel's gathered sums come from: taps gathered here from the blended rows,
// or rows of sums gathered beforehand (`pre`, by gather_row_permute).
struct Sums {
    const int16_t* const* rows;
    const FixedTaps* taps;
    const float* const* pre;  // null: gather here
};

__attribute__((target("avx2"))) inline __m256 sums8(const Sums& in, int c, int x) {
    return in.pre ? _mm256_loadu_ps(in.pre[c] + x) : taps_avx2::gather8(in.rows[c], in.taps[c], x);
}

// The horizontal taps of each input channel and the conversion, 8 output pixels at a time (the
// last step overlaps the previous one rather than leave a scalar tail), with no float row in
// between: the same arithmetic as gather_taps_q6 followed by convert_u8 / convert_i8.
template <typename P>
__attribute__((target("avx2"))) void gather_convert_loop(const Sums& in, int n_in, int channels, const ByteStore& s,
                                                         uint8_t* out, P pattern) {
    const int n = in.taps[0].count;
    for (int x = 0;; x += 8) {
        if (x + 8 > n) x = n - 8;
        const __m256 a = sums8(in, 0, x);
        const __m256 b = n_in == 3 ? sums8(in, 1, x) : a;
        const __m256 c = n_in == 3 ? sums8(in, 2, x) : a;
        store8(a, b, c, channels, s, out + size_t(x) * channels, pattern);
        if (x + 8 == n) return;
    }
}

template <bool Clamp>
__attribute__((target("avx2"))) void gather_convert_colour(const Sums& in, int n_in, int channels, const ChannelMap& m,
                                                           const ByteStore& s, uint8_t* out) {
    if (n_in == 3 && channels == 3 && m.m[0][0] == m.m[1][0] && m.m[1][0] == m.m[2][0] && m.m[1][1] != 0 &&
        m.m[1][2] != 0) {
        // YUV to RGB: R has no U term and B no V term (BGR: the other way round).
        if (m.m[0][1] == 0 && m.m[2][2] == 0)
            return gather_convert_loop(in, n_in, channels, s, out, Pattern<true, kNoB, kAllTerms, kNoC, Clamp>{});
        if (m.m[0][2] == 0 && m.m[2][1] == 0)
            return gather_convert_loop(in, n_in, channels, s, out, Pattern<true, kNoC, kAllTerms, kNoB, Clamp>{});
    }
    gather_convert_loop(in, n_in, channels, s, out, Pattern<false, kAllTerms, kAllTerms, kAllTerms, Clamp>{});
}

// True when clamping to [lo, hi] is what the saturating packs do anyway: the clamp is the byte
// type's whole range, and |v| < 2^30 for any sample (at most 256 on the pixel scale), so the
// conversion to int32 cannot overflow.
bool packs_clamp(const ChannelMap& m, int channels, bool is_signed) {
    const float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f;
    for (int c = 0; c < channels; ++c) {
        if (m.lo[c] != lo || m.hi[c] != hi) return false;
        const double bound = 256.0 * (std::fabs(m.m[c][0]) + std::fabs(m.m[c][1]) + std::fabs(m.m[c][2])) +
                             std::fabs(m.offset[c]) + 256.0;
        if (!(bound < double(1 << 30))) return false;
    }
    return true;
}

__attribute__((target("avx2"))) bool gather_convert_avx2(const int16_t* const* rows, const FixedTaps* taps, int n_in,
                                                         int channels, const ChannelMap& m, bool is_signed,
                                                         float* const* scratch, uint8_t* out) {
    if (taps[0].count < 8) return false;
    // Every channel's sums by permutes first when they all can (then the loop only loads them).
    bool permuted = true;
    for (int c = 0; c < n_in && permuted; ++c) permuted = gather_row_permute(rows[c], taps[c], 1.0f, scratch[c]);
    const Sums in{rows, taps, permuted ? scratch : nullptr};
    const ByteStore s = byte_store(m, is_signed);
    if (packs_clamp(m, channels, is_signed))
        gather_convert_colour<false>(in, n_in, channels, m, s, out);
    else
        gather_convert_colour<true>(in, n_in, channels, m, s, out);
    return true;
}
#endif

}  // namespace

bool gather_convert_bytes(const int16_t* const* rows, const FixedTaps* taps, int n_in, int channels,
                          const ChannelMap& map, bool is_signed, float* const* scratch, uint8_t* out) {
#ifdef SC_HAVE_AVX2_CONVERT
    if (simd_enabled() && has_avx2())
        return gather_convert_avx2(rows, taps, n_in, channels, map, is_signed, scratch, out);
#endif
    return false;
}

SC_SIMD_CLONES
void convert_u8(const float* in0, const float* in1, const float* in2, int n, int channels, const ChannelMap& map,
                uint8_t* out) {
    if (channels == 3)
        convert<uint8_t, 3, to_u8>(in0, in1, in2, n, map, out);
    else
        convert<uint8_t, 1, to_u8>(in0, in1, in2, n, map, out);
}

SC_SIMD_CLONES
void convert_i8(const float* in0, const float* in1, const float* in2, int n, int channels, const ChannelMap& map,
                int8_t* out) {
    if (channels == 3)
        convert<int8_t, 3, to_i8>(in0, in1, in2, n, map, out);
    else
        convert<int8_t, 1, to_i8>(in0, in1, in2, n, map, out);
}

SC_SIMD_CLONES
void convert_f32(const float* in0, const float* in1, const float* in2, int n, int channels,
                 const ChannelMap& map, float* out) {
    if (channels == 3)
        convert<float, 3, to_f32>(in0, in1, in2, n, map, out);
    else
        convert<float, 1, to_f32>(in0, in1, in2, n, map, out);
}

}  // namespace sc
