// A file descriptor an event loop watches (asyncio's add_reader): native threads wake the
// loop with one write, holding no GIL and going through no thread of ours.
#pragma once

namespace sc {

class WakeFd {
public:
    WakeFd();  // throws std::system_error
    ~WakeFd();
    WakeFd(const WakeFd&) = delete;
    WakeFd& operator=(const WakeFd&) = delete;

    int fd() const noexcept { return read_fd_; }
    void signal() noexcept;   // any thread
    void consume() noexcept;  // the watching thread, before it takes what it was woken for

private:
    int read_fd_ = -1;
    int write_fd_ = -1;  // the same descriptor for an eventfd
};

}  // namespace sc
