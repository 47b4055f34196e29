#include "python/tflite_bindings.h"

#include <pybind11/stl.h>

#include <memory>

#include "common/errors.h"
#include "backends/tflite/device.h"
#include "backends/tflite/model_check.h"
#include "backends/tflite/symbols.h"
#include "backends/tflite/xnnpack.h"
#include "python/keepalive.h"
#include "preprocess/preprocess.h"
#include "python/probe.h"

namespace py = pybind11;

namespace sc {
namespace {

void* as_interpreter(std::uintptr_t handle) {
    if (!handle) throw ModelError("null interpreter handle");
    return reinterpret_cast<void*>(handle);
}

DType parse_dtype(const std::string& name) {
    if (name == "uint8") return DType::UInt8;
    if (name == "int8") return DType::Int8;
    if (name == "float32") return DType::Float32;
    throw ModelError("model input dtype " + name +
                     " is not supported; streamcore feeds uint8, int8 or float32 image tensors");
}

std::size_t tensor_bytes(const TensorMeta& meta, const std::string& device) {
    static const std::pair<const char*, std::size_t> sizes[] = {
        {"uint8", 1}, {"int8", 1}, {"bool", 1}, {"int16", 2}, {"float16", 2}, {"int32", 4},
        {"float32", 4}, {"int64", 8}, {"float64", 8}};
    std::size_t bytes = 0;
    for (auto& [dtype, size] : sizes) {
        if (meta.dtype == dtype) bytes = size;
    }
    if (!bytes) throw ModelError("device " + device + ": input " + meta.name + " has dtype " + meta.dtype + ", which streamcore does not feed");
    for (int64_t d : meta.shape) {
        if (d < 0) throw ModelError("device " + device + ": input " + meta.name + " has an unknown dimension");
        bytes *= static_cast<std::size_t>(d);
    }
    return bytes;
}

}  // namespace

void bind_tflite(py::module_& m) {
    m.def("load_tflite", [](const std::string& path) { load_tflite_api(path); },
          py::arg("path"), "Resolve the TFLite C++ API from tflite_runtime's extension at `path`.");
    m.def(
        "verify_model",
        [](py::buffer data) {
            py::buffer_info info = data.request();
            const char* ptr = static_cast<const char*>(info.ptr);
            std::size_t size = static_cast<std::size_t>(info.size * info.itemsize);
            py::gil_scoped_release release;
            verify_model(ptr, size);
        },
        py::arg("data"));
    py::class_<XnnpackDelegate, std::shared_ptr<XnnpackDelegate>>(m, "XnnpackDelegate")
        .def(py::init<int>(), py::arg("num_threads") = 1)
        .def("apply_to", [](XnnpackDelegate& d, std::uintptr_t handle) {
            void* interp = as_interpreter(handle);
            py::gil_scoped_release release;
            d.apply_to(interp);
        });
    m.def(
        "tflite_device",
        [](std::string name, std::string kind, std::uintptr_t interpreter, py::list owners,
           std::vector<std::uintptr_t> input_ptrs, std::vector<TensorMeta> inputs, int image_input,
           std::vector<std::uintptr_t> output_ptrs, std::vector<TensorMeta> outputs, bool prefetch,
           const ReadyProbe* probe) -> std::shared_ptr<Device> {
            if (inputs.empty() || inputs.size() != input_ptrs.size()) {
                throw ModelError("device " + name + ": one address per input expected");
            }
            if (image_input < -1 || image_input >= static_cast<int>(inputs.size())) {
                throw ModelError("device " + name + ": image input index out of range");
            }
            std::vector<InputBuffer> buffers;
            for (std::size_t i = 0; i < inputs.size(); ++i) {
                if (!input_ptrs[i]) throw ModelError("device " + name + ": input " + std::to_string(i) + " is not allocated");
                buffers.push_back({reinterpret_cast<void*>(input_ptrs[i]), tensor_bytes(inputs[i], name)});
            }
            TensorDesc desc;
            if (image_input >= 0) {
                const TensorMeta& in = inputs[image_input];
                if (in.shape.size() != 4) throw ModelError("device " + name + ": the image input is not [1, H, W, C]");
                desc.dtype = parse_dtype(in.dtype);
                check_input_shape(in.shape[1], in.shape[2], in.shape[3], desc.dtype, "device " + name);
                desc.data = buffers[image_input].data;
                desc.height = static_cast<int>(in.shape[1]);
                desc.width = static_cast<int>(in.shape[2]);
                desc.channels = static_cast<int>(in.shape[3]);
                desc.scale = in.scale;
                desc.zero_point = checked_zero_point(in.zero_point, desc.dtype, "device " + name + " input");
                desc.bytes = static_cast<std::size_t>(desc.height) * desc.width * desc.channels *
                             (desc.dtype == DType::Float32 ? 4 : 1);
            }
            std::vector<const void*> data;
            for (std::uintptr_t p : output_ptrs) data.push_back(reinterpret_cast<const void*>(p));
            auto device = std::make_shared<TfliteDevice>(
                std::move(name), std::move(kind), as_interpreter(interpreter), desc, std::move(buffers),
                std::move(data), std::move(inputs), std::move(outputs), prefetch,
                probe ? probe->ready : std::function<bool()>());
            device->keepalive = hold_python(std::move(owners));
            return device;
        },
        py::arg("name"), py::arg("kind"), py::arg("interpreter"), py::arg("owners"), py::arg("input_ptrs"),
        py::arg("inputs"), py::arg("image_input"), py::arg("output_ptrs"), py::arg("outputs"), py::arg("prefetch") = false,
        py::arg("probe") = nullptr,
        "A device over a tflite_runtime interpreter (every input's address; `image_input` is the one preprocess fills, -1 for none). `owners` (the Interpreter first, then the "
        "delegate or Edge TPU binding it uses) are released in that order after the device.");
    m.def("allocate_tensors", [](std::uintptr_t handle) {
        void* interp = as_interpreter(handle);
        int status;
        {
            py::gil_scoped_release release;
            status = tflite_api().allocate_tensors(interp);
        }
        if (status != 0) {
            throw ModelError("AllocateTensors failed (see the TFLite log above); the model may "
                             "need ops or a device this runtime lacks");
        }
    });
    m.def("set_num_threads", [](std::uintptr_t handle, int n) {
        tflite_api().set_num_threads(as_interpreter(handle), n);
    });
    m.def(
        "invoke",
        [](std::uintptr_t handle) {
            void* interp = as_interpreter(handle);
            int status;
            {
                py::gil_scoped_release release;
                status = tflite_api().invoke(interp);
            }
            if (status != 0) throw InferenceError("Invoke failed (see the TFLite log above)");
        },
        "Invoke an interpreter by handle with the GIL released (benchmarks and tests).");
}

}  // namespace sc
