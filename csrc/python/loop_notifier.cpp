#include "python/loop_notifier.h"

#include <pthread.h>

namespace py = pybind11;

namespace sc {
namespace {

bool python_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

}  // namespace

LoopNotifier::LoopNotifier(py::object call_soon_threadsafe, py::object callback, std::string name)
    : call_soon_threadsafe_(std::move(call_soon_threadsafe)),
      callback_(std::move(callback)),
      name_(std::move(name)) {}

LoopNotifier::~LoopNotifier() {
    if (thread_.joinable()) {
        py::gil_scoped_release release;
        stop();
    }
}

void LoopNotifier::start() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (thread_.joinable() || stopping_) return;
    thread_ = std::thread([this] { run(); });
    pthread_setname_np(thread_.native_handle(), name_.substr(0, 15).c_str());  // visible at once
}

void LoopNotifier::request() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        requested_ = true;
    }
    cv_.notify_one();
}

void LoopNotifier::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void LoopNotifier::run() {
    if (python_finalizing()) return;
    // One thread state for the thread's life: acquiring the GIL is then a plain handoff, not
    // a thread-state allocation per wake-up.
    py::gil_scoped_acquire thread_state;
    for (;;) {
        {
            py::gil_scoped_release idle;
            std::unique_lock<std::mutex> lock(mutex_);
            cv_.wait(lock, [this] { return requested_ || stopping_; });
            if (!requested_) return;  // stopping with nothing to deliver
            requested_ = false;
            if (python_finalizing()) return;
        }
        try {
            call_soon_threadsafe_(callback_);
        } catch (py::error_already_set& e) {
            // A closed loop: the owner drains what is left when it closes.
            e.discard_as_unraisable("streamcore: waking the event loop");
        }
    }
}

}  // namespace sc
