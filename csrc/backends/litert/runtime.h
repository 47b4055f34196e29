// LiteRT runtime loader: dlopen()s libLiteRt.so (ai-edge-litert wheel) and resolves
// the C API subset declared in litert_c_api.h. No link-time dependency on LiteRT.
#pragma once
#include <memory>
#include <mutex>
#include <string>

#include "backends/litert/litert_c_api.h"

namespace sc {
namespace litert {

// The tested range of the ai-edge-litert package (inclusive min, exclusive max).
constexpr int kMinMajor = 2, kMinMinor = 3;   // >= 2.3
constexpr int kMaxMajor = 2, kMaxMinor = 4;   // <  2.4
constexpr const char* kPipRequirement = "ai-edge-litert>=2.3,<2.4";

struct LiteRtApi {
#define SC_LITERT_FN(name) PFN_##name name = nullptr;
#include "backends/litert/litert_symbols.inc"
#undef SC_LITERT_FN
};

// Human-readable name of a LiteRtStatus (LiteRtGetStatusString is not exported).
const char* status_name(LiteRtStatus s);

class LiteRtRuntime {
public:
    // dlopen(RTLD_NOW|RTLD_LOCAL) + dlsym of every symbol. Throws
    //   sc::Error("BackendUnavailableError", ...) if the library or a symbol is missing,
    //   sc::Error("BackendVersionError", ...)     if the version is outside the tested range
    //                                              or cannot be determined.
    // Runtimes are cached per canonical path: loading the same library twice returns
    // the same object (the library is never dlclose()d: LiteRT/XNNPACK keep global
    // state and thread pools whose code must stay mapped).
    static std::shared_ptr<LiteRtRuntime> load(const std::string& library_path);

    ~LiteRtRuntime();
    LiteRtRuntime(const LiteRtRuntime&) = delete;
    LiteRtRuntime& operator=(const LiteRtRuntime&) = delete;

    const std::string& version() const { return version_; }
    const std::string& path() const { return path_; }
    const LiteRtApi& api() const { return api_; }

    // One LiteRtEnvironment per runtime, shared by all devices built from it.
    // The environment is only used at build time (CreateModelFromBuffer /
    // CreateCompiledModel); those calls are serialised with build_mutex() because the
    // environment's accelerator registry is not documented as thread-safe. Running a
    // compiled model does not touch the environment, so invoke() on different devices
    // runs concurrently without a lock.
    LiteRtEnvironment env() const { return env_; }
    std::mutex& build_mutex() { return build_mutex_; }

private:
    LiteRtRuntime() = default;
    void* handle_ = nullptr;
    std::string path_;
    std::string version_;
    LiteRtApi api_;
    LiteRtEnvironment env_ = nullptr;
    std::mutex build_mutex_;
};

}  // namespace litert
}  // namespace sc
