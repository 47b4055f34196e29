#include "preprocess/frame_layout.h"

#include <cstdint>
#include <limits>

#include "common/errors.h"

namespace sc {

int plane_count(PixelFormat format) {
    switch (format) {
        case PixelFormat::YUV420P: return 3;
        case PixelFormat::NV12:
        case PixelFormat::NV21: return 2;
        default: return 1;
    }
}

int bytes_per_pixel(PixelFormat format) {
    switch (format) {
        case PixelFormat::RGB24:
        case PixelFormat::BGR24: return 3;
        case PixelFormat::RGBA:
        case PixelFormat::BGRA: return 4;
        default: return 1;
    }
}

bool is_yuv(PixelFormat format) {
    return format == PixelFormat::YUV420P || format == PixelFormat::NV12 ||
           format == PixelFormat::NV21;
}

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
    const int64_t chroma_w = (w + 1) / 2, chroma_h = (h + 1) / 2;
    if (format == PixelFormat::YUV420P) return {checked_int(chroma_h, "height"), checked_int(chroma_w, "row")};
    return {checked_int(chroma_h, "height"), checked_int(2 * chroma_w, "row")};  // interleaved UV / VU
}

const char* format_name(PixelFormat format) {
    switch (format) {
        case PixelFormat::YUV420P: return "yuv420p";
        case PixelFormat::NV12: return "nv12";
        case PixelFormat::NV21: return "nv21";
        case PixelFormat::RGB24: return "rgb24";
        case PixelFormat::BGR24: return "bgr24";
        case PixelFormat::RGBA: return "rgba";
        case PixelFormat::BGRA: return "bgra";
        case PixelFormat::GRAY8: return "gray8";
    }
    return "unknown";
}

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
