// Python bindings of the LiteRT backend. The real module binds sc::Device itself
// (py::class_<Device, std::shared_ptr<Device>>(m, "Device")) and then calls
// bind_litert(m); nothing here depends on how Device is bound.
#include "python/litert_bindings.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>

#include "backends/litert/device.h"
#include "backends/litert/runtime.h"
#include "common/errors.h"

namespace py = pybind11;

namespace sc {

namespace {
std::shared_ptr<litert::LiteRtRuntime> runtime_from(py::handle h) {
    if (py::isinstance<litert::LiteRtRuntime>(h)) return h.cast<std::shared_ptr<litert::LiteRtRuntime>>();
    if (py::isinstance<py::str>(h)) {
        std::string path = h.cast<std::string>();
        py::gil_scoped_release nogil;
        return litert::LiteRtRuntime::load(path);
    }
    // os.PathLike
    if (py::hasattr(h, "__fspath__")) {
        std::string path = py::str(h.attr("__fspath__")());
        py::gil_scoped_release nogil;
        return litert::LiteRtRuntime::load(path);
    }
    throw py::type_error("runtime must be a LiteRtRuntime or the path of libLiteRt.so");
}
}  // namespace

void bind_litert(py::module_& m) {
    py::class_<litert::LiteRtRuntime, std::shared_ptr<litert::LiteRtRuntime>>(m, "LiteRtRuntime")
        .def_property_readonly("version", &litert::LiteRtRuntime::version)
        .def_property_readonly("path", &litert::LiteRtRuntime::path);

    m.attr("LITERT_REQUIREMENT") = litert::kPipRequirement;

    // load_litert(path) -> version string. Loads (and caches) the runtime; raises
    // BackendUnavailableError / BackendVersionError (as sc::Error).
    m.def(
        "load_litert",
        [](const std::string& path) {
            py::gil_scoped_release nogil;
            return litert::LiteRtRuntime::load(path)->version();
        },
        py::arg("path"));
    // litert_runtime(path) -> LiteRtRuntime handle (same cached object as load_litert).
    m.def(
        "litert_runtime",
        [](const std::string& path) {
            py::gil_scoped_release nogil;
            return litert::LiteRtRuntime::load(path);
        },
        py::arg("path"));

    // litert_device(runtime, model, num_threads, name) -> Device
    //   runtime: LiteRtRuntime handle or path of libLiteRt.so
    //   model: bytes (copied; the caller's object is not retained)
    m.def(
        "litert_device",
        [](py::object runtime, py::bytes model, int num_threads, const std::string& name,
           bool takes_frames) -> std::shared_ptr<Device> {
            auto rt = runtime_from(runtime);
            std::string bytes = model;  // own copy taken with the GIL held
            py::gil_scoped_release nogil;
            return std::make_shared<litert::LiteRtDevice>(std::move(rt), bytes.data(), bytes.size(), num_threads,
                                                          name, takes_frames);
        },
        py::arg("runtime"), py::arg("model"), py::arg("num_threads") = 1, py::arg("name") = "litert:cpu",
        py::arg("takes_frames") = true);
}

}  // namespace sc
