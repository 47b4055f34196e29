#include "backends/litert/runtime.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "backends/litert/quiet_stderr.h"
#include "common/errors.h"

namespace sc {
namespace litert {

const char* status_name(LiteRtStatus s) {
    switch (s) {
        case kLiteRtStatusOk: return "Ok";
        case kLiteRtStatusErrorInvalidArgument: return "InvalidArgument";
        case kLiteRtStatusErrorMemoryAllocationFailure: return "MemoryAllocationFailure";
        case kLiteRtStatusErrorRuntimeFailure: return "RuntimeFailure";
        case kLiteRtStatusErrorMissingInputTensor: return "MissingInputTensor";
        case kLiteRtStatusErrorUnsupported: return "Unsupported";
        case kLiteRtStatusErrorNotFound: return "NotFound";
        case kLiteRtStatusErrorTimeoutExpired: return "TimeoutExpired";
        case kLiteRtStatusErrorWrongVersion: return "WrongVersion";
        case kLiteRtStatusErrorUnknown: return "Unknown";
        case kLiteRtStatusErrorAlreadyExists: return "AlreadyExists";
        case kLiteRtStatusCancelled: return "Cancelled";
        case kLiteRtStatusErrorFileIO: return "FileIO";
        case kLiteRtStatusErrorInvalidFlatbuffer: return "InvalidFlatbuffer";
        case kLiteRtStatusErrorDynamicLoading: return "DynamicLoading";
        case kLiteRtStatusErrorSerialization: return "Serialization";
        case kLiteRtStatusErrorCompilation: return "Compilation";
        case kLiteRtStatusErrorIndexOOB: return "IndexOOB";
        case kLiteRtStatusErrorInvalidIrType: return "InvalidIrType";
        case kLiteRtStatusErrorInvalidGraphInvariant: return "InvalidGraphInvariant";
        case kLiteRtStatusErrorGraphModification: return "GraphModification";
        case kLiteRtStatusErrorUnsupportedRuntimeVersion: return "UnsupportedRuntimeVersion";
        case kLiteRtStatusErrorUnsupportedCompilerVersion: return "UnsupportedCompilerVersion";
        case kLiteRtStatusErrorIncompatibleByteCodeVersion: return "IncompatibleByteCodeVersion";
        case kLiteRtStatusErrorUnsupportedOpShapeInferer: return "UnsupportedOpShapeInferer";
        case kLiteRtStatusErrorShapeInferenceFailed: return "ShapeInferenceFailed";
    }
    return "status?";
}

namespace {

std::string dirname_of(const std::string& p) {
    auto pos = p.find_last_of('/');
    return pos == std::string::npos ? std::string(".") : p.substr(0, pos);
}

bool file_contains(const std::string& path, const std::string& needle) {
    std::ifstream f(path);
    if (!f) return false;
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str().find(needle) != std::string::npos;
}

// libLiteRt.so 2.3 exports no runtime-version function (checked with nm -D: only
// LiteRtGetAcceleratorVersion / LiteRtDispatchGetApiVersion / compiler-plugin versions,
// none of which is the package version; LITERT_API_VERSION_* are header macros).
// The version therefore comes from the wheel's metadata next to the library:
//   <site-packages>/ai_edge_litert/libLiteRt.so  ->  <site-packages>/ai_edge_litert-X.Y.Z.dist-info/METADATA
// If several dist-info directories are present, the one whose RECORD lists this
// library is used. Returns "" when not determinable.
std::string wheel_version(const std::string& real_lib_path) {
    const std::string pkg_dir = dirname_of(real_lib_path);
    const std::string pkg_name = pkg_dir.substr(pkg_dir.find_last_of('/') + 1);
    const std::string site = dirname_of(pkg_dir);
    const std::string lib_name = real_lib_path.substr(real_lib_path.find_last_of('/') + 1);
    DIR* d = opendir(site.c_str());
    if (!d) return "";
    std::vector<std::string> candidates;
    while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        const std::string suffix = ".dist-info";
        if (n.rfind("ai_edge_litert-", 0) == 0 && n.size() > suffix.size() &&
            n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
            candidates.push_back(site + "/" + n);
    }
    closedir(d);
    std::string chosen;
    for (const auto& c : candidates) {
        if (candidates.size() == 1 || file_contains(c + "/RECORD", pkg_name + "/" + lib_name)) {
            chosen = c;
            break;
        }
    }
    if (chosen.empty()) return "";
    std::ifstream meta(chosen + "/METADATA");
    std::string line;
    while (std::getline(meta, line)) {
        if (line.rfind("Version:", 0) == 0) {
            std::string v = line.substr(8);
            v.erase(0, v.find_first_not_of(" \t"));
            while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
            return v;
        }
    }
    return "";
}

bool parse_major_minor(const std::string& v, int* major, int* minor) {
    return std::sscanf(v.c_str(), "%d.%d", major, minor) == 2;
}

std::mutex g_cache_mutex;
std::map<std::string, std::weak_ptr<LiteRtRuntime>> g_cache;

}  // namespace

std::shared_ptr<LiteRtRuntime> LiteRtRuntime::load(const std::string& library_path) {
    char resolved[PATH_MAX];
    if (!realpath(library_path.c_str(), resolved))
        throw Error("BackendUnavailableError",
                    "LiteRT library not found at '" + library_path + "'; pip install '" + kPipRequirement + "'");
    const std::string real = resolved;

    std::lock_guard<std::mutex> lock(g_cache_mutex);
    if (auto it = g_cache.find(real); it != g_cache.end())
        if (auto rt = it->second.lock()) return rt;

    // Version first: refuse an untested library before running any of its code
    // (dlopen runs its static constructors).
    const std::string version = wheel_version(real);
    int major = 0, minor = 0;
    if (version.empty() || !parse_major_minor(version, &major, &minor))
        throw Error("BackendVersionError",
                    "cannot determine the ai-edge-litert version of '" + real +
                        "' (no ai_edge_litert-*.dist-info/METADATA next to it; libLiteRt.so exports no "
                        "version function); streamcore supports " + kPipRequirement);
    const bool below = major < kMinMajor || (major == kMinMajor && minor < kMinMinor);
    const bool above = major > kMaxMajor || (major == kMaxMajor && minor >= kMaxMinor);
    if (below || above)
        throw Error("BackendVersionError", "ai-edge-litert " + version + " at '" + real +
                                               "' is outside the range streamcore was tested with (" +
                                               kPipRequirement + "); pip install '" + kPipRequirement + "'");

    void* handle = dlopen(real.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char* err = dlerror();
        throw Error("BackendUnavailableError", std::string("cannot dlopen LiteRT library '") + real +
                                                   "': " + (err ? err : "?") + "; pip install '" +
                                                   kPipRequirement + "'");
    }
    std::shared_ptr<LiteRtRuntime> rt(new LiteRtRuntime());
    rt->handle_ = handle;
    rt->path_ = real;
    rt->version_ = version;
#define SC_LITERT_FN(name)                                                                              \
    rt->api_.name = reinterpret_cast<PFN_##name>(dlsym(handle, #name));                                 \
    if (!rt->api_.name)                                                                                 \
        throw Error("BackendUnavailableError", std::string("LiteRT library '") + real + "' (version " + \
                                                   version + ") lacks the C API symbol " #name          \
                                                   "; pip install '" + kPipRequirement + "'");
#include "backends/litert/litert_symbols.inc"
#undef SC_LITERT_FN

    LiteRtEnvironment env = nullptr;
    LiteRtStatus st;
    {
        QuietStderr quiet;
        st = rt->api_.LiteRtCreateEnvironment(0, nullptr, &env);
    }
    if (st != kLiteRtStatusOk || !env)
        throw Error("BackendUnavailableError",
                    std::string("LiteRtCreateEnvironment failed: ") + status_name(st));
    rt->env_ = env;
    g_cache[real] = rt;
    return rt;
}

LiteRtRuntime::~LiteRtRuntime() {
    if (env_ && api_.LiteRtDestroyEnvironment) {
        QuietStderr quiet;
        api_.LiteRtDestroyEnvironment(env_);
    }
    // handle_ is deliberately never dlclose()d (see runtime.h).
}

}  // namespace litert
}  // namespace sc
