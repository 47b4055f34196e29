// Python-facing frame and parameter objects, shared by the preprocess and engine bindings.
#pragma once
#include <pybind11/pybind11.h>

#include <vector>

#include "preprocess/frame.h"

namespace sc {

// A frame borrowed from Python buffers (PyAV planes or numpy arrays) without a copy.
// Holds the buffer views, so the memory stays valid while this object lives.
class FrameView {
public:
    Frame frame;
    std::vector<pybind11::buffer_info> views;
};

void bind_preprocess(pybind11::module_& m);

}  // namespace sc
