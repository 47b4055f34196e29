// Python objects that native devices and jobs depend on, held without the core knowing
// about Python: released in order, with the GIL taken, when the last owner lets go.
#pragma once
#include <pybind11/pybind11.h>

#include <memory>
#include <string>

#include "common/errors.h"

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

// Holds a C-contiguous buffer export of `object` (bytes, numpy array, zmq frame, ...) for as
// long as a native job reads it: the export also keeps a bytearray from being resized under it.
// Throws InputError for an object without one.
inline std::shared_ptr<Py_buffer> hold_buffer(pybind11::handle object) {
    auto* view = new Py_buffer();
    if (PyObject_GetBuffer(object.ptr(), view, PyBUF_C_CONTIGUOUS) != 0) {
        delete view;
        PyErr_Clear();
        throw InputError(std::string("a raw tensor must be a C-contiguous buffer (bytes, memoryview, "
                                     "numpy array, zmq frame), not ") + Py_TYPE(object.ptr())->tp_name);
    }
    return std::shared_ptr<Py_buffer>(view, [](Py_buffer* v) {
        pybind11::gil_scoped_acquire gil;
        PyBuffer_Release(v);
        delete v;
    });
}

}  // namespace sc
