#include <pybind11/pybind11.h>

#include "common/error_translation.h"
#include "edgetpu/bindings.h"
#include "preprocess/bindings.h"
#include "scheduler/bindings.h"
#include "tflite/bindings.h"

PYBIND11_MODULE(_core, m) {
    m.doc() = "streamcore native core (private: use the streamcore package)";
    sc::register_error_translation();
    sc::bind_tflite(m);
    sc::bind_preprocess(m);
    sc::bind_engine(m);
    sc::bind_edgetpu(m);
}
