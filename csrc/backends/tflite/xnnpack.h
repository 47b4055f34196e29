#pragma once

namespace sc {

// An XNNPACK delegate with quantized (QS8|QU8) kernels enabled: without them quantized
// models fall back to TFLite's reference kernels, about 10x slower.
class XnnpackDelegate {
public:
    explicit XnnpackDelegate(int num_threads);
    ~XnnpackDelegate();
    XnnpackDelegate(const XnnpackDelegate&) = delete;
    XnnpackDelegate& operator=(const XnnpackDelegate&) = delete;

    // Must outlive the interpreter it is applied to.
    void apply_to(void* interpreter);

private:
    void* delegate_ = nullptr;
};

}  // namespace sc
