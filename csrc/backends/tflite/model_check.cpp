#include "backends/tflite/model_check.h"

#include <string>

#include "common/errors.h"
#include "backends/tflite/symbols.h"

namespace sc {

void verify_model(const char* data, std::size_t size) {
    if (size < 8 || std::string(data + 4, 4) != "TFL3") {
        throw ModelError("not a TensorFlow Lite model (no 'TFL3' identifier in the first 8 bytes); "
                         "pass a .tflite file");
    }
    const TfLiteApi& api = tflite_api();
    ReturnedModel built = api.verify_and_build_from_buffer(data, size, nullptr, nullptr);
    if (!built.model) {
        throw ModelError("the model failed TFLite's flatbuffer verification (truncated or corrupt "
                         "file, " + std::to_string(size) + " bytes); re-download or re-export it");
    }
    api.flatbuffer_model_destroy(built.model);
    ::operator delete(built.model);
}

}  // namespace sc
