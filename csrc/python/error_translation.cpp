#include "python/error_translation.h"

#include <pybind11/pybind11.h>

#include <new>
#include <string>

#include "common/errors.h"

namespace py = pybind11;

namespace sc {

namespace {

void raise_native(const char* python_class, const std::string& message) {
    py::object error = py::module_::import("streamcore.errors").attr("from_native")(python_class, message);
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
}

}  // namespace

void register_error_translation() {
    py::register_exception_translator([](std::exception_ptr p) {
        if (!p) return;
        try {
            std::rethrow_exception(p);
        } catch (const Error& e) {
            // One map, in Python: streamcore.errors.from_native (futures use it too).
            raise_native(e.python_class(), e.what());
        } catch (const std::bad_alloc& e) {
            // As on the workers (a job's std::exception becomes InferenceError): a StreamcoreError.
            raise_native("InferenceError",
                         std::string("out of memory in streamcore's native code (") + e.what() +
                             "); the frame, the model or the number of devices needs more memory than is free");
        }
    });
}

}  // namespace sc
