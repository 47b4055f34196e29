#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>

#include "preprocess/frame.h"

namespace sc {

using Clock = std::chrono::steady_clock;

// A caller-given input tensor (not the image): copied into input `input` of the segment `stage`.
struct ExtraInput {
    int stage = 0;
    int input = 0;
    const void* data = nullptr;  // held by the job's keeper
    std::size_t bytes = 0;
};

// One frame on its way through a device. Workers move it by pointer only. `keeper` owns
// whatever holds the frame's planes (Python buffers); the binding layer gives it a deleter
// that takes the GIL, and jobs are destroyed on the thread that drains them.
struct Job {
    uint64_t id = 0;
    std::shared_ptr<void> keeper;
    Frame frame;
    PreprocessParams params;
    // Set for a raw tensor (no frame, no preprocess): copied as is into the device input.
    const uint8_t* raw = nullptr;
    std::size_t raw_bytes = 0;
    Clock::time_point submitted;

    std::vector<ExtraInput> extras;

    int device = -1;
    int attempts = 0;     // on the current stage
    int stage = 0;        // the segment it runs next (pipelined models); 0 otherwise
    // The previous segment's output block, which feeds this stage; kept until the stage ran,
    // so a failed invoke can be retried on a replica.
    std::shared_ptr<uint8_t> stage_input;
    Geometry geometry;
    std::shared_ptr<uint8_t> outputs;
    int64_t queue_ns = 0, preprocess_ns = 0, invoke_ns = 0, total_ns = 0;
    std::exception_ptr error;
    bool device_failed = false;  // the invoke failed (not the frame's preprocessing)
    int staging_slot = -1;       // prefetching lanes: where this frame was preprocessed
};

}  // namespace sc
