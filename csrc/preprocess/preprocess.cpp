// Orchestrates one call: per output row, blend the source rows it needs (vertical taps over the
// columns in use), gather each channel's horizontal taps, then convert and quantize only the
// output pixels. Resampling happens before colour conversion, which is affine and so exact.
#include "preprocess/preprocess.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "common/errors.h"
#include "preprocess/colour.h"
#include "preprocess/frame_layout.h"
#include "preprocess/kernels.h"
#include "preprocess/plan.h"
#include "preprocess/taps.h"

namespace sc {

namespace {

struct Channel {
    int plane;
    int offset;  // byte within a sample
};

struct PlaneUse {
    bool used = false;
    bool chroma = false;
    int step = 1;  // bytes per sample
};

// Reused across calls on the same thread: no heap traffic once warmed up.
struct Scratch {
    Taps x_luma, y_luma, x_chroma, y_chroma;
    std::vector<float> blended[3];
    std::vector<float> samples[3];
    std::vector<const uint8_t*> rows;
    // Bilinear fast path: byte offset and the two weights of each output column.
    std::vector<int32_t> offsets[2];
    std::vector<float> w0[2], w1[2];
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
    const size_t need = size_t(t.height) * t.width * t.channels * element_size(t.dtype);
    if (t.bytes < need)
        throw InputError("the output tensor holds " + std::to_string(t.bytes) + " bytes but " +
                         std::to_string(t.height) + "x" + std::to_string(t.width) + "x" +
                         std::to_string(t.channels) + " needs " + std::to_string(need));
}

// Input channels in the order colour.h expects: (Y, U, V), (R, G, B) or (gray).
int input_channels(const Frame& frame, int out_channels, Channel* ch, PlaneUse* planes) {
    const PixelFormat f = frame.format;
    if (is_yuv(f)) {
        planes[0] = {true, false, 1};
        ch[0] = {0, 0};
        if (out_channels == 1) return 1;
        if (f == PixelFormat::YUV420P) {
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
    planes[0] = {true, false, bytes_per_pixel(f)};
    if (f == PixelFormat::GRAY8) {
        ch[0] = {0, 0};
        return 1;
    }
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

bool two_taps(const Taps& t) { return t.width == 2; }

void split_bilinear(const Taps& t, int step, std::vector<int32_t>& offsets, std::vector<float>& w0,
                    std::vector<float>& w1) {
    offsets.resize(size_t(t.count));
    w0.resize(size_t(t.count));
    w1.resize(size_t(t.count));
    for (int x = 0; x < t.count; ++x) {
        offsets[x] = int32_t(t.start[x]) * step;
        w0[x] = t.weights[2 * size_t(x)];
        w1[x] = t.weights[2 * size_t(x) + 1];
    }
}

// Columns (a prefix: offsets grow) whose 4-byte load from offset + channel stays inside the row.
int vector_columns(const std::vector<int32_t>& offsets, int channel_offset, int width_bytes) {
    int n = int(offsets.size());
    while (n > 0 && offsets[size_t(n) - 1] + channel_offset + 4 > width_bytes) --n;
    return n;
}

// Makes window starts relative to the first sample in use, so gathers index the blended row.
void rebase(Taps& taps) {
    for (int& s : taps.start) s -= taps.lowest;
}

}  // namespace

Geometry preprocess(const Frame& frame, const TensorDesc& out, const PreprocessParams& params) {
    check_frame(frame);
    check_tensor(out);
    const Plan plan = make_plan(frame.width, frame.height, out.width, out.height, params);
    const OutputMap map = make_output_map(frame, out, params);

    Channel channels[3];
    PlaneUse planes[3];
    const int n_in = input_channels(frame, out.channels, channels, planes);

    Scratch& s = scratch;
    const int roi_x1 = plan.roi_x + plan.roi_w - 1, roi_y1 = plan.roi_y + plan.roi_h - 1;
    build_taps(s.x_luma, params.filter, plan.dst_w, plan.src_x, plan.src_w, plan.roi_x, roi_x1, false);
    build_taps(s.y_luma, params.filter, plan.dst_h, plan.src_y, plan.src_h, plan.roi_y, roi_y1, false);
    const bool any_chroma = planes[1].used;
    if (any_chroma) {
        build_taps(s.x_chroma, params.filter, plan.dst_w, plan.src_x, plan.src_w, plan.roi_x >> 1, roi_x1 >> 1, true);
        build_taps(s.y_chroma, params.filter, plan.dst_h, plan.src_y, plan.src_h, plan.roi_y >> 1, roi_y1 >> 1, true);
    }
    const bool fast = two_taps(s.x_luma) && two_taps(s.y_luma) &&
                      (!any_chroma || (two_taps(s.x_chroma) && two_taps(s.y_chroma)));
    if (fast) {
        split_bilinear(s.x_luma, planes[0].step, s.offsets[0], s.w0[0], s.w1[0]);
        if (any_chroma) split_bilinear(s.x_chroma, planes[1].step, s.offsets[1], s.w0[1], s.w1[1]);
    }
    rebase(s.x_luma);
    if (any_chroma) rebase(s.x_chroma);
    int vector_n[3] = {0, 0, 0};
    if (fast)
        for (int c = 0; c < n_in; ++c) {
            const int p = channels[c].plane, axis = planes[p].chroma ? 1 : 0;
            vector_n[c] = vector_columns(s.offsets[axis], channels[c].offset, frame.planes[p].width_bytes);
        }
    for (int p = 0; p < 3; ++p) {
        if (!planes[p].used) continue;
        const Taps& x = planes[p].chroma ? s.x_chroma : s.x_luma;
        s.blended[p].resize(size_t(x.highest - x.lowest + 1) * planes[p].step);
    }
    for (int c = 0; c < n_in; ++c) s.samples[c].resize(size_t(plan.dst_w));
    s.rows.resize(size_t(std::max(s.y_luma.width, any_chroma ? s.y_chroma.width : 0)));

    const size_t esize = element_size(out.dtype);
    const size_t row_elems = size_t(out.width) * out.channels;
    auto* base = static_cast<uint8_t*>(out.data);
    const float* gathered[3];
    for (int c = 0; c < 3; ++c) gathered[c] = s.samples[c < n_in ? c : 0].data();

    for (int y = 0; y < out.height; ++y) {
        uint8_t* row = base + size_t(y) * row_elems * esize;
        const int i = y - plan.dst_y;
        if (i < 0 || i >= plan.dst_h) {
            fill_pad(row, out.dtype, row_elems, map.pad);
            continue;
        }
        if (fast) {
            for (int c = 0; c < n_in; ++c) {
                const int p = channels[c].plane, axis = planes[p].chroma ? 1 : 0;
                const Taps& v = planes[p].chroma ? s.y_chroma : s.y_luma;
                const Plane& plane = frame.planes[p];
                const uint8_t* r0 = plane.data + std::ptrdiff_t(v.start[i]) * plane.stride + channels[c].offset;
                bilinear_samples(r0, r0 + plane.stride, v.weights[2 * size_t(i)], v.weights[2 * size_t(i) + 1],
                                 s.offsets[axis].data(), s.w0[axis].data(), s.w1[axis].data(), planes[p].step,
                                 plan.dst_w, vector_n[c], s.samples[c].data());
            }
        }
        for (int p = 0; p < 3 && !fast; ++p) {
            if (!planes[p].used) continue;
            const Taps& x = planes[p].chroma ? s.x_chroma : s.x_luma;
            const Taps& v = planes[p].chroma ? s.y_chroma : s.y_luma;
            const Plane& plane = frame.planes[p];
            const std::ptrdiff_t first_byte = std::ptrdiff_t(x.lowest) * planes[p].step;
            for (int k = 0; k < v.width; ++k)
                s.rows[k] = plane.data + std::ptrdiff_t(v.start[i] + k) * plane.stride + first_byte;
            blend_rows(s.rows.data(), &v.weights[size_t(i) * v.width], v.width, int(s.blended[p].size()),
                       s.blended[p].data());
        }
        for (int c = 0; c < n_in && !fast; ++c) {
            const PlaneUse& use = planes[channels[c].plane];
            const Taps& x = use.chroma ? s.x_chroma : s.x_luma;
            gather_taps(s.blended[channels[c].plane].data() + channels[c].offset, use.step, x.start.data(),
                        x.weights.data(), x.width, plan.dst_w, s.samples[c].data());
        }
        const size_t left = size_t(plan.dst_x) * out.channels;
        const size_t right = size_t(out.width - plan.dst_x - plan.dst_w) * out.channels;
        if (left) fill_pad(row, out.dtype, left, map.pad);
        convert_row(gathered, plan.dst_w, out.channels, map.channels, out.dtype, row + left * esize);
        if (right) fill_pad(row + (row_elems - right) * esize, out.dtype, right, map.pad);
    }
    return plan_geometry(frame.width, frame.height, out.width, out.height, params);
}

}  // namespace sc
