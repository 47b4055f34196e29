#include "preprocess/kernels.h"

#include <algorithm>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
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

}  // namespace

SC_SIMD_CLONES
void convert_u8(const float* in0, const float* in1, const float* in2, int n, int channels,
                const ChannelMap& map, uint8_t* out) {
    if (channels == 3)
        convert<uint8_t, 3, to_u8>(in0, in1, in2, n, map, out);
    else
        convert<uint8_t, 1, to_u8>(in0, in1, in2, n, map, out);
}

SC_SIMD_CLONES
void convert_i8(const float* in0, const float* in1, const float* in2, int n, int channels,
                const ChannelMap& map, int8_t* out) {
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
