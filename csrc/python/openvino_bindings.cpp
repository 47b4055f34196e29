// Python side of the OpenVINO backend: load the C library, query it, make devices.
#include "python/openvino_bindings.h"

#include <pybind11/stl.h>

#include <memory>
#include <optional>

#include "backends/openvino/device.h"
#include "backends/openvino/runtime.h"
#include "common/errors.h"

namespace py = pybind11;

namespace sc {
namespace {

ssd::SsdOptions ssd_from_dict(const py::dict& d) {
    ssd::SsdOptions o;
    auto get_i = [&](const char* k, int& v) { if (d.contains(k)) v = d[k].cast<int>(); };
    auto get_f = [&](const char* k, float& v) { if (d.contains(k)) v = d[k].cast<float>(); };
    for (const char* k : {"max_detections", "max_classes_per_detection", "nms_score_threshold", "nms_iou_threshold",
                          "num_classes", "y_scale", "x_scale", "h_scale", "w_scale"})
        if (!d.contains(k)) throw ModelError(std::string("SSD postprocess options lack '") + k + "'");
    get_i("max_detections", o.max_detections);
    get_i("max_classes_per_detection", o.max_classes_per_detection);
    get_i("detections_per_class", o.detections_per_class);
    if (d.contains("use_regular_nms")) o.use_regular_nms = d["use_regular_nms"].cast<bool>();
    get_f("nms_score_threshold", o.nms_score_threshold);
    get_f("nms_iou_threshold", o.nms_iou_threshold);
    get_i("num_classes", o.num_classes);
    get_f("y_scale", o.y_scale);
    get_f("x_scale", o.x_scale);
    get_f("h_scale", o.h_scale);
    get_f("w_scale", o.w_scale);
    return o;
}

std::string bytes_of(const py::buffer& b) {
    py::buffer_info info = b.request();
    return std::string(static_cast<const char*>(info.ptr), static_cast<std::size_t>(info.size * info.itemsize));
}

}  // namespace

void bind_openvino(py::module_& m) {
    py::class_<OpenVinoRuntime, std::shared_ptr<OpenVinoRuntime>>(m, "OpenVinoRuntime")
        .def_property_readonly("version", &OpenVinoRuntime::version)
        .def_property_readonly("library_path", &OpenVinoRuntime::library_path)
        .def("available_devices", &OpenVinoRuntime::available_devices)
        .def("full_device_name", &OpenVinoRuntime::full_device_name, py::arg("device"))
        .def("devices", [](const OpenVinoRuntime& rt) {
            std::vector<std::pair<std::string, std::string>> out;
            for (const auto& d : rt.devices()) out.emplace_back(d.name, d.full_name);
            return out;
        }, "[(name, full name)] of the devices OpenVINO sees, e.g. [('CPU', 'Intel(R) ...'), ('GPU.0', ...)]");

    m.attr("OPENVINO_TESTED_MAJOR") = OpenVinoRuntime::kTestedMajor;
    m.def("load_openvino", [](const std::string& path) {
              py::gil_scoped_release release;
              return OpenVinoRuntime::load(path);
          }, py::arg("path"),
          "dlopen libopenvino_c.so (a file, or the wheel's openvino/libs directory); one runtime per path. "
          "Raises BackendUnavailableError / BackendVersionError.");

    py::class_<OpenVinoCompiled, std::shared_ptr<OpenVinoCompiled>>(
        m, "OpenVinoCompiled", "A model compiled for one OpenVINO device, shared by the devices made from it.");

    m.def(
        "openvino_compile",
        [](std::shared_ptr<OpenVinoRuntime> runtime, py::buffer xml, py::buffer weights, const std::string& device,
           int num_threads, int streams, std::optional<py::dict> ssd_options, std::pair<float, int64_t> input_quant,
           std::vector<std::pair<float, int64_t>> output_quant, const std::string& model_path) {
            OpenVinoDeviceOptions o;
            o.device = device;
            o.num_threads = num_threads;
            if (ssd_options) o.ssd = ssd_from_dict(*ssd_options);
            o.input_quant = {input_quant.first, input_quant.second};
            for (const auto& q : output_quant) o.output_quant.push_back({q.first, q.second});
            std::string x = bytes_of(xml), w = bytes_of(weights);
            py::gil_scoped_release release;
            return OpenVinoCompiled::compile(std::move(runtime), x, w, o, streams, model_path);
        },
        py::arg("runtime"), py::arg("xml"), py::arg("weights"), py::arg("device") = "CPU", py::arg("num_threads") = 0,
        py::arg("streams") = 1, py::arg("ssd_options") = py::none(),
        py::arg("input_quant") = std::pair<float, int64_t>(0.0f, 0),
        py::arg("output_quant") = std::vector<std::pair<float, int64_t>>(), py::arg("model_path") = "",
        "Compiles the IR (xml, weights bytes), or the model file at `model_path` (.tflite, .onnx, .xml), for an "
        "OpenVINO device, for `streams` devices running at once (the CPU gets one stream of `num_threads` "
        "threads per device).");

    m.def(
        "openvino_device",
        [](std::shared_ptr<OpenVinoCompiled> compiled, const std::string& name) -> std::shared_ptr<Device> {
            py::gil_scoped_release release;
            return std::make_shared<OpenVinoDevice>(std::move(compiled), name);
        },
        py::arg("compiled"), py::arg("name"), "A device: one infer request of a compiled model.");

    m.def("openvino_outputs_zero_copy", [](const std::shared_ptr<Device>& d, std::uintptr_t block) {
        auto* ov = dynamic_cast<OpenVinoDevice*>(d.get());
        if (!ov) throw DeviceError("not an OpenVINO device");
        return ov->outputs_zero_copy(reinterpret_cast<uint8_t*>(block));
    }, "Test hook: did the last invoke leave every output in `block` without a copy?");
    m.def("openvino_execution_devices", [](const std::shared_ptr<Device>& d) {
        auto* ov = dynamic_cast<OpenVinoDevice*>(d.get());
        if (!ov) throw DeviceError("not an OpenVINO device");
        return ov->execution_devices();
    });
}

}  // namespace sc
