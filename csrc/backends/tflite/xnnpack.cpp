#include "backends/tflite/xnnpack.h"

#include <string>

#include "common/errors.h"
#include "backends/tflite/symbols.h"

namespace sc {

XnnpackDelegate::XnnpackDelegate(int num_threads) {
    const TfLiteApi& api = tflite_api();
    XnnpackOptions options = api.xnnpack_options_default();
    options.num_threads = num_threads > 1 ? num_threads : 0;
    options.flags |= kXnnpackFlagQS8 | kXnnpackFlagQU8;
    delegate_ = api.xnnpack_create(&options);
    if (!delegate_) throw ModelError("XNNPACK delegate could not be created");
    // Proves our view of the options layout matches the library's.
    uint32_t flags = api.xnnpack_get_flags(delegate_);
    if ((flags & (kXnnpackFlagQS8 | kXnnpackFlagQU8)) != (kXnnpackFlagQS8 | kXnnpackFlagQU8)) {
        api.xnnpack_delete(delegate_);
        delegate_ = nullptr;
        throw ModelError("XNNPACK rejected the quantized-kernel flags (got flags " +
                         std::to_string(flags) + "); streamcore needs tflite-runtime==2.14.0");
    }
}

XnnpackDelegate::~XnnpackDelegate() {
    if (delegate_) tflite_api().xnnpack_delete(delegate_);
}

void XnnpackDelegate::apply_to(void* interpreter) {
    if (tflite_api().modify_graph_with_delegate(interpreter, delegate_) != 0) {
        throw ModelError("applying the XNNPACK delegate failed; the model may use ops XNNPACK "
                         "cannot take (see the TFLite log above)");
    }
}

}  // namespace sc
