// Native errors carry the name of the streamcore.errors class they become in Python.
#pragma once
#include <stdexcept>
#include <string>

namespace sc {

class Error : public std::runtime_error {
public:
    Error(const char* python_class, const std::string& message)
        : std::runtime_error(message), python_class_(python_class) {}
    const char* python_class() const noexcept { return python_class_; }

private:
    const char* python_class_;
};

// Each maps to the streamcore.errors class of the same name.
inline Error InputError(const std::string& m) { return Error("InputError", m); }
inline Error RoiError(const std::string& m) { return Error("RoiError", m); }
inline Error ModelError(const std::string& m) { return Error("ModelError", m); }
inline Error InferenceError(const std::string& m) { return Error("InferenceError", m); }
inline Error EngineClosedError(const std::string& m) { return Error("EngineClosedError", m); }
inline Error DeviceError(const std::string& m) { return Error("DeviceError", m); }
inline Error DeviceNotFoundError(const std::string& m) { return Error("DeviceNotFoundError", m); }
inline Error EdgeTpuUnavailableError(const std::string& m) { return Error("EdgeTpuUnavailableError", m); }

}  // namespace sc
