#include "python/edgetpu_bindings.h"

#include <pybind11/stl.h>

#include <cstdlib>

#include "common/errors.h"
#include "backends/edgetpu/runtime.h"
#include "backends/tflite/symbols.h"
#include "python/probe.h"

namespace py = pybind11;

namespace sc {
namespace {

// The registerer and binder call into TFLite's C++ API; resolve it from tflite_runtime on first use.
void ensure_tflite_api() {
    try {
        tflite_api();
        return;
    } catch (const Error&) {
    }
    py::module_ wrapper = py::module_::import("tflite_runtime._pywrap_tensorflow_interpreter_wrapper");
    load_tflite_api(wrapper.attr("__file__").cast<std::string>());
}

// Python's EdgeTpuDevice: close() drops this reference; bound interpreters keep their own.
struct DeviceHandle {
    std::shared_ptr<OpenedEdgeTpu> device;
    std::string type;
    std::string path;

    const OpenedEdgeTpu& get() const {
        if (!device) throw DeviceError("Edge TPU " + type + ":" + path + " was closed; open it again");
        return *device;
    }
};

// Returned by bind_edgetpu_interpreter: keep it as long as the interpreter (e.g. as an attribute).
struct InterpreterBinding {
    std::shared_ptr<OpenedEdgeTpu> device;
};

}  // namespace

void bind_edgetpu(py::module_& m) {
    m.def(
        "default_libedgetpu_path",
        []() {
            const char* env = std::getenv(kLibEdgeTpuEnv);
            return std::string(env && *env ? env : kLibEdgeTpuDefault);
        },
        "$STREAMCORE_LIBEDGETPU, else libedgetpu.so.1.");

    py::class_<DeviceHandle>(m, "EdgeTpuDevice", "An opened Edge TPU (real or simulated).")
        .def_property_readonly("type", [](const DeviceHandle& d) { return d.type; })
        .def_property_readonly("path", [](const DeviceHandle& d) { return d.path; })
        .def_property_readonly("simulated", [](const DeviceHandle& d) { return d.get().simulated(); })
        .def_property_readonly("closed", [](const DeviceHandle& d) { return !d.device; })
        .def("is_ready", [](const DeviceHandle& d) { return d.get().is_ready(); })
        .def("options", [](const DeviceHandle& d) { return d.get().options(); },
             "libedgetpu's GetDeviceOptions(): the options it was opened with and its state.")
        .def("probe",
             [](const DeviceHandle& d) {
                 std::weak_ptr<OpenedEdgeTpu> weak = d.device;
                 return ReadyProbe{[weak] {
                     auto device = weak.lock();
                     return device && device->is_ready();
                 }};
             },
             "IsReady() as a native readiness probe for the device bound to this TPU.")
        .def("close", [](DeviceHandle& d) { d.device.reset(); },
             "Releases this handle; the device closes once no bound interpreter holds it.")
        .def("__repr__", [](const DeviceHandle& d) {
            return "<EdgeTpuDevice " + d.type + ":" + d.path + (d.device ? "" : " closed") + ">";
        });

    py::class_<ReadyProbe>(m, "ReadyProbe", "A native readiness probe.")
        .def("__call__", [](const ReadyProbe& p) {
            py::gil_scoped_release release;
            return p.ready();
        });

    py::class_<InterpreterBinding>(m, "EdgeTpuBinding",
                                   "Keeps an Edge TPU open while the interpreter bound to it lives.")
        .def_property_readonly("device_path", [](const InterpreterBinding& b) { return b.device->path(); });

    py::class_<EdgeTpuRuntime, std::shared_ptr<EdgeTpuRuntime>>(m, "EdgeTpuRuntime",
                                                                "libedgetpu loaded through its C++ ABI.")
        .def(py::init<const std::string&>(), py::arg("path"))
        .def_property_readonly("path", &EdgeTpuRuntime::path)
        .def_property_readonly("simulated", &EdgeTpuRuntime::simulated)
        .def("version", &EdgeTpuRuntime::version)
        .def(
            "enumerate",
            [](const EdgeTpuRuntime& rt) {
                std::vector<EdgeTpuRecord> records;
                {
                    py::gil_scoped_release release;
                    records = rt.enumerate();
                }
                std::vector<std::pair<std::string, std::string>> out;
                for (auto& r : records) out.emplace_back(r.type, r.path);
                return out;
            },
            "[(type, path)], type being \"usb\", \"pci\" or \"reference\" (simulated).")
        .def("opened_paths", &EdgeTpuRuntime::opened_paths,
             "Paths of the devices libedgetpu holds open (shared ownership).")
        .def("set_verbosity", &EdgeTpuRuntime::set_verbosity, py::arg("verbosity"))
        .def(
            "open",
            [](EdgeTpuRuntime& rt, const std::string& type, const std::string& path,
               const std::map<std::string, std::string>& options) {
                std::shared_ptr<OpenedEdgeTpu> device;
                {
                    py::gil_scoped_release release;
                    device = rt.open(type, path, options);
                }
                return DeviceHandle{device, type, path};
            },
            py::arg("type"), py::arg("path"), py::arg("options") = std::map<std::string, std::string>{})
        .def("custom_op_registerer",
             [](std::shared_ptr<EdgeTpuRuntime> rt) {
                 return py::cpp_function(
                     [rt](std::uintptr_t resolver_address) {
                         ensure_tflite_api();
                         rt->register_custom_op(resolver_address);
                     },
                     py::arg("op_resolver_address"));
             },
             "A callable for tflite_runtime's InterpreterWithCustomOps(custom_op_registerers=[...]).")
        .def("sim_configure", &EdgeTpuRuntime::sim_configure, py::arg("num_devices"), py::arg("latency_ms"))
        .def("sim_fault", &EdgeTpuRuntime::sim_fault, py::arg("path"), py::arg("fault"), py::arg("arg") = 0,
             "fault: \"fail_after\" (arg more invokes succeed, then every one fails), \"unplug\", \"busy\" "
             "(opening fails as if another process held it), \"replug\" (clears all).")
        .def(
            "sim_stats",
            [](const EdgeTpuRuntime& rt, const std::string& path) {
                SimStats s = rt.sim_stats(path);
                return std::make_pair(s.invokes, s.failures);
            },
            py::arg("path"), "(successful invokes, failed invokes) of a simulated device.");

    m.def(
        "bind_edgetpu_interpreter",
        [](std::uintptr_t interpreter_handle, const DeviceHandle& device) {
            ensure_tflite_api();
            bind_interpreter(interpreter_handle, device.get());
            return InterpreterBinding{device.device};
        },
        py::arg("interpreter_handle"), py::arg("device"),
        "Sets the device as the interpreter's Edge TPU context (before allocate_tensors). Keep the "
        "returned binding alive as long as the interpreter.");
}

}  // namespace sc
