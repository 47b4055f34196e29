// Fixed-size blocks that hold one inference's output tensors. A block returns to the
// pool only when its last reference (numpy arrays included) is gone, so memory is never
// reused while Python still sees it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace sc {

class OutputPool : public std::enable_shared_from_this<OutputPool> {
public:
    static std::shared_ptr<OutputPool> create(std::size_t block_bytes, std::size_t max_idle);
    ~OutputPool();

    std::shared_ptr<uint8_t> acquire();
    std::size_t block_bytes() const { return block_bytes_; }
    std::size_t idle_blocks();

private:
    OutputPool(std::size_t block_bytes, std::size_t max_idle)
        : block_bytes_(block_bytes), max_idle_(max_idle) {}
    void release(uint8_t* block);

    std::size_t block_bytes_;
    std::size_t max_idle_;
    std::mutex mutex_;
    std::vector<uint8_t*> idle_;
};

}  // namespace sc
