#include "python/error_translation.h"

#include <pybind11/pybind11.h>

#include "common/errors.h"

namespace py = pybind11;

namespace sc {

void register_error_translation() {
    py::register_exception_translator([](std::exception_ptr p) {
        if (!p) return;
        try {
            std::rethrow_exception(p);
        } catch (const Error& e) {
            // One map, in Python: streamcore.errors.from_native (futures use it too).
            py::object error = py::module_::import("streamcore.errors").attr("from_native")(e.python_class(), e.what());
            PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
        }
    });
}

}  // namespace sc
