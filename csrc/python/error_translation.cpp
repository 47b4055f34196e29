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
            py::object cls = py::module_::import("streamcore.errors").attr(e.python_class());
            PyErr_SetString(cls.ptr(), e.what());
        }
    });
}

}  // namespace sc
