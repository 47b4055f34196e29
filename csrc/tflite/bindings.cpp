#include "tflite/bindings.h"

#include <memory>

#include "common/errors.h"
#include "tflite/model_check.h"
#include "tflite/symbols.h"
#include "tflite/xnnpack.h"

namespace py = pybind11;

namespace sc {
namespace {

void* as_interpreter(std::uintptr_t handle) {
    if (!handle) throw ModelError("null interpreter handle");
    return reinterpret_cast<void*>(handle);
}

}  // namespace

void bind_tflite(py::module_& m) {
    m.def("load_tflite", [](const std::string& path) { load_tflite_api(path); },
          py::arg("path"), "Resolve the TFLite C++ API from tflite_runtime's extension at `path`.");
    m.def(
        "verify_model",
        [](py::buffer data) {
            py::buffer_info info = data.request();
            const char* ptr = static_cast<const char*>(info.ptr);
            std::size_t size = static_cast<std::size_t>(info.size * info.itemsize);
            py::gil_scoped_release release;
            verify_model(ptr, size);
        },
        py::arg("data"));
    py::class_<XnnpackDelegate, std::shared_ptr<XnnpackDelegate>>(m, "XnnpackDelegate")
        .def(py::init<int>(), py::arg("num_threads") = 1)
        .def("apply_to", [](XnnpackDelegate& d, std::uintptr_t handle) {
            void* interp = as_interpreter(handle);
            py::gil_scoped_release release;
            d.apply_to(interp);
        });
    m.def("allocate_tensors", [](std::uintptr_t handle) {
        void* interp = as_interpreter(handle);
        int status;
        {
            py::gil_scoped_release release;
            status = tflite_api().allocate_tensors(interp);
        }
        if (status != 0) {
            throw ModelError("AllocateTensors failed (see the TFLite log above); the model may "
                             "need ops or a device this runtime lacks");
        }
    });
    m.def("set_num_threads", [](std::uintptr_t handle, int n) {
        tflite_api().set_num_threads(as_interpreter(handle), n);
    });
    m.def(
        "invoke",
        [](std::uintptr_t handle) {
            void* interp = as_interpreter(handle);
            int status;
            {
                py::gil_scoped_release release;
                status = tflite_api().invoke(interp);
            }
            if (status != 0) throw InferenceError("Invoke failed (see the TFLite log above)");
        },
        "Invoke an interpreter by handle with the GIL released (benchmarks and tests).");
}

}  // namespace sc
