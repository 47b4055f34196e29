// Python classes FrameView and PreprocessParams, and _core.preprocess / _core.plan_geometry.
#include "python/preprocess_bindings.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <tuple>

#include "common/errors.h"
#include "preprocess/fixed_rows.h"
#include "preprocess/frame_layout.h"
#include "preprocess/preprocess.h"

namespace py = pybind11;

namespace sc {

namespace {

const char* kFormats =
    "yuv420p, yuvj420p, yuv422p, yuvj422p, yuv444p, yuvj444p, nv12, nv21, yuv420p10le, yuv422p10le, "
    "yuv444p10le, p010le, rgb24, bgr24, rgba, bgra, gray8, gray10le, gray16le";

PixelFormat parse_format(const std::string& name, bool* full_range_hint) {
    *full_range_hint = false;
    if (name == "yuv420p" || name == "i420") return PixelFormat::YUV420P;
    if (name == "yuvj420p") {
        *full_range_hint = true;
        return PixelFormat::YUV420P;
    }
    if (name == "yuv422p") return PixelFormat::YUV422P;
    if (name == "yuv444p") return PixelFormat::YUV444P;
    if (name == "yuvj422p" || name == "yuvj444p") {
        *full_range_hint = true;
        return name == "yuvj422p" ? PixelFormat::YUV422P : PixelFormat::YUV444P;
    }
    if (name == "yuv420p10le" || name == "yuv420p10") return PixelFormat::YUV420P10;
    if (name == "yuv422p10le" || name == "yuv422p10") return PixelFormat::YUV422P10;
    if (name == "yuv444p10le" || name == "yuv444p10") return PixelFormat::YUV444P10;
    if (name == "p010le" || name == "p010") return PixelFormat::P010;
    if (name == "gray10le" || name == "gray10") return PixelFormat::GRAY10;
    if (name == "gray16le" || name == "gray16") return PixelFormat::GRAY16;
    if (name == "nv12") return PixelFormat::NV12;
    if (name == "nv21") return PixelFormat::NV21;
    if (name == "rgb24") return PixelFormat::RGB24;
    if (name == "bgr24") return PixelFormat::BGR24;
    if (name == "rgba") return PixelFormat::RGBA;
    if (name == "bgra") return PixelFormat::BGRA;
    if (name == "gray8" || name == "gray") return PixelFormat::GRAY8;
    throw InputError("unknown pixel format '" + name + "'; use one of " + kFormats +
                     " (convert other PyAV formats with frame.reformat(format='yuv420p'))");
}

Matrix parse_matrix(const std::string& name) {
    if (name == "bt601") return Matrix::BT601;
    if (name == "bt709") return Matrix::BT709;
    throw InputError("unknown colour matrix '" + name + "'; use 'bt601' or 'bt709'");
}

Range parse_range(const std::string& name) {
    if (name == "limited" || name == "tv" || name == "mpeg") return Range::Limited;
    if (name == "full" || name == "pc" || name == "jpeg") return Range::Full;
    throw InputError("unknown colour range '" + name + "'; use 'limited' or 'full'");
}

const char* matrix_name(Matrix m) { return m == Matrix::BT709 ? "bt709" : "bt601"; }
const char* range_name(Range r) { return r == Range::Full ? "full" : "limited"; }

Fit parse_fit(const std::string& name) {
    if (name == "stretch") return Fit::Stretch;
    if (name == "letterbox") return Fit::Letterbox;
    if (name == "center_crop" || name == "centre_crop" || name == "crop") return Fit::CenterCrop;
    throw InputError("unknown fit '" + name + "'; use 'stretch', 'letterbox' or 'center_crop'");
}

const char* fit_name(Fit f) {
    switch (f) {
        case Fit::Stretch: return "stretch";
        case Fit::Letterbox: return "letterbox";
        case Fit::CenterCrop: return "center_crop";
    }
    return "stretch";
}

Filter parse_filter(const std::string& name) {
    if (name == "bilinear") return Filter::Bilinear;
    if (name == "area") return Filter::Area;
    if (name == "nearest") return Filter::Nearest;
    throw InputError("unknown filter '" + name +
                     "'; use 'bilinear', 'area' (for strong downscales) or 'nearest'");
}

const char* filter_name(Filter f) {
    switch (f) {
        case Filter::Bilinear: return "bilinear";
        case Filter::Area: return "area";
        case Filter::Nearest: return "nearest";
    }
    return "bilinear";
}

std::string plane_label(int index, const char* format) {
    return "plane " + std::to_string(index) + " of the " + format + " frame";
}

// Borrows one plane; checks it covers `need` so the kernel never reads past the buffer.
// 16-bit formats also take uint16 arrays (`sample_bytes` 2); strides and sizes stay in bytes.
Plane borrow_plane(const py::handle& obj, int index, const char* format, const PlaneShape& need, int sample_bytes,
                   std::optional<std::ptrdiff_t> stride, std::vector<py::buffer_info>& views) {
    // Error texts are built only on the way out: this runs per plane of every frame.
    auto label = [&] { return plane_label(index, format); };
    if (!PyObject_CheckBuffer(obj.ptr()))
        throw InputError(label() + " is a " + std::string(py::str(py::type::of(obj).attr("__name__"))) +
                         ", not a buffer; pass numpy uint8 arrays or PyAV planes");
    py::buffer_info info = py::reinterpret_borrow<py::buffer>(obj).request();
    const py::ssize_t item = info.itemsize;
    if (item != 1 && !(item == 2 && sample_bytes == 2))
        throw InputError(label() + " has " + std::to_string(item) + "-byte items; pass uint8 data" +
                         (sample_bytes == 2 ? " or uint16 samples" : " (numpy: array.astype(np.uint8))"));
    Plane plane;
    plane.data = static_cast<const uint8_t*>(info.ptr);
    auto need_text = [&] { return std::to_string(need.rows) + " rows of " + std::to_string(need.width_bytes) + " bytes"; };
    if (info.ndim == 1) {
        if (!stride)
            throw InputError(label() + " is a 1-D buffer; pass its row stride in `strides` (PyAV: plane.line_size)");
        if (info.strides[0] != item) throw InputError(label() + " must be a contiguous 1-D buffer");
        if (*stride < need.width_bytes)
            throw InputError(label() + ": stride " + std::to_string(*stride) + " is shorter than a row of " +
                             std::to_string(need.width_bytes) + " bytes; give the positive line size");
        const std::ptrdiff_t length = info.shape[0] * item;
        // 64-bit with overflow checks: a huge stride must not wrap into a small extent.
        std::ptrdiff_t extent = 0;
        if (need.rows > 0 &&
            (__builtin_mul_overflow(std::ptrdiff_t(need.rows - 1), *stride, &extent) ||
             __builtin_add_overflow(extent, std::ptrdiff_t(need.width_bytes), &extent)))
            throw InputError(label() + ": stride " + std::to_string(*stride) + " times " +
                             std::to_string(need.rows) + " rows overflows; give the plane's real line size");
        if (length < extent)
            throw InputError(label() + " holds " + std::to_string(length) + " bytes, but " + need_text() +
                             " with stride " + std::to_string(*stride) + " need " + std::to_string(extent));
        plane.stride = *stride;
        plane.rows = need.rows;
        plane.width_bytes = need.width_bytes;
    } else if (info.ndim == 2 || info.ndim == 3) {
        const bool inner_contiguous =
            info.ndim == 2 ? info.strides[1] == item
                           : (info.strides[2] == item && info.strides[1] == info.shape[2] * item);
        if (!inner_contiguous)
            throw InputError(label() + " must have contiguous rows (only the row stride may differ); "
                             "pass np.ascontiguousarray(...) or a row slice of one");
        if (stride && *stride != info.strides[0])
            throw InputError(label() + ": strides[" + std::to_string(index) + "]=" + std::to_string(*stride) +
                             " disagrees with the array's row stride " + std::to_string(info.strides[0]) +
                             "; leave strides out for arrays");
        plane.stride = info.strides[0];
        // Clamped, never truncated: a plane larger than an int can hold still covers `need`.
        const auto clamp = [](py::ssize_t v) { return int(std::min<py::ssize_t>(v, std::numeric_limits<int>::max())); };
        py::ssize_t row_bytes = 0;
        if (__builtin_mul_overflow(info.shape[1], item, &row_bytes) ||
            (info.ndim == 3 && __builtin_mul_overflow(row_bytes, info.shape[2], &row_bytes)))
            row_bytes = std::numeric_limits<py::ssize_t>::max();
        plane.rows = clamp(info.shape[0]);
        plane.width_bytes = clamp(row_bytes);
        if (plane.rows < need.rows || plane.width_bytes < need.width_bytes)
            throw InputError(label() + " is " + std::to_string(plane.rows) + " rows of " +
                             std::to_string(plane.width_bytes) + " bytes, smaller than the " + need_text() +
                             " it needs");
    } else {
        throw InputError(label() + " has " + std::to_string(info.ndim) +
                         " dimensions; pass a 2-D (rows x bytes) or 3-D (H x W x C) array, or a 1-D buffer with a stride");
    }
    views.push_back(std::move(info));
    return plane;
}

FrameView make_frame_view(const std::string& format, int width, int height, const py::sequence& planes,
                          const std::optional<std::vector<std::ptrdiff_t>>& strides, const std::string& matrix,
                          const std::optional<std::string>& range) {
    FrameView view;
    bool full_range_hint = false;
    Frame& f = view.frame;
    f.format = parse_format(format, &full_range_hint);
    f.matrix = parse_matrix(matrix);
    f.range = range ? parse_range(*range) : (full_range_hint ? Range::Full : Range::Limited);
    check_frame_size(width, height);
    f.width = width;
    f.height = height;
    const int count = plane_count(f.format);
    const char* name = format_name(f.format);
    if (int(py::len(planes)) != count)
        throw InputError(std::string(name) + " needs " + std::to_string(count) + " planes, got " +
                         std::to_string(py::len(planes)));
    if (strides && int(strides->size()) != count)
        throw InputError("strides has " + std::to_string(strides->size()) + " entries for " +
                         std::to_string(count) + " planes; give one per plane");
    view.views.reserve(size_t(count));
    for (int i = 0; i < count; ++i) {
        std::optional<std::ptrdiff_t> stride;
        if (strides) stride = (*strides)[size_t(i)];
        f.planes[i] = borrow_plane(planes[size_t(i)], i, name, required_plane_shape(f.format, width, height, i),
                                   format_info(f.format).sample_bytes, stride, view.views);
    }
    f.num_planes = count;
    return view;
}

using Roi4 = std::tuple<int, int, int, int>;

void set_roi(PreprocessParams& p, const std::optional<Roi4>& roi) {
    if (!roi) {
        p.roi = Roi{};
        return;
    }
    const auto [x, y, w, h] = *roi;
    if (w <= 0 || h <= 0)
        throw RoiError("ROI (x=" + std::to_string(x) + ", y=" + std::to_string(y) + ", w=" + std::to_string(w) +
                       ", h=" + std::to_string(h) + ") is empty; give a positive width and height, or roi=None for the whole frame");
    p.roi = Roi{x, y, w, h};
}

std::optional<Roi4> get_roi(const PreprocessParams& p) {
    if (p.roi.w == 0 || p.roi.h == 0) return std::nullopt;
    return Roi4{p.roi.x, p.roi.y, p.roi.w, p.roi.h};
}

uint8_t checked_pad(int value) {
    if (value < 0 || value > 255)
        throw InputError("pad_value " + std::to_string(value) + " is not a pixel value; use 0..255");
    return uint8_t(value);
}

TensorDesc describe_output(py::array out, float scale, int64_t zero_point) {
    TensorDesc t;
    const py::dtype dt = out.dtype();
    if (dt.is(py::dtype::of<uint8_t>()))
        t.dtype = DType::UInt8;
    else if (dt.is(py::dtype::of<int8_t>()))
        t.dtype = DType::Int8;
    else if (dt.is(py::dtype::of<float>()))
        t.dtype = DType::Float32;
    else
        throw InputError("out has dtype " + std::string(py::str(dt)) + "; preprocess writes uint8, int8 or float32");
    const int nd = int(out.ndim());
    if (!(nd == 3 || (nd == 4 && out.shape(0) == 1)))
        throw InputError("out must be shaped (H, W, C) or (1, H, W, C), got " +
                         std::string(py::str(py::tuple(py::cast(std::vector<ssize_t>(out.shape(), out.shape() + nd))))));
    if (!(out.flags() & py::array::c_style) || !out.writeable())
        throw InputError("out must be a writable C-contiguous array (np.empty(shape, dtype) or the interpreter's input)");
    t.height = int(out.shape(nd - 3));
    t.width = int(out.shape(nd - 2));
    t.channels = int(out.shape(nd - 1));
    t.data = out.mutable_data();
    t.bytes = size_t(out.nbytes());
    t.scale = scale;
    t.zero_point = checked_zero_point(zero_point, t.dtype, "preprocess out");
    return t;
}

py::tuple geometry_tuple(const Geometry& g) {
    return py::make_tuple(g.src_x, g.src_y, g.src_w, g.src_h, g.dst_x, g.dst_y, g.dst_w, g.dst_h, g.frame_w,
                          g.frame_h, g.tensor_w, g.tensor_h);
}

}  // namespace

void bind_preprocess(py::module_& m) {
    py::class_<FrameView>(m, "FrameView",
                          "A video frame borrowed from Python buffers without a copy (keeps them alive).")
        .def(py::init(&make_frame_view), py::arg("format"), py::arg("width"), py::arg("height"), py::arg("planes"),
             py::arg("strides") = py::none(), py::arg("matrix") = "bt601", py::arg("range") = py::none())
        .def_property_readonly("format", [](const FrameView& v) { return format_name(v.frame.format); })
        .def_property_readonly("width", [](const FrameView& v) { return v.frame.width; })
        .def_property_readonly("height", [](const FrameView& v) { return v.frame.height; })
        .def_property_readonly("matrix", [](const FrameView& v) { return matrix_name(v.frame.matrix); })
        .def_property_readonly("range", [](const FrameView& v) { return range_name(v.frame.range); })
        .def("__repr__", [](const FrameView& v) {
            return "FrameView(" + std::string(format_name(v.frame.format)) + ", " + std::to_string(v.frame.width) +
                   "x" + std::to_string(v.frame.height) + ", " + matrix_name(v.frame.matrix) + ", " +
                   range_name(v.frame.range) + ")";
        });

    py::class_<PreprocessParams>(m, "PreprocessParams", "How a frame becomes the model input.")
        .def(py::init([](const std::string& fit, const std::string& filter, const std::optional<Roi4>& roi,
                         float mean, float std_, int pad_value, bool bgr) {
                 PreprocessParams p;
                 p.fit = parse_fit(fit);
                 p.filter = parse_filter(filter);
                 set_roi(p, roi);
                 p.mean = mean;
                 p.std = std_;
                 p.pad_value = checked_pad(pad_value);
                 p.bgr = bgr;
                 return p;
             }),
             py::arg("fit") = "stretch", py::arg("filter") = "bilinear", py::arg("roi") = py::none(),
             py::arg("mean") = 128.0f, py::arg("std") = 128.0f, py::arg("pad_value") = 0, py::arg("bgr") = false)
        .def_property(
            "fit", [](const PreprocessParams& p) { return fit_name(p.fit); },
            [](PreprocessParams& p, const std::string& v) { p.fit = parse_fit(v); })
        .def_property(
            "filter", [](const PreprocessParams& p) { return filter_name(p.filter); },
            [](PreprocessParams& p, const std::string& v) { p.filter = parse_filter(v); })
        .def_property("roi", &get_roi, &set_roi)
        .def_readwrite("mean", &PreprocessParams::mean)
        .def_readwrite("std", &PreprocessParams::std)
        .def_property(
            "pad_value", [](const PreprocessParams& p) { return int(p.pad_value); },
            [](PreprocessParams& p, int v) { p.pad_value = checked_pad(v); })
        .def_readwrite("bgr", &PreprocessParams::bgr)
        .def("__repr__", [](const PreprocessParams& p) {
            return std::string("PreprocessParams(fit='") + fit_name(p.fit) + "', filter='" +
                   filter_name(p.filter) + "', roi=" +
                   std::string(py::str(py::cast(get_roi(p)))) + ", mean=" + std::to_string(p.mean) +
                   ", std=" + std::to_string(p.std) + ", pad_value=" + std::to_string(int(p.pad_value)) +
                   ", bgr=" + (p.bgr ? "True" : "False") + ")";
        });

    m.def(
        "preprocess",
        [](const FrameView& view, py::array out, const PreprocessParams& params, float scale,
           int64_t zero_point) {
            const TensorDesc tensor = describe_output(out, scale, zero_point);
            const Frame frame = view.frame;
            const PreprocessParams settings = params;
            Geometry g;
            {
                py::gil_scoped_release unlocked;
                g = preprocess(frame, tensor, settings);
            }
            return geometry_tuple(g);
        },
        py::arg("view"), py::arg("out"), py::arg("params"), py::arg("scale") = 0.0f, py::arg("zero_point") = 0,
        "Writes the frame into `out` (colour, geometry, resampling, quantization in one pass); returns the "
        "12 numbers of streamcore.geometry.Geometry.");

    m.def(
        "plan_geometry",
        [](int frame_w, int frame_h, int tensor_w, int tensor_h, const PreprocessParams& params) {
            return geometry_tuple(plan_geometry(frame_w, frame_h, tensor_w, tensor_h, params));
        },
        py::arg("frame_w"), py::arg("frame_h"), py::arg("tensor_w"), py::arg("tensor_h"), py::arg("params"),
        "Where a frame of this size would land in the tensor, without touching pixels.");

    m.def("_set_preprocess_simd", &set_simd_enabled, py::arg("enabled"),
          "Test hook: False forces the scalar kernels. Returns the previous setting.");
    m.def("_set_preprocess_avx512", &set_avx512_enabled, py::arg("enabled"),
          "Test hook: False leaves the AVX2 kernels where AVX-512 ones apply. Returns the previous setting.");
}

}  // namespace sc
