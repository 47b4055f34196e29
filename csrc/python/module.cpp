#include <pybind11/pybind11.h>

#include "python/error_translation.h"
#include "python/edgetpu_bindings.h"
#include "python/preprocess_bindings.h"
#include "python/engine_bindings.h"
#include "python/litert_bindings.h"
#include "python/openvino_bindings.h"
#include "python/tflite_bindings.h"

PYBIND11_MODULE(_core, m) {
    m.doc() = "streamcore native core (private: use the streamcore package)";
    sc::register_error_translation();
    sc::bind_tflite(m);
    sc::bind_preprocess(m);
    sc::bind_engine(m);
    sc::bind_edgetpu(m);
    sc::bind_litert(m);
    sc::bind_openvino(m);
}
