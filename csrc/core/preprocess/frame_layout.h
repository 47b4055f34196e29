// What each pixel format's planes must hold, so frames can be checked before any read.
#pragma once
#include <string>

#include "preprocess/frame.h"

namespace sc {

// The largest frame side preprocess accepts (8K video is 7680x4320): every byte offset and
// plane size of a frame within it fits comfortably in 32 bits.
constexpr int kMaxFrameSide = 65536;

// Throws InputError unless 0 < width, height <= kMaxFrameSide.
void check_frame_size(int width, int height);

struct PlaneShape {
    int rows = 0;
    int width_bytes = 0;
};

int plane_count(PixelFormat format);

// The smallest plane `index` of a width x height frame in `format` (computed in 64 bits;
// InputError if it does not fit an int, which check_frame_size rules out).
PlaneShape required_plane_shape(PixelFormat format, int width, int height, int index);

// Bytes per pixel for packed formats (1 for gray and the planar luma).
int bytes_per_pixel(PixelFormat format);

bool is_yuv(PixelFormat format);

// Canonical names: yuv420p, nv12, nv21, rgb24, bgr24, rgba, bgra, gray8.
const char* format_name(PixelFormat format);

// Throws InputError if any plane is missing, too small, or null.
void check_frame(const Frame& frame);

}  // namespace sc
