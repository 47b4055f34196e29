#include "preprocess/frame_layout.h"

#include <cstdint>
#include <limits>

#include "common/errors.h"

namespace sc {

namespace {

constexpr FormatInfo kFormats[] = {
    // name          planes yuv   gray   bytes sx sy interleaved bits high
    {"yuv420p",      3, true,  false, 1, 1, 1, false, 8,  false},
    {"nv12",         2, true,  false, 1, 1, 1, true,  8,  false},
    {"nv21",         2, true,  false, 1, 1, 1, true,  8,  false},
    {"rgb24",        1, false, false, 1, 0, 0, false, 8,  false},
    {"bgr24",        1, false, false, 1, 0, 0, false, 8,  false},
    {"rgba",         1, false, false, 1, 0, 0, false, 8,  false},
    {"bgra",         1, false, false, 1, 0, 0, false, 8,  false},
    {"gray8",        1, false, true,  1, 0, 0, false, 8,  false},
    {"yuv422p",      3, true,  false, 1, 1, 0, false, 8,  false},
    {"yuv444p",      3, true,  false, 1, 0, 0, false, 8,  false},
    {"yuv420p10le",  3, true,  false, 2, 1, 1, false, 10, false},
    {"yuv422p10le",  3, true,  false, 2, 1, 0, false, 10, false},
    {"yuv444p10le",  3, true,  false, 2, 0, 0, false, 10, false},
    {"p010le",       2, true,  false, 2, 1, 1, true,  10, true},
    {"gray10le",     1, false, true,  2, 0, 0, false, 10, false},
    {"gray16le",     1, false, true,  2, 0, 0, false, 16, true},
};

static_assert(sizeof(kFormats) / sizeof(kFormats[0]) == size_t(PixelFormat::GRAY16) + 1,
              "one kFormats row per PixelFormat, in enum order");

}  // namespace

const FormatInfo& format_info(PixelFormat format) {
    const size_t i = size_t(format);
    return kFormats[i < sizeof(kFormats) / sizeof(kFormats[0]) ? i : 0];
}

int plane_count(PixelFormat format) { return format_info(format).planes; }

int bytes_per_pixel(PixelFormat format) {
    switch (format) {
        case PixelFormat::RGB24:
        case PixelFormat::BGR24: return 3;
        case PixelFormat::RGBA:
        case PixelFormat::BGRA: return 4;
        default: return format_info(format).sample_bytes;
    }
}

bool is_yuv(PixelFormat format) { return format_info(format).yuv; }

bool is_gray(PixelFormat format) { return format_info(format).gray; }

void check_frame_size(int width, int height) {
    if (width <= 0 || height <= 0)
        throw InputError("frame size " + std::to_string(width) + "x" + std::to_string(height) +
                         " is empty; pass the frame's positive width and height");
    if (width > kMaxFrameSide || height > kMaxFrameSide)
        throw InputError("frame size " + std::to_string(width) + "x" + std::to_string(height) +
                         " is over the limit of " + std::to_string(kMaxFrameSide) +
                         " pixels a side; pass the frame's real width and height (or downscale it first)");
}

namespace {

int checked_int(int64_t value, const char* what) {
    if (value < 0 || value > std::numeric_limits<int>::max())
        throw InputError(std::string("frame ") + what + " of " + std::to_string(value) +
                         " bytes is out of range; frame sides are limited to " + std::to_string(kMaxFrameSide));
    return int(value);
}

}  // namespace

PlaneShape required_plane_shape(PixelFormat format, int width, int height, int index) {
    const int64_t w = width, h = height;
    if (index == 0) return {checked_int(h, "height"), checked_int(w * bytes_per_pixel(format), "row")};
    const FormatInfo& f = format_info(format);
    const int64_t chroma_w = (w + (1 << f.chroma_shift_x) - 1) >> f.chroma_shift_x;
    const int64_t chroma_h = (h + (1 << f.chroma_shift_y) - 1) >> f.chroma_shift_y;
    const int64_t row = chroma_w * f.sample_bytes * (f.interleaved_chroma ? 2 : 1);  // UV pairs interleaved
    return {checked_int(chroma_h, "height"), checked_int(row, "row")};
}

const char* format_name(PixelFormat format) { return format_info(format).name; }

void check_frame(const Frame& frame) {
    check_frame_size(frame.width, frame.height);
    const int n = plane_count(frame.format);
    if (frame.num_planes < n)
        throw InputError(std::string(format_name(frame.format)) + " needs " + std::to_string(n) +
                         " planes, got " + std::to_string(frame.num_planes));
    for (int i = 0; i < n; ++i) {
        const PlaneShape need = required_plane_shape(frame.format, frame.width, frame.height, i);
        const Plane& p = frame.planes[i];
        if (!p.data || p.rows < need.rows || p.width_bytes < need.width_bytes)
            throw InputError("plane " + std::to_string(i) + " of a " + std::to_string(frame.width) +
                             "x" + std::to_string(frame.height) + " " + format_name(frame.format) +
                             " frame must hold " + std::to_string(need.rows) + " rows of " +
                             std::to_string(need.width_bytes) + " bytes, got " +
                             std::to_string(p.rows) + " rows of " + std::to_string(p.width_bytes));
    }
}

}  // namespace sc
