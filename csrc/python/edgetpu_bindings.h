#pragma once
#include <pybind11/pybind11.h>
namespace sc {
// _core.EdgeTpuRuntime, _core.EdgeTpuDevice, _core.EdgeTpuBinding, _core.bind_edgetpu_interpreter.
void bind_edgetpu(pybind11::module_& m);
}
