#pragma once
#include <pybind11/pybind11.h>
namespace sc {
void bind_tflite(pybind11::module_& m);
}
