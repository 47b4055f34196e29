// Wakes an asyncio loop from native threads. Workers never take the GIL: they only flag a
// request, and this thread makes the one loop.call_soon_threadsafe call per batch.
#pragma once
#include <pybind11/pybind11.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace sc {

class LoopNotifier {
public:
    LoopNotifier(pybind11::object call_soon_threadsafe, pybind11::object callback, std::string name);
    ~LoopNotifier();  // GIL held; stop() must have been called

    void start();
    void request();  // any thread, no GIL needed
    void stop();     // call without the GIL

private:
    void run();

    pybind11::object call_soon_threadsafe_;
    pybind11::object callback_;
    std::string name_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool requested_ = false;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace sc
