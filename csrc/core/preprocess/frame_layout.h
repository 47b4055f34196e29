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

// How a format lays out its samples. Chroma planes cover ceil(width / 2^chroma_shift_x) samples
// by ceil(height / 2^chroma_shift_y) rows.
struct FormatInfo {
    const char* name;
    int planes;
    bool yuv;
    bool gray;
    int sample_bytes;         // 1, or 2 for little-endian 16-bit samples
    int chroma_shift_x;       // 1 when chroma is halved horizontally
    int chroma_shift_y;       // 1 when chroma is halved vertically
    bool interleaved_chroma;  // one UV (or VU) plane
    int bits;                 // significant bits of a sample (8, 10 or 16)
    bool high_aligned;        // the bits sit at the top of the 16-bit sample (p010)
};

const FormatInfo& format_info(PixelFormat format);

int plane_count(PixelFormat format);

// The smallest plane `index` of a width x height frame in `format` (computed in 64 bits;
// InputError if it does not fit an int, which check_frame_size rules out).
PlaneShape required_plane_shape(PixelFormat format, int width, int height, int index);

// Bytes per pixel of plane 0 (3 or 4 for packed RGB, 2 for 16-bit luma or gray).
int bytes_per_pixel(PixelFormat format);

bool is_yuv(PixelFormat format);

bool is_gray(PixelFormat format);

// Canonical names: yuv420p, nv12, nv21, rgb24, bgr24, rgba, bgra, gray8, yuv422p, yuv444p,
// yuv420p10le, yuv422p10le, yuv444p10le, p010le, gray10le, gray16le.
const char* format_name(PixelFormat format);

// Throws InputError if any plane is missing, too small, or null.
void check_frame(const Frame& frame);

}  // namespace sc
