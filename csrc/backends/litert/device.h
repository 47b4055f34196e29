// LiteRtDevice: one LiteRT CompiledModel on the CPU (XNNPACK), driven through the
// LiteRT C API resolved at run time (runtime.h). See NOTES.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/litert/litert_c_api.h"
#include "backends/litert/runtime.h"
#include "scheduler/device.h"

namespace sc {
namespace litert {

class LiteRtDevice : public sc::Device {
public:
    // Copies `model` (LiteRT keeps pointers into the flatbuffer for the model's life).
    // num_threads >= 1: XNNPACK thread count (0 lets LiteRT decide).
    // Throws ModelError for bad/unsupported models, DeviceError for a failed compile.
    // `takes_frames`: the first image-shaped input is filled from frames; false for a later
    // segment of a pipelined model (every input is copied in).
    LiteRtDevice(std::shared_ptr<LiteRtRuntime> runtime, const void* model, std::size_t model_size,
                 int num_threads, std::string name, bool takes_frames = true);
    ~LiteRtDevice() override;

    std::vector<TensorMeta> describe_inputs() const override { return input_meta_; }
    std::vector<TensorMeta> describe_outputs() const override { return output_meta_; }
    void invoke(uint8_t* block) override;

    const std::shared_ptr<LiteRtRuntime>& runtime() const { return rt_; }
    int num_threads() const { return num_threads_; }
    // Byte size of each output tensor (after shapes were settled at build time).
    const std::vector<std::size_t>& output_tensor_bytes() const { return output_bytes_; }

    // Block-bound output buffers are cached per (block pointer, layout); blocks are
    // recycled from a pool, so a small LRU is enough.
    static constexpr std::size_t kMaxCachedBlocks = 32;

private:
    struct BlockBinding {
        uint8_t* block = nullptr;
        std::vector<OutputSpan> spans;
        std::vector<LiteRtTensorBuffer> buffers;
        uint64_t last_use = 0;
    };
    BlockBinding& binding_for(uint8_t* block);
    void release_binding(BlockBinding& b);
    void cleanup();

    std::shared_ptr<LiteRtRuntime> rt_;
    const LiteRtApi& api_;
    int num_threads_;
    void* model_bytes_ = nullptr;  // 64-byte aligned copy of the model
    LiteRtModel model_ = nullptr;
    LiteRtOptions options_ = nullptr;
    LiteRtCompiledModel compiled_ = nullptr;
    std::vector<void*> input_mems_;  // 64-byte aligned, one per input (input_.data is the image's)
    std::vector<LiteRtTensorBuffer> input_buffers_;
    std::vector<TensorMeta> input_meta_;
    std::vector<LiteRtRankedTensorType> input_types_;
    std::vector<std::size_t> input_bytes_;
    std::vector<TensorMeta> output_meta_;
    std::vector<LiteRtRankedTensorType> output_types_;  // with settled shapes
    std::vector<std::size_t> output_bytes_;
    std::vector<BlockBinding> bindings_;
    uint64_t use_clock_ = 0;
};

}  // namespace litert
}  // namespace sc
