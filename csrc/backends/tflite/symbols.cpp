#include "backends/tflite/symbols.h"

#include <dlfcn.h>

#include <mutex>

#include "common/errors.h"

namespace sc {
namespace {

std::mutex g_mutex;
TfLiteApi g_api;
bool g_loaded = false;

template <typename Fn>
void resolve(void* handle, const char* symbol, Fn& out, const std::string& path) {
    void* p = dlsym(handle, symbol);
    if (!p) {
        throw Error("ModelError", "tflite_runtime at " + path + " does not export " + symbol +
                                      "; streamcore needs tflite-runtime==2.14.0 "
                                      "(ai-edge-litert hides its C++ symbols): "
                                      "pip install 'tflite-runtime==2.14.0' 'numpy<2'");
    }
    out = reinterpret_cast<Fn>(p);
}

}  // namespace

const TfLiteApi& load_tflite_api(const std::string& path) {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_loaded) return g_api;
    // RTLD_NOLOAD: reuse the copy Python already imported, so interpreters it creates and
    // the functions we call share one set of globals.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (!handle) handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char* err = dlerror();
        throw Error("ModelError", "cannot load tflite_runtime from " + path + ": " +
                                      (err ? err : "unknown error") +
                                      "; reinstall it with pip install 'tflite-runtime==2.14.0'");
    }
    TfLiteApi api;
    resolve(handle, "_ZN6tflite4impl11Interpreter6InvokeEv", api.invoke, path);
    resolve(handle, "_ZN6tflite4impl11Interpreter15AllocateTensorsEv", api.allocate_tensors, path);
    resolve(handle, "_ZN6tflite4impl11Interpreter13SetNumThreadsEi", api.set_num_threads, path);
    resolve(handle, "_ZN6tflite4impl11Interpreter23ModifyGraphWithDelegateEP14TfLiteDelegate",
            api.modify_graph_with_delegate, path);
    resolve(handle,
            "_ZN6tflite4impl11Interpreter18SetExternalContextE25TfLiteExternalContextTypeP21TfLiteExternalContext",
            api.set_external_context, path);
    resolve(handle, "_ZN6tflite17MutableOpResolver9AddCustomEPKcPK18TfLiteRegistrationi", api.add_custom,
            path);
    resolve(handle, "TfLiteXNNPackDelegateCreate", api.xnnpack_create, path);
    resolve(handle, "TfLiteXNNPackDelegateDelete", api.xnnpack_delete, path);
    resolve(handle, "TfLiteXNNPackDelegateOptionsDefault", api.xnnpack_options_default, path);
    resolve(handle, "TfLiteXNNPackDelegateGetFlags", api.xnnpack_get_flags, path);
    resolve(handle,
            "_ZN6tflite4impl15FlatBufferModel24VerifyAndBuildFromBufferEPKcmPNS_14TfLiteVerifierEPNS_13ErrorReporterE",
            api.verify_and_build_from_buffer, path);
    resolve(handle, "_ZN6tflite4impl15FlatBufferModelD1Ev", api.flatbuffer_model_destroy, path);
    api.library_path = path;
    g_api = api;
    g_loaded = true;
    return g_api;
}

const TfLiteApi& tflite_api() {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_loaded) throw Error("ModelError", "tflite_runtime is not loaded; import streamcore first");
    return g_api;
}

}  // namespace sc
