#include "scheduler/scheduler.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/errors.h"
#include "preprocess/preprocess.h"
#include "preprocess/raw_tensor.h"

namespace sc {
namespace {

// Workers are throughput-bound and the event loop is latency-bound: on a machine with as
// many busy workers as cores, a lower priority lets the loop thread run the moment it wakes.
void lower_thread_priority(int increment) {
    if (increment <= 0) return;
    pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
    errno = 0;
    int current = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
    if (errno == 0) setpriority(PRIO_PROCESS, static_cast<id_t>(tid), current + increment);
}

void name_thread(std::thread& thread, const std::string& name) {
    pthread_setname_np(thread.native_handle(), name.substr(0, 15).c_str());
}

int64_t elapsed_ns(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
}

}  // namespace

Scheduler::Scheduler(std::vector<std::shared_ptr<Device>> devices, std::size_t depth_per_device,
                     std::function<void()> wake, bool failover, std::string name, int worker_nice)
    : Scheduler(devices, std::vector<int>(devices.size(), 0), {{}}, depth_per_device, std::move(wake),
                failover, std::move(name), worker_nice) {}

Scheduler::Scheduler(std::vector<std::shared_ptr<Device>> devices, std::vector<int> stages,
                     std::vector<std::vector<Feed>> feeds, std::size_t depth_per_device,
                     std::function<void()> wake, bool failover, std::string name, int worker_nice)
    : feeds_(std::move(feeds)),
      depth_(std::max<std::size_t>(1, depth_per_device)),
      worker_nice_(worker_nice),
      wake_(std::move(wake)),
      failover_(failover),
      name_(std::move(name)) {
    if (devices.empty()) throw DeviceError("an engine needs at least one device");
    if (stages.size() != devices.size()) throw DeviceError("one stage per device expected");
    if (feeds_.empty()) feeds_.emplace_back();
    std::vector<bool> staffed(feeds_.size(), false);
    for (int st : stages) {
        if (st < 0 || static_cast<std::size_t>(st) >= feeds_.size()) throw DeviceError("device stage out of range");
        staffed[st] = true;
    }
    for (std::size_t k = 0; k < staffed.size(); ++k) {
        if (!staffed[k]) throw DeviceError("segment " + std::to_string(k) + " has no device");
    }
    std::size_t block_bytes = 0;
    for (std::size_t i = 0; i < devices.size(); ++i) {
        auto& d = devices[i];
        block_bytes = std::max(block_bytes, d->output_bytes());
        const auto& buffers = d->input_buffers();
        for (const Feed& f : feeds_[stages[i]]) {
            if (f.input < 0 || static_cast<std::size_t>(f.input) >= buffers.size() ||
                buffers[f.input].bytes != f.bytes) {
                throw ModelError("device " + d->name() + ": input " + std::to_string(f.input) +
                                 " does not match the previous segment's output it is fed from");
            }
        }
        auto lane = std::make_unique<Lane>();
        lane->name = d->name();
        lane->stage = stages[i];
        lane->prefetch = d->prefetch() && d->has_image_input();
        if (lane->prefetch) {
            for (int slot = 0; slot < 2; ++slot) {
                lane->staging.emplace_back(new uint8_t[d->input().bytes]);
                lane->free_slots.push_back(slot);
            }
        }
        lane->device = std::move(d);
        lanes_.push_back(std::move(lane));
    }
    for (auto& f : feeds_) {
        for (const Feed& feed : f) {
            if (feed.offset + feed.bytes > block_bytes) throw ModelError("a segment feed lies outside the output block");
        }
    }
    // Idle blocks cover everything that can be in flight, so steady state never allocates.
    pool_ = OutputPool::create(block_bytes, 2 * capacity() + 8);
}

Scheduler::~Scheduler() {
    close(5.0);  // the owner has normally closed it already, without the GIL
    completed_.clear();
}

void Scheduler::start() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (started_ || closing_) return;
    started_ = true;
    for (std::size_t i = 0; i < lanes_.size(); ++i) {
        ++running_workers_;
        // Named by the creator, so the name is there when start() returns, not when the
        // new thread first gets a core.
        lanes_[i]->thread = std::thread([this, i] { worker(i); });
        name_thread(lanes_[i]->thread, "sc-" + lanes_[i]->name);
        if (lanes_[i]->prefetch) {
            ++running_workers_;
            lanes_[i]->prep_thread = std::thread([this, i] { prep_worker(i); });
            name_thread(lanes_[i]->prep_thread, "sc-" + lanes_[i]->name + "-prep");
        }
    }
}

std::size_t Scheduler::choose_lane_locked(int stage, int exclude) {
    const std::size_t n = lanes_.size();
    for (std::size_t k = 0; k < n; ++k) {
        std::size_t i = (next_lane_ + k) % n;
        const Lane& lane = *lanes_[i];
        if (lane.stage == stage && lane.healthy && static_cast<int>(i) != exclude && lane.inflight < depth_) {
            next_lane_ = i + 1;
            return i;
        }
    }
    // Every lane is full: the caller's own bound keeps this rare; pick the least loaded.
    std::size_t best = n;
    for (std::size_t i = 0; i < n; ++i) {
        const Lane& lane = *lanes_[i];
        if (lane.stage != stage || !lane.healthy || static_cast<int>(i) == exclude) continue;
        if (best == n || lane.inflight < lanes_[best]->inflight) best = i;
    }
    return best;
}

void Scheduler::enqueue_locked(std::size_t index, std::unique_ptr<Job> job, bool notify) {
    if (closing_) {  // an evacuation racing close(): the queues are drained for good
        job->error = std::make_exception_ptr(EngineClosedError("the engine was closed before this frame ran"));
        complete(std::move(job));
        return;
    }
    Lane& lane = *lanes_[index];
    job->device = static_cast<int>(index);
    ++lane.inflight;
    lane.queue.push_back(std::move(job));
    if (notify) lane.cv.notify_all();  // the prefetch and invoke threads share it
}

void Scheduler::submit(std::unique_ptr<Job> job) {
    Lane* lane;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closing_) throw EngineClosedError("the engine is closed; create a new Engine");
        if (!started_) throw EngineClosedError("the engine is not started; use `async with Engine(...)`");
        job->stage = 0;
        std::size_t index = choose_lane_locked(0, -1);
        if (index == lanes_.size()) {
            throw DeviceError("no healthy device is left to run on; check the devices with "
                              "`python -m streamcore devices`");
        }
        enqueue_locked(index, std::move(job), /*notify=*/false);
        lane = lanes_[index].get();
    }
    lane->cv.notify_all();  // outside the lock, so the woken worker does not block on it
}

void Scheduler::worker(std::size_t index) {
    Lane& lane = *lanes_[index];
    lower_thread_priority(worker_nice_);
    std::deque<std::unique_ptr<Job>>& source = lane.prefetch ? lane.ready : lane.queue;
    for (;;) {
        std::unique_ptr<Job> job;
        Device* device;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            lane.cv.wait(lock, [&] { return closing_ || !source.empty(); });
            if (closing_) break;
            job = std::move(source.front());
            source.pop_front();
            device = lane.device.get();  // stable while `running`: retire_device waits for it
            lane.running = true;
        }
        const uint8_t* staged = job->staging_slot >= 0 ? lane.staging[job->staging_slot].get() : nullptr;
        run(*device, *job, staged);
        std::lock_guard<std::mutex> lock(mutex_);
        if (job->staging_slot >= 0) {
            lane.free_slots.push_back(job->staging_slot);
            job->staging_slot = -1;
            lane.cv.notify_all();
        }
        lane.running = false;
        --lane.inflight;
        if (job->device_failed && failover_ && !closing_) {
            lane.healthy = false;
            if (job->attempts + 1 < kMaxAttempts) {
                evacuate_locked(index, std::move(job));
                continue;
            }
            evacuate_locked(index, nullptr);
        }
        if (!job->error && static_cast<std::size_t>(job->stage) + 1 < feeds_.size()) {
            // On to the next segment, its inputs from this block (no Python in between).
            job->stage_input = std::move(job->outputs);
            ++job->stage;
            job->attempts = 0;
            std::size_t next = closing_ ? lanes_.size() : choose_lane_locked(job->stage, -1);
            if (next != lanes_.size()) {
                enqueue_locked(next, std::move(job));
                continue;
            }
            job->stage_input.reset();
            if (closing_) {
                job->error = std::make_exception_ptr(
                    EngineClosedError("the engine was closed before this frame ran through every segment"));
            } else {
                job->error = std::make_exception_ptr(DeviceError(
                    "no healthy device is left for segment " + std::to_string(job->stage) + " of this pipelined model"));
            }
        }
        complete(std::move(job));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    --running_workers_;
    exited_cv_.notify_all();
}

void Scheduler::prep_worker(std::size_t index) {
    Lane& lane = *lanes_[index];
    lower_thread_priority(worker_nice_);
    for (;;) {
        std::unique_ptr<Job> job;
        TensorDesc staging;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            lane.cv.wait(lock, [&] {
                return closing_ || (!lane.queue.empty() && lane.device &&
                                    (lane.queue.front()->raw || !lane.free_slots.empty()));
            });
            if (closing_) break;
            job = std::move(lane.queue.front());
            lane.queue.pop_front();
            if (job->raw) {
                // Nothing to prepare: staging it would be a second copy. The invoke thread
                // copies it straight into the device input.
                lane.ready.push_back(std::move(job));
                lane.cv.notify_all();
                continue;
            }
            job->staging_slot = lane.free_slots.back();
            lane.free_slots.pop_back();
            staging = lane.device->input();
            staging.data = lane.staging[job->staging_slot].get();
            lane.prepping = true;
        }
        Clock::time_point start = Clock::now();
        job->queue_ns = elapsed_ns(job->submitted, start);
        try {
            job->geometry = preprocess(job->frame, staging, job->params);
        } catch (...) {
            job->error = std::current_exception();
        }
        job->preprocess_ns = elapsed_ns(start, Clock::now());
        std::lock_guard<std::mutex> lock(mutex_);
        lane.prepping = false;
        if (closing_) {  // close() already drained `ready`: nothing would run this frame
            lane.free_slots.push_back(job->staging_slot);
            job->staging_slot = -1;
            --lane.inflight;
            job->error = std::make_exception_ptr(EngineClosedError("the engine was closed before this frame ran"));
            complete(std::move(job));
            continue;
        }
        lane.ready.push_back(std::move(job));
        if (!lane.healthy && !closing_) evacuate_locked(index, nullptr);  // failed meanwhile
        lane.cv.notify_all();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    --running_workers_;
    exited_cv_.notify_all();
}

void Scheduler::evacuate_locked(std::size_t index, std::unique_ptr<Job> failed) {
    Lane& lane = *lanes_[index];
    std::deque<std::unique_ptr<Job>> stranded;
    stranded.swap(lane.queue);
    for (auto& ready : lane.ready) {
        if (ready->staging_slot >= 0) lane.free_slots.push_back(ready->staging_slot);
        ready->staging_slot = -1;
        ready->error = nullptr;  // a preprocess error will simply recur on the next device
        stranded.push_back(std::move(ready));
    }
    lane.ready.clear();
    lane.inflight -= stranded.size();
    if (failed) stranded.push_front(std::move(failed));
    while (!stranded.empty()) {
        std::unique_ptr<Job> job = std::move(stranded.front());
        stranded.pop_front();
        std::size_t other = choose_lane_locked(lane.stage, static_cast<int>(index));
        if (other == lanes_.size()) {
            if (!job->error) {
                job->error = std::make_exception_ptr(DeviceError(
                    "device " + lane.name + " failed and no healthy device is left to run on" +
                    (feeds_.size() > 1 ? " for segment " + std::to_string(lane.stage) : std::string())));
            }
            complete(std::move(job));
            continue;
        }
        if (job->device_failed) {  // it ran and failed here; a queued frame never ran, so is no retry
            ++lane.retried;
            ++job->attempts;
            job->error = nullptr;
            job->device_failed = false;
            job->outputs.reset();
        }
        enqueue_locked(other, std::move(job));
    }
}

void Scheduler::feed_inputs(Device& device, Job& job) {
    const std::vector<InputBuffer>& buffers = device.input_buffers();
    if (job.stage > 0) {
        const uint8_t* source = job.stage_input.get();
        if (!source) throw InferenceError("segment " + std::to_string(job.stage) + " got no input block");
        for (const Feed& f : feeds_[job.stage]) std::memcpy(buffers[f.input].data, source + f.offset, f.bytes);
    }
    for (const ExtraInput& e : job.extras) {
        if (e.stage != job.stage) continue;
        if (e.input < 0 || static_cast<std::size_t>(e.input) >= buffers.size() || buffers[e.input].bytes != e.bytes) {
            throw InputError("device " + device.name() + ": extra input " + std::to_string(e.input) +
                             " does not fit the model's input");
        }
        std::memcpy(buffers[e.input].data, e.data, e.bytes);
    }
}

void Scheduler::run(Device& device, Job& job, const uint8_t* staged) {
    Clock::time_point start = Clock::now();
    if (!staged && job.stage == 0) job.queue_ns = elapsed_ns(job.submitted, start);
    if (job.error) {  // its preprocessing failed on the prefetch thread
        job.total_ns = elapsed_ns(job.submitted, start);
        return;
    }
    try {
        if (staged) {
            std::memcpy(device.input().data, staged, device.input().bytes);
        } else if (job.stage == 0 && job.raw) {
            job.geometry = copy_raw_tensor(job.raw, job.raw_bytes, device.input());
        } else if (job.stage == 0 && device.has_image_input()) {
            job.geometry = preprocess(job.frame, device.input(), job.params);
        }
        feed_inputs(device, job);
    } catch (...) {
        job.error = std::current_exception();
        job.total_ns = elapsed_ns(job.submitted, Clock::now());
        return;
    }
    Clock::time_point preprocessed = Clock::now();
    if (!staged && job.stage == 0) job.preprocess_ns = elapsed_ns(start, preprocessed);
    try {
        job.outputs = pool_->acquire();
        device.invoke(job.outputs.get());  // outputs land in the block (copied or written in place)
        Clock::time_point invoked = Clock::now();
        job.invoke_ns += elapsed_ns(preprocessed, invoked);  // summed over segments
        device.frames.fetch_add(1, std::memory_order_relaxed);
        job.stage_input.reset();
    } catch (...) {
        job.error = std::current_exception();
        job.device_failed = true;
        device.errors.fetch_add(1, std::memory_order_relaxed);
    }
    Clock::time_point end = Clock::now();
    device.busy_ns.fetch_add(static_cast<uint64_t>(elapsed_ns(start, end)), std::memory_order_relaxed);
    job.total_ns = elapsed_ns(job.submitted, end);
}

void Scheduler::complete(std::unique_ptr<Job> job) {
    bool wake = false;
    {
        std::lock_guard<std::mutex> lock(completed_mutex_);
        completed_.push_back(std::move(job));
        if (!drain_scheduled_) {
            drain_scheduled_ = true;
            wake = true;
        }
    }
    if (wake && wake_) wake_();
}

std::vector<std::unique_ptr<Job>> Scheduler::take_completed() {
    std::vector<std::unique_ptr<Job>> out;
    std::lock_guard<std::mutex> lock(completed_mutex_);
    out.swap(completed_);
    drain_scheduled_ = false;
    return out;
}

bool Scheduler::close(double timeout_seconds) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!closing_) {
        closing_ = true;
        for (auto& lane : lanes_) {
            for (auto& ready : lane->ready) lane->queue.push_back(std::move(ready));
            lane->ready.clear();
            while (!lane->queue.empty()) {
                std::unique_ptr<Job> job = std::move(lane->queue.front());
                lane->queue.pop_front();
                --lane->inflight;
                job->error = std::make_exception_ptr(
                    EngineClosedError("the engine was closed before this frame ran"));
                std::lock_guard<std::mutex> clock(completed_mutex_);
                completed_.push_back(std::move(job));
            }
            lane->cv.notify_all();
        }
    }
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(timeout_seconds));
    if (!exited_cv_.wait_until(lock, deadline, [this] { return running_workers_ == 0; })) {
        return false;
    }
    lock.unlock();
    for (auto& lane : lanes_) {
        if (lane->thread.joinable()) lane->thread.join();
        if (lane->prep_thread.joinable()) lane->prep_thread.join();
    }
    return true;
}

std::vector<DeviceStats> Scheduler::stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<DeviceStats> out;
    for (auto& lane : lanes_) {
        const Device* d = lane->device.get();
        out.push_back({lane->name, lane->stage, lane->healthy, lane->inflight, lane->past_frames + (d ? d->frames.load() : 0),
                       lane->past_errors + (d ? d->errors.load() : 0),
                       lane->past_busy_ns + (d ? d->busy_ns.load() : 0), lane->retried});
    }
    return out;
}

void Scheduler::set_healthy(std::size_t device, bool healthy) {
    std::lock_guard<std::mutex> lock(mutex_);
    Lane& lane = *lanes_.at(device);
    bool was = lane.healthy;
    lane.healthy = healthy;
    if (was && !healthy) evacuate_locked(device, nullptr);
}

std::shared_ptr<Device> Scheduler::retire_device(std::size_t device) {
    std::lock_guard<std::mutex> lock(mutex_);
    Lane& lane = *lanes_.at(device);
    if (lane.healthy) throw DeviceError("device " + lane.name + " is healthy; it cannot be retired");
    if (lane.running || lane.prepping || !lane.queue.empty() || !lane.ready.empty()) return nullptr;
    if (lane.device) {
        lane.past_frames += lane.device->frames.load();
        lane.past_errors += lane.device->errors.load();
        lane.past_busy_ns += lane.device->busy_ns.load();
    }
    return std::move(lane.device);
}

void Scheduler::install_device(std::size_t device, std::shared_ptr<Device> replacement) {
    std::lock_guard<std::mutex> lock(mutex_);
    Lane& lane = *lanes_.at(device);
    if (lane.healthy || lane.device) throw DeviceError("device " + lane.name + " is in use; retire it first");
    lane.device = std::move(replacement);
    lane.healthy = true;
    lane.cv.notify_all();
}

}  // namespace sc
