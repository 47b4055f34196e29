// A Python-free driver of the native scheduler, for ThreadSanitizer (.ci/tsan): a TSan-built
// _core cannot be imported into an uninstrumented CPython, but csrc/core links alone.
//
// Fake devices check that each frame's input reached them intact and write a result derived
// from it; submitter, drainer and "health monitor" threads race the workers through failover,
// retire/install, stats and close. Every job must complete exactly once, with its own result
// or an error. Exit status: 0 pass, 1 a failed check (TSan's own reports exit 66).
// Scenarios with `wake_fd` drain only when the WakeFd is readable, as the event loop does:
// a lost wake-up leaves jobs undrained and fails the run.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/errors.h"
#include "scheduler/scheduler.h"
#include "scheduler/wake_fd.h"

#include <poll.h>

namespace {

constexpr int kSide = 4, kChannels = 3, kInputBytes = kSide * kSide * kChannels;
std::atomic<int> failures{0};

void check(bool ok, const std::string& what) {
    if (!ok && failures.fetch_add(1) < 20) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

class FakeDevice : public sc::Device {
public:
    // Fails every `fail_every`-th invoke (0: never).
    FakeDevice(std::string name, bool prefetch, int fail_every)
        : sc::Device(std::move(name), "fake:cpu", prefetch), fail_every_(fail_every) {
        buffer_.resize(kInputBytes);
        input_.data = buffer_.data();
        input_.height = input_.width = kSide;
        input_.channels = kChannels;
        input_.dtype = sc::DType::UInt8;
        input_.scale = 1.0f / 128.0f;  // with mean = std = 128: quantized value == pixel value
        input_.zero_point = 128;
        input_.bytes = kInputBytes;
        set_output_layout({{0, 64}});
    }
    std::vector<sc::TensorMeta> describe_inputs() const override { return {}; }
    std::vector<sc::TensorMeta> describe_outputs() const override { return {}; }
    void invoke(uint8_t* block) override {
        if (fail_every_ && ++count_ % fail_every_ == 0) throw sc::InferenceError("injected fault");
        const uint8_t first = buffer_[0];
        bool uniform = true;
        for (int i = 1; i < kInputBytes; ++i) uniform &= buffer_[i] == first;
        std::this_thread::yield();  // widen the window in which other threads run
        std::memset(block, 0, 64);
        block[0] = first;
        block[1] = uniform ? 1 : 0;
    }

private:
    std::vector<uint8_t> buffer_;
    int fail_every_;
    int count_ = 0;
};

struct Pixels {  // a job's frame: a uniform 8x8 RGB image of one value
    uint8_t data[8 * 8 * 3];
};

std::unique_ptr<sc::Job> make_job(uint64_t id, bool raw) {
    const auto value = static_cast<uint8_t>(16 + id % 200);
    if (raw) {  // a tensor already in the input's layout (Engine.infer_tensor): no preprocess
        auto bytes = std::make_shared<std::vector<uint8_t>>(kInputBytes, value);
        auto job = std::make_unique<sc::Job>();
        job->id = id;
        job->raw = bytes->data();
        job->raw_bytes = bytes->size();
        job->keeper = bytes;
        job->submitted = sc::Clock::now();
        return job;
    }
    auto pixels = std::make_shared<Pixels>();
    std::memset(pixels->data, value, sizeof pixels->data);
    auto job = std::make_unique<sc::Job>();
    job->id = id;
    job->frame.format = sc::PixelFormat::RGB24;
    job->frame.width = job->frame.height = 8;
    job->frame.planes[0] = {pixels->data, 8 * 3, 8 * 3, 8};
    job->frame.num_planes = 1;
    job->keeper = pixels;
    job->submitted = sc::Clock::now();
    return job;
}

struct Scenario {
    const char* name;
    int devices, prefetching, fail_every, submitters, jobs_per_submitter;
    bool churn;          // a monitor thread retires, reinstalls and toggles devices meanwhile
    bool close_early;    // close while frames are still in flight
    bool mixed_raw;      // every other job is a raw tensor (copied, not preprocessed)
    bool wake_fd = false;  // drain only when the WakeFd wakes us (no timed polling)
};

void run(const Scenario& s) {
    std::vector<std::shared_ptr<sc::Device>> devices;
    for (int i = 0; i < s.devices; ++i) {
        devices.push_back(std::make_shared<FakeDevice>("dev" + std::to_string(i), i < s.prefetching,
                                                       i == 0 ? s.fail_every : 0));
    }
    std::mutex wake_mutex;
    std::condition_variable wake_cv;
    bool woken = false;
    sc::WakeFd fd;
    auto wake = [&] {
        if (s.wake_fd) {
            fd.signal();
            return;
        }
        std::lock_guard<std::mutex> lock(wake_mutex);
        woken = true;
        wake_cv.notify_one();
    };
    sc::Scheduler scheduler(devices, 2, wake, /*failover=*/true, s.name, /*worker_nice=*/0);
    scheduler.start();
    scheduler.start();  // idempotent

    const int total = s.submitters * s.jobs_per_submitter;
    std::map<uint64_t, int> seen;  // job id -> completions (drainer thread only, then main)
    int ok = 0, errors = 0, rejected = 0;
    std::atomic<int> outstanding{0};
    std::atomic<bool> submitting{true};

    std::thread drainer([&] {
        std::optional<sc::Clock::time_point> drain_deadline;
        for (;;) {
            if (s.wake_fd) {
                pollfd p{fd.fd(), POLLIN, 0};
                if (poll(&p, 1, 10000) == 0 && outstanding.load() > 0) {
                    check(false, std::string(s.name) + ": no wake-up for 10 s with " +
                                     std::to_string(outstanding.load()) + " job(s) outstanding");
                    return;
                }
                fd.consume();  // before taking: a job completed after this wakes us again
            } else {
                std::unique_lock<std::mutex> lock(wake_mutex);
                wake_cv.wait_for(lock, std::chrono::milliseconds(5), [&] { return woken; });
                woken = false;
            }
            for (auto& job : scheduler.take_completed()) {
                ++seen[job->id];
                if (job->error) {
                    ++errors;
                } else {
                    ++ok;
                    const uint8_t* out = job->outputs.get();
                    check(out[0] == static_cast<uint8_t>(16 + job->id % 200) && out[1] == 1,
                          std::string(s.name) + ": job " + std::to_string(job->id) + " got another frame's input");
                }
                outstanding.fetch_sub(1);
            }
            if (!submitting.load()) {
                if (outstanding.load() == 0) return;
                if (!drain_deadline) drain_deadline = sc::Clock::now() + std::chrono::seconds(60);
                if (sc::Clock::now() > *drain_deadline) {  // a lost job: fail instead of hanging
                    check(false, std::string(s.name) + ": " + std::to_string(outstanding.load()) +
                                     " job(s) never completed");
                    return;
                }
            }
        }
    });

    std::vector<std::thread> submitters;
    const int bound = static_cast<int>(scheduler.capacity()) + 4;
    for (int t = 0; t < s.submitters; ++t) {
        submitters.emplace_back([&, t] {
            for (int i = 0; i < s.jobs_per_submitter; ++i) {
                while (outstanding.load() >= bound) std::this_thread::yield();  // the caller's bound
                uint64_t id = static_cast<uint64_t>(t) * 1000000 + static_cast<uint64_t>(i);
                outstanding.fetch_add(1);
                try {
                    scheduler.submit(make_job(id, s.mixed_raw && i % 2 == 0));
                } catch (const sc::Error&) {  // closed, or no healthy device for a moment
                    outstanding.fetch_sub(1);
                    std::lock_guard<std::mutex> lock(wake_mutex);
                    ++rejected;
                }
            }
        });
    }

    std::atomic<bool> churning{s.churn};
    std::thread monitor([&] {
        std::mt19937 rng(7);
        while (churning.load()) {
            std::size_t d = rng() % static_cast<unsigned>(s.devices);
            scheduler.set_healthy(d, false);
            (void)scheduler.stats();
            std::shared_ptr<sc::Device> old;
            for (int tries = 0; tries < 1000 && !old; ++tries) {
                old = scheduler.retire_device(d);
                if (!old) std::this_thread::yield();
            }
            if (old) {
                scheduler.install_device(d, std::make_shared<FakeDevice>("dev" + std::to_string(d), d < static_cast<std::size_t>(s.prefetching), 0));
            } else {
                scheduler.set_healthy(d, true);
            }
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    });

    if (s.close_early) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        check(scheduler.close(10.0), std::string(s.name) + ": close timed out");
    }
    for (auto& t : submitters) t.join();
    churning = false;
    monitor.join();
    submitting = false;
    if (!s.close_early) {
        while (outstanding.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    check(scheduler.close(10.0), std::string(s.name) + ": close timed out");
    wake();
    drainer.join();

    for (const auto& [id, n] : seen) {
        check(n == 1, std::string(s.name) + ": job " + std::to_string(id) + " completed " + std::to_string(n) + " times");
    }
    check(static_cast<int>(seen.size()) + rejected == total,
          std::string(s.name) + ": " + std::to_string(seen.size()) + " completed + " + std::to_string(rejected) +
              " rejected != " + std::to_string(total) + " submitted");
    if (!s.close_early && !s.churn) check(rejected == 0, std::string(s.name) + ": submissions were rejected");
    std::printf("%-28s completed %5zu (ok %5d, errors %4d), rejected %4d\n", s.name, seen.size(), ok, errors, rejected);
}

}  // namespace

int main() {
    const Scenario scenarios[] = {
        {"round-robin", 3, 0, 0, 3, 3000, false, false, false},
        {"prefetch lanes", 3, 2, 0, 3, 3000, false, false, false},
        {"failover", 3, 1, 7, 3, 3000, false, false, false},
        {"retire/install churn", 3, 1, 0, 2, 3000, true, false, false},
        {"close with frames in flight", 2, 1, 5, 2, 20000, true, true, false},
        {"raw tensors, mixed, failover", 3, 2, 7, 3, 3000, true, false, true},
        {"raw tensors, close in flight", 2, 1, 5, 2, 20000, true, true, true},
        {"wake fd, round-robin", 3, 1, 0, 3, 3000, false, false, false, true},
        {"wake fd, failover churn", 3, 2, 7, 3, 3000, true, false, true, true},
    };
    for (const Scenario& s : scenarios) run(s);
    if (failures.load()) {
        std::fprintf(stderr, "%d check(s) failed\n", failures.load());
        return 1;
    }
    std::puts("scheduler driver: every job completed exactly once");
    return 0;
}
