// Python objects that native devices and jobs depend on, held without the core knowing
// about Python: released in order, with the GIL taken, when the last owner lets go.
#pragma once
#include <pybind11/pybind11.h>

#include <memory>

namespace sc {

// Items of `objects` are dropped first to last (an interpreter before the delegate it uses).
inline std::shared_ptr<void> hold_python(pybind11::list objects) {
    auto* held = new pybind11::list(std::move(objects));
    return std::shared_ptr<void>(held, [](void* p) {
        pybind11::gil_scoped_acquire gil;
        auto* list = static_cast<pybind11::list*>(p);
        while (list->size() > 0) list->attr("pop")(0);
        delete list;
    });
}

inline std::shared_ptr<void> hold_python(pybind11::object object) {
    // Owns the reference directly: one allocation (the control block) per frame, not two.
    PyObject* held = object.release().ptr();
    return std::shared_ptr<void>(held, [](void* p) {
        pybind11::gil_scoped_acquire gil;
        Py_XDECREF(static_cast<PyObject*>(p));
    });
}

}  // namespace sc
