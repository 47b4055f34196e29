#pragma once
#include <pybind11/pybind11.h>

namespace sc {
// Needs sc::Device bound first (py::class_<Device, std::shared_ptr<Device>>).
void bind_openvino(pybind11::module_& m);
}  // namespace sc
