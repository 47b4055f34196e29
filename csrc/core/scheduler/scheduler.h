// Round-robin dispatch of jobs to device worker threads, with a bounded number in
// flight per device, and a completion queue drained by the event loop.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "scheduler/device.h"
#include "scheduler/job.h"
#include "scheduler/output_pool.h"

namespace sc {

struct DeviceStats {
    std::string name;
    int stage;
    bool healthy;
    std::size_t inflight;
    uint64_t frames, errors, busy_ns, retried;
};

// Input `input` of a segment's devices is copied from [offset, offset + bytes) of the previous
// segment's output block.
struct Feed {
    int input = 0;
    std::size_t offset = 0;
    std::size_t bytes = 0;
};

// Devices are grouped into stages (the segments of a pipelined model; one stage otherwise):
// a frame runs on one device of stage 0, then one of stage 1, ..., and completes after the last.
// Each stage balances, bounds and fails over among its own devices (replicas of its segment).
class Scheduler {
public:
    // `wake` is called from worker threads (no GIL) when completions are waiting.
    // With `failover`, a job whose device fails is retried on another healthy device and the
    // failing device is taken out of rotation until set_healthy(). Workers run `worker_nice`
    // steps below the caller's priority.
    Scheduler(std::vector<std::shared_ptr<Device>> devices, std::size_t depth_per_device,
              std::function<void()> wake, bool failover, std::string name, int worker_nice);
    // `stages[i]` is device i's stage (0..S-1, each present); `feeds[k]` feeds stage k (feeds[0]
    // is empty: stage 0 takes the frame).
    Scheduler(std::vector<std::shared_ptr<Device>> devices, std::vector<int> stages,
              std::vector<std::vector<Feed>> feeds, std::size_t depth_per_device,
              std::function<void()> wake, bool failover, std::string name, int worker_nice);
    ~Scheduler();  // destroys jobs and devices: their keepers take the GIL themselves

    void start();  // idempotent
    // Throws EngineClosedError after close(), DeviceError when no device is healthy.
    void submit(std::unique_ptr<Job> job);
    std::vector<std::unique_ptr<Job>> take_completed();
    // Stops the workers; jobs not started complete with EngineClosedError. Returns false if
    // a worker is still inside an invoke when the timeout passes. Call without the GIL.
    bool close(double timeout_seconds);

    std::size_t capacity() const { return depth_ * lanes_.size(); }
    std::size_t num_devices() const { return lanes_.size(); }
    std::size_t num_stages() const { return feeds_.size(); }
    std::vector<DeviceStats> stats();
    // Out of rotation: its queued frames move to healthy devices. Back in: it takes frames again.
    void set_healthy(std::size_t device, bool healthy);
    // For reopening a failed device: retire_device() takes the (unhealthy, idle) device out of
    // its lane and hands it back, so its owner can release it with the GIL (closing a TPU
    // frees its path for reopening); install_device() puts a fresh one in and returns the lane
    // to rotation. retire_device returns null while a frame is still running on it.
    std::shared_ptr<Device> retire_device(std::size_t device);
    void install_device(std::size_t device, std::shared_ptr<Device> replacement);

private:
    struct Lane {
        std::shared_ptr<Device> device;  // null between retire_device and install_device
        std::string name;
        int stage = 0;
        std::deque<std::unique_ptr<Job>> queue;
        std::condition_variable cv;
        std::size_t inflight = 0;
        bool healthy = true;
        bool running = false;    // the invoke thread is working on a frame
        bool prefetch = false;   // a second thread preprocesses into staging buffers
        bool prepping = false;   // ... and is working on one now
        std::deque<std::unique_ptr<Job>> ready;  // preprocessed, waiting for the invoke thread
        std::vector<std::unique_ptr<uint8_t[]>> staging;
        std::vector<int> free_slots;
        std::thread prep_thread;
        uint64_t retried = 0;
        // Counts of devices retired from this lane (reopened TPUs), so stats cover the lane.
        uint64_t past_frames = 0, past_errors = 0, past_busy_ns = 0;
        std::thread thread;
    };

    void worker(std::size_t index);
    void prep_worker(std::size_t index);
    // Preprocess (unless already done into staging) + invoke + output copy.
    void run(Device& device, Job& job, const uint8_t* staged);
    // A lane of `stage` other than `exclude`, or lanes_.size() if none is healthy; caller holds mutex_.
    std::size_t choose_lane_locked(int stage, int exclude);
    // Copies the previous stage's tensors and the caller's extra inputs into the device.
    void feed_inputs(Device& device, Job& job);
    void enqueue_locked(std::size_t lane, std::unique_ptr<Job> job, bool notify = true);
    // Moves `failed` (may be null) and the lane's queue to other healthy lanes.
    void evacuate_locked(std::size_t lane, std::unique_ptr<Job> failed);
    void complete(std::unique_ptr<Job> job);

    std::vector<std::unique_ptr<Lane>> lanes_;
    std::vector<std::vector<Feed>> feeds_;
    std::size_t depth_;
    int worker_nice_;
    static constexpr int kMaxAttempts = 2;  // a frame failing on two devices is the frame's fault
    std::function<void()> wake_;
    bool failover_;
    std::string name_;
    std::shared_ptr<OutputPool> pool_;

    std::mutex mutex_;
    std::condition_variable exited_cv_;
    std::size_t next_lane_ = 0;
    std::size_t running_workers_ = 0;
    bool started_ = false;
    bool closing_ = false;

    std::mutex completed_mutex_;
    std::vector<std::unique_ptr<Job>> completed_;
    bool drain_scheduled_ = false;
};

}  // namespace sc
