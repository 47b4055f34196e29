#pragma once
#include <pybind11/pybind11.h>

namespace sc {
void bind_litert(pybind11::module_& m);
}
