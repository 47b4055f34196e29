#pragma once
#include <cstddef>

namespace sc {
// Runs TFLite's flatbuffer verifier over the whole model; throws ModelError if it fails.
// tflite_runtime's own loader does not verify and crashes on truncated files.
void verify_model(const char* data, std::size_t size);
}
