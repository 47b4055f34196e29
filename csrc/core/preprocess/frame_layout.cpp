#include "preprocess/frame_layout.h"

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

PlaneShape required_plane_shape(PixelFormat format, int width, int height, int index) {
    if (index == 0) return {height, width * bytes_per_pixel(format)};
    const int chroma_w = (width + 1) / 2, chroma_h = (height + 1) / 2;
    if (format == PixelFormat::YUV420P) return {chroma_h, chroma_w};
    return {chroma_h, 2 * chroma_w};  // interleaved UV / VU
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
    if (frame.width <= 0 || frame.height <= 0)
        throw InputError("frame size " + std::to_string(frame.width) + "x" +
                         std::to_string(frame.height) + " is empty; pass a decoded, non-empty frame");
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
