#include "scheduler/output_pool.h"

#include <cstdlib>
#include <new>

namespace sc {
namespace {
constexpr std::size_t kAlignment = 64;
}

std::shared_ptr<OutputPool> OutputPool::create(std::size_t block_bytes, std::size_t max_idle) {
    return std::shared_ptr<OutputPool>(new OutputPool(block_bytes ? block_bytes : 1, max_idle));
}

OutputPool::~OutputPool() {
    for (uint8_t* block : idle_) std::free(block);
}

std::shared_ptr<uint8_t> OutputPool::acquire() {
    uint8_t* block = nullptr;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!idle_.empty()) {
            block = idle_.back();
            idle_.pop_back();
        }
    }
    if (!block) {
        std::size_t rounded = (block_bytes_ + kAlignment - 1) / kAlignment * kAlignment;
        block = static_cast<uint8_t*>(std::aligned_alloc(kAlignment, rounded));
        if (!block) throw std::bad_alloc();
    }
    auto self = shared_from_this();  // blocks may outlive the engine that made them
    return std::shared_ptr<uint8_t>(block, [self](uint8_t* b) { self->release(b); });
}

void OutputPool::release(uint8_t* block) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.size() < max_idle_) {
        idle_.push_back(block);
    } else {
        std::free(block);
    }
}

std::size_t OutputPool::idle_blocks() {
    std::lock_guard<std::mutex> lock(mutex_);
    return idle_.size();
}

}  // namespace sc
