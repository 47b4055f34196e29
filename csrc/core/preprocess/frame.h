// Plain descriptions of a frame, a model input tensor and the preprocess settings.
// No Python types here: workers read these with the GIL released.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sc {

// 10/16-bit formats are little-endian 16-bit samples; they are read as sample / 2^(bits - 8)
// (their high 8 bits plus a fraction), so colour handling is the same as for 8-bit frames.
enum class PixelFormat {
    YUV420P, NV12, NV21, RGB24, BGR24, RGBA, BGRA, GRAY8,
    YUV422P, YUV444P,                      // planar, chroma halved horizontally / not subsampled
    YUV420P10, YUV422P10, YUV444P10,       // planar 10-bit in the low bits (yuv4xxp10le)
    P010,                                  // NV12 layout, 10-bit in the high bits (p010le)
    GRAY10, GRAY16,                        // gray10le (low bits), gray16le
};
enum class Matrix { BT601, BT709 };
enum class Range { Limited, Full };

// Row r of a plane starts at data + r * stride; stride may be negative.
struct Plane {
    const uint8_t* data = nullptr;
    std::ptrdiff_t stride = 0;
    int width_bytes = 0;  // bytes readable in each row
    int rows = 0;
};

struct Frame {
    PixelFormat format = PixelFormat::RGB24;
    int width = 0;
    int height = 0;
    Plane planes[3];
    int num_planes = 0;
    Matrix matrix = Matrix::BT601;
    Range range = Range::Limited;
};

enum class Fit { Stretch, Letterbox, CenterCrop };
enum class Filter { Bilinear, Area, Nearest };

struct Roi {
    int x = 0, y = 0, w = 0, h = 0;  // w == 0 or h == 0: the whole frame
};

struct PreprocessParams {
    Fit fit = Fit::Stretch;
    Filter filter = Filter::Bilinear;
    Roi roi;
    // The model sees (pixel - mean) / std in real values, then its own quantization.
    float mean = 128.0f;
    float std = 128.0f;
    uint8_t pad_value = 0;  // letterbox padding, as a pixel value
    bool bgr = false;       // channel order of the model input
};

enum class DType { UInt8, Int8, Float32 };

struct TensorDesc {
    void* data = nullptr;
    int height = 0, width = 0, channels = 0;
    DType dtype = DType::UInt8;
    float scale = 1.0f;  // 0 means "not quantized"
    int zero_point = 0;
    std::size_t bytes = 0;
};

// frame_x = src_x + (tensor_x - dst_x) * src_w / dst_w, and likewise for y.
struct Geometry {
    float src_x = 0, src_y = 0, src_w = 0, src_h = 0;
    float dst_x = 0, dst_y = 0, dst_w = 0, dst_h = 0;
    int frame_w = 0, frame_h = 0;
    int tensor_w = 0, tensor_h = 0;

    bool operator==(const Geometry& o) const {
        return src_x == o.src_x && src_y == o.src_y && src_w == o.src_w && src_h == o.src_h &&
               dst_x == o.dst_x && dst_y == o.dst_y && dst_w == o.dst_w && dst_h == o.dst_h &&
               frame_w == o.frame_w && frame_h == o.frame_h && tensor_w == o.tensor_w && tensor_h == o.tensor_h;
    }
    bool operator!=(const Geometry& o) const { return !(*this == o); }
};

}  // namespace sc
