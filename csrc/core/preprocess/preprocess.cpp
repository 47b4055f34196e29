// Orchestrates one call: per output row, blend the source rows it needs (vertical taps over the
// columns in use), gather each channel's horizontal taps, then convert and quantize only the
// output pixels (for byte outputs, gather and conversion are one SIMD pass, 8 pixels at a time).
// Resampling happens before colour conversion, which is affine and so exact. The taps of a
// thread's last few layouts are kept between calls.
#include "preprocess/preprocess.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "common/errors.h"
#include "preprocess/colour.h"
#include "preprocess/fixed_rows.h"
#include "preprocess/frame_layout.h"
#include "preprocess/kernels.h"
#include "preprocess/plan.h"
#include "preprocess/taps.h"

namespace sc {

namespace {

struct Channel {
    int plane = 0;
    int offset = 0;  // element within a sample
};

struct PlaneUse {
    bool used = false;
    bool chroma = false;
    int step = 1;  // elements (8- or 16-bit) per sample
};

// What the taps and tables of a call depend on: a call with the same key reuses them.
struct LayoutKey {
    int frame_w = 0, frame_h = 0, tensor_w = 0, tensor_h = 0, channels = 0;
    PixelFormat format = PixelFormat::RGB24;
    Fit fit = Fit::Stretch;
    Filter filter = Filter::Bilinear;
    Roi roi;

    bool operator==(const LayoutKey& o) const {
        return frame_w == o.frame_w && frame_h == o.frame_h && tensor_w == o.tensor_w && tensor_h == o.tensor_h &&
               channels == o.channels && format == o.format && fit == o.fit && filter == o.filter &&
               roi.x == o.roi.x && roi.y == o.roi.y && roi.w == o.roi.w && roi.h == o.roi.h;
    }
};

// The taps and fixed-point tables of one layout.
struct Layout {
    LayoutKey key;
    uint64_t used = 0;  // when last used, for eviction; 0: empty
    Plan plan;
    Channel channels[3];
    PlaneUse planes[3];
    int n_in = 0;
    FixedTaps fixed[3];
    size_t span[3] = {0, 0, 0};  // elements of each source row the taps touch
    Taps x_luma, y_luma, x_chroma, y_chroma;
    std::vector<int16_t> row_weights[2];  // Q15 vertical weights: luma, chroma
    std::vector<int32_t> tap_weights[2];  // Q14 horizontal weight pairs: luma, chroma
    std::vector<int32_t> tap_first[3];    // per input channel
};

// Reused across calls on the same thread: no heap traffic once warmed up. The last few layouts
// are kept, so a worker that serves streams of a few sizes (or models) in turn builds no taps.
struct Scratch {
    static constexpr int kLayouts = 4;
    Layout layouts[kLayouts];
    uint64_t clock = 0;
    std::vector<int16_t> blended[3];  // per plane, Q6
    std::vector<float> samples[3];
    std::vector<const uint8_t*> rows;
};

thread_local Scratch scratch;

size_t element_size(DType dtype) { return dtype == DType::Float32 ? 4 : 1; }

void check_tensor(const TensorDesc& t) {
    if (!t.data) throw InputError("the output tensor has no data pointer");
    if (t.height <= 0 || t.width <= 0)
        throw InputError("the output tensor must have a positive height and width");
    if (t.channels != 1 && t.channels != 3)
        throw InputError("the output tensor has " + std::to_string(t.channels) +
                         " channels; preprocess writes 1 (luma) or 3 (RGB/BGR)");
    checked_zero_point(t.zero_point, t.dtype, "the output tensor");
    size_t need = 0;
    if (__builtin_mul_overflow(size_t(t.height), size_t(t.width), &need) ||
        __builtin_mul_overflow(need, size_t(t.channels) * element_size(t.dtype), &need))
        throw InputError("the output tensor " + std::to_string(t.height) + "x" + std::to_string(t.width) +
                         " is too large to address");
    if (t.bytes < need)
        throw InputError("the output tensor holds " + std::to_string(t.bytes) + " bytes but " +
                         std::to_string(t.height) + "x" + std::to_string(t.width) + "x" +
                         std::to_string(t.channels) + " needs " + std::to_string(need));
}

// Input channels in the order colour.h expects: (Y, U, V), (R, G, B) or (gray).
int input_channels(const Frame& frame, int out_channels, Channel* ch, PlaneUse* planes) {
    const PixelFormat f = frame.format;
    const FormatInfo& info = format_info(f);
    if (info.yuv) {
        planes[0] = {true, false, 1};
        ch[0] = {0, 0};
        if (out_channels == 1) return 1;
        if (!info.interleaved_chroma) {
            planes[1] = {true, true, 1};
            planes[2] = {true, true, 1};
            ch[1] = {1, 0};
            ch[2] = {2, 0};
        } else {
            planes[1] = {true, true, 2};
            const bool vu = f == PixelFormat::NV21;
            ch[1] = {1, vu ? 1 : 0};
            ch[2] = {1, vu ? 0 : 1};
        }
        return 3;
    }
    if (info.gray) {
        planes[0] = {true, false, 1};
        ch[0] = {0, 0};
        return 1;
    }
    planes[0] = {true, false, bytes_per_pixel(f)};
    const bool swapped = f == PixelFormat::BGR24 || f == PixelFormat::BGRA;
    for (int c = 0; c < 3; ++c) ch[c] = {0, swapped ? 2 - c : c};
    return 3;
}

template <typename T>
void fill(T* out, size_t n, T value) {
    std::fill(out, out + n, value);
}

void fill_pad(void* out, DType dtype, size_t n, float pad) {
    switch (dtype) {
        case DType::UInt8: fill(static_cast<uint8_t*>(out), n, uint8_t(int(pad))); break;
        case DType::Int8: fill(static_cast<int8_t*>(out), n, int8_t(int(pad))); break;
        case DType::Float32: fill(static_cast<float*>(out), n, pad); break;
    }
}

void convert_row(const float* const* in, int n, int channels, const ChannelMap& map, DType dtype, void* out) {
    switch (dtype) {
        case DType::UInt8: convert_u8(in[0], in[1], in[2], n, channels, map, static_cast<uint8_t*>(out)); break;
        case DType::Int8: convert_i8(in[0], in[1], in[2], n, channels, map, static_cast<int8_t*>(out)); break;
        case DType::Float32: convert_f32(in[0], in[1], in[2], n, channels, map, static_cast<float*>(out)); break;
    }
}

int16_t to_fixed(float weight, int bits) {
    const int one = 1 << bits;
    const int v = int(weight * one + 0.5f);
    return int16_t(v < one ? v : (bits == kRowWeightBits ? one - 1 : one));  // Q15 cannot hold 1.0
}

// Q14 horizontal weights of one axis as pairs, laid out [pair][x] for the gather kernel.
void fix_tap_weights(const Taps& t, std::vector<int32_t>& pairs) {
    const size_t n = size_t(t.count);
    pairs.assign(size_t(t.width + 1) / 2 * n, 0);
    for (size_t x = 0; x < n; ++x)
        for (size_t j = 0; j < size_t(t.width); ++j) {
            const int32_t w = uint16_t(to_fixed(t.weights[x * t.width + j], kTapWeightBits));
            pairs[(j / 2) * n + x] |= (j & 1) ? w << 16 : w;
        }
}

// Blended-row element of each output sample's first tap, for a channel at `offset` within samples of `step`.
void fix_tap_first(const Taps& t, int step, int offset, std::vector<int32_t>& first) {
    first.resize(size_t(t.count));
    for (size_t x = 0; x < first.size(); ++x) first[x] = int32_t(t.start[x] - t.lowest) * step + offset;
}

void fix_vertical(const Taps& t, std::vector<int16_t>& weights) {
    weights.resize(t.weights.size());
    for (size_t i = 0; i < weights.size(); ++i) weights[i] = to_fixed(t.weights[i], kRowWeightBits);
}

}  // namespace

void check_input_shape(int64_t height, int64_t width, int64_t channels, DType dtype, const std::string& what) {
    const std::string shape = "[1, " + std::to_string(height) + ", " + std::to_string(width) + ", " +
                              std::to_string(channels) + "]";
    if (height <= 0 || width <= 0 || channels <= 0)
        throw ModelError(what + ": image input " + shape + " has an empty or unknown dimension; "
                         "streamcore needs a fixed [1, height, width, channels] input");
    if (height > kMaxTensorSide || width > kMaxTensorSide)
        throw ModelError(what + ": image input " + shape + " has a side over the limit of " +
                         std::to_string(kMaxTensorSide) + " pixels; the model is corrupt or not a "
                         "frame model (resize its input)");
    const int64_t bytes = height * width * channels * int64_t(element_size(dtype));  // <= 8192^2 * c * 4
    if (channels > 4 || bytes > kMaxInputBytes)
        throw ModelError(what + ": image input " + shape + " needs " + std::to_string(bytes) +
                         " bytes, over the limit of " + std::to_string(kMaxInputBytes >> 20) +
                         " MiB per input; the model is corrupt or not a frame model");
}

int checked_zero_point(int64_t zero_point, DType dtype, const std::string& what) {
    if (dtype == DType::Float32) return (zero_point >= INT32_MIN && zero_point <= INT32_MAX) ? int(zero_point) : 0;
    const int64_t lo = dtype == DType::Int8 ? -128 : 0, hi = dtype == DType::Int8 ? 127 : 255;
    if (zero_point < lo || zero_point > hi)
        throw ModelError(what + ": zero point " + std::to_string(zero_point) + " is not a " +
                         (dtype == DType::Int8 ? "int8" : "uint8") + " value (" + std::to_string(lo) + ".." +
                         std::to_string(hi) + "); the model's input quantization is corrupt");
    return int(zero_point);
}

namespace {

// Builds the taps and fixed-point tables of a layout into `l` (throws RoiError or InputError first).
void prepare(Layout& l, const Frame& frame, const TensorDesc& out, const PreprocessParams& params) {
    l.used = 0;
    const Plan plan = make_plan(frame.width, frame.height, out.width, out.height, params);
    l.plan = plan;
    for (int c = 0; c < 3; ++c) {
        l.channels[c] = Channel{};
        l.planes[c] = PlaneUse{};
        l.fixed[c] = FixedTaps{};
    }
    l.n_in = input_channels(frame, out.channels, l.channels, l.planes);
    const Channel* channels = l.channels;
    const PlaneUse* planes = l.planes;
    const int roi_x1 = plan.roi_x + plan.roi_w - 1, roi_y1 = plan.roi_y + plan.roi_h - 1;
    build_taps(l.x_luma, params.filter, plan.dst_w, plan.src_x, plan.src_w, plan.roi_x, roi_x1, false);
    build_taps(l.y_luma, params.filter, plan.dst_h, plan.src_y, plan.src_h, plan.roi_y, roi_y1, false);
    const bool any_chroma = planes[1].used;
    const FormatInfo& info = format_info(frame.format);
    if (any_chroma) {
        const int sx = info.chroma_shift_x, sy = info.chroma_shift_y;
        build_taps(l.x_chroma, params.filter, plan.dst_w, plan.src_x, plan.src_w, plan.roi_x >> sx, roi_x1 >> sx, sx != 0);
        build_taps(l.y_chroma, params.filter, plan.dst_h, plan.src_y, plan.src_h, plan.roi_y >> sy, roi_y1 >> sy, sy != 0);
    }
    const Taps* x_taps[2] = {&l.x_luma, &l.x_chroma};
    const Taps* y_taps[2] = {&l.y_luma, &l.y_chroma};
    for (int axis = 0; axis < (any_chroma ? 2 : 1); ++axis) {
        fix_vertical(*y_taps[axis], l.row_weights[axis]);
        fix_tap_weights(*x_taps[axis], l.tap_weights[axis]);
    }
    for (int c = 0; c < l.n_in; ++c) {
        const int p = channels[c].plane, axis = planes[p].chroma ? 1 : 0;
        const Taps& x = *x_taps[axis];
        fix_tap_first(x, planes[p].step, channels[c].offset, l.tap_first[c]);
        l.fixed[c].count = x.count;
        l.fixed[c].pairs = (x.width + 1) / 2;
        l.fixed[c].step = planes[p].step;
        l.fixed[c].index = l.tap_first[c].data();
        l.fixed[c].weights = l.tap_weights[axis].data();
        l.fixed[c].window8 = permute_window(l.fixed[c]);
    }
    for (int p = 0; p < 3; ++p) {
        l.span[p] = 0;
        if (!planes[p].used) continue;
        const Taps& x = *x_taps[planes[p].chroma ? 1 : 0];
        l.span[p] = size_t(x.highest - x.lowest + 1) * planes[p].step;
    }
}

// The layout for `key` from the cache, built into the least recently used slot if absent.
Layout& layout_for(Scratch& s, const LayoutKey& key, const Frame& frame, const TensorDesc& out,
                   const PreprocessParams& params) {
    Layout* slot = &s.layouts[0];
    for (Layout& l : s.layouts) {
        if (l.used && l.key == key) {
            l.used = ++s.clock;
            return l;
        }
        if (l.used < slot->used) slot = &l;
    }
    prepare(*slot, frame, out, params);
    slot->key = key;
    slot->used = ++s.clock;
    return *slot;
}

// Grows the row buffers for `l`; grown elements are zeroed, so every element a kernel reads is set.
void size_rows(Scratch& s, const Layout& l) {
    for (int p = 0; p < 3; ++p) {
        if (!l.planes[p].used) continue;
        // Padding past the span: gathers load past the last tap (32 bits, or a permute's window).
        const size_t need = l.span[p] + 2 * size_t(l.planes[p].step) + kRowPadding;
        if (s.blended[p].size() < need) s.blended[p].resize(need, 0);
    }
    for (int c = 0; c < l.n_in; ++c)
        if (s.samples[c].size() < size_t(l.plan.dst_w)) s.samples[c].resize(size_t(l.plan.dst_w));
    const size_t k = size_t(std::max(l.y_luma.width, l.planes[1].used ? l.y_chroma.width : 0));
    if (s.rows.size() < k) s.rows.resize(k);
}

}  // namespace

Geometry preprocess(const Frame& frame, const TensorDesc& out, const PreprocessParams& params) {
    check_frame(frame);
    check_tensor(out);
    const OutputMap map = make_output_map(frame, out, params);

    Scratch& s = scratch;
    LayoutKey key;
    key.frame_w = frame.width;
    key.frame_h = frame.height;
    key.tensor_w = out.width;
    key.tensor_h = out.height;
    key.channels = out.channels;
    key.format = frame.format;
    key.fit = params.fit;
    key.filter = params.filter;
    key.roi = params.roi;
    Layout& l = layout_for(s, key, frame, out, params);
    size_rows(s, l);
    const Plan& plan = l.plan;
    const Channel* channels = l.channels;
    const PlaneUse* planes = l.planes;
    const int n_in = l.n_in;
    const FormatInfo& info = format_info(frame.format);
    const SampleFormat samples = sample_format(info.sample_bytes, info.bits, info.high_aligned);
    const Taps* x_taps[2] = {&l.x_luma, &l.x_chroma};
    const Taps* y_taps[2] = {&l.y_luma, &l.y_chroma};
    const FixedTaps* fixed = l.fixed;
    const size_t* span = l.span;

    const size_t esize = element_size(out.dtype);
    const size_t row_elems = size_t(out.width) * out.channels;
    auto* base = static_cast<uint8_t*>(out.data);
    const float* gathered[3];
    float* scratch_rows[3];
    const int16_t* blended_rows[3];
    for (int c = 0; c < 3; ++c) {
        gathered[c] = scratch_rows[c] = s.samples[c < n_in ? c : 0].data();
        blended_rows[c] = s.blended[channels[c < n_in ? c : 0].plane].data();
    }

    for (int y = 0; y < out.height; ++y) {
        uint8_t* row = base + size_t(y) * row_elems * esize;
        const int i = y - plan.dst_y;
        if (i < 0 || i >= plan.dst_h) {
            fill_pad(row, out.dtype, row_elems, map.pad);
            continue;
        }
        for (int p = 0; p < 3; ++p) {
            if (!planes[p].used) continue;
            const int axis = planes[p].chroma ? 1 : 0;
            const Taps& x = *x_taps[axis];
            const Taps& v = *y_taps[axis];
            const Plane& plane = frame.planes[p];
            // Rows v.start[i] .. + v.width - 1 and elements lowest*step .. + span lie inside the plane
            // (build_taps keeps every window inside the ROI, which check_frame proved readable).
            const std::ptrdiff_t first_byte = std::ptrdiff_t(x.lowest) * planes[p].step * samples.bytes;
            for (int k = 0; k < v.width; ++k)
                s.rows[k] = plane.data + std::ptrdiff_t(v.start[i] + k) * plane.stride + first_byte;
            blend_rows_q6(s.rows.data(), &l.row_weights[axis][size_t(i) * v.width], v.width, span[p], samples,
                          s.blended[p].data());
        }
        const size_t left = size_t(plan.dst_x) * out.channels;
        const size_t right = size_t(out.width - plan.dst_x - plan.dst_w) * out.channels;
        if (left) fill_pad(row, out.dtype, left, map.pad);
        uint8_t* pixels = row + left * esize;
        if (!(out.dtype != DType::Float32 &&
              gather_convert_bytes(blended_rows, fixed, n_in, out.channels, map.channels,
                                   out.dtype == DType::Int8, scratch_rows, pixels))) {
            for (int c = 0; c < n_in; ++c)
                gather_taps_q6(s.blended[channels[c].plane].data(), fixed[c], s.samples[c].data());
            convert_row(gathered, plan.dst_w, out.channels, map.channels, out.dtype, pixels);
        }
        if (right) fill_pad(row + (row_elems - right) * esize, out.dtype, right, map.pad);
    }
    return geometry_of(plan, frame.width, frame.height, out.width, out.height);
}

}  // namespace sc
