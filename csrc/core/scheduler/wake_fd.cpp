#include "scheduler/wake_fd.h"

#include <cerrno>
#include <cstdint>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

namespace sc {

WakeFd::WakeFd() {
#ifdef __linux__
    read_fd_ = write_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (read_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
#else
    int fds[2];
    if (pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    for (int fd : fds) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    read_fd_ = fds[0];
    write_fd_ = fds[1];
#endif
}

WakeFd::~WakeFd() {
    if (write_fd_ != read_fd_) close(write_fd_);
    close(read_fd_);
}

void WakeFd::signal() noexcept {
    // EAGAIN (counter or pipe full) means a wake-up is already pending: nothing is lost.
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(write_fd_, &one, write_fd_ == read_fd_ ? sizeof one : 1);
    } while (n < 0 && errno == EINTR);
}

void WakeFd::consume() noexcept {
    uint64_t buf[8];
    if (write_fd_ == read_fd_) {  // an eventfd: one read resets its counter
        while (read(read_fd_, buf, sizeof(uint64_t)) < 0 && errno == EINTR) {
        }
        return;
    }
    for (;;) {  // a pipe: empty it
        ssize_t n = read(read_fd_, buf, sizeof buf);
        if (n == static_cast<ssize_t>(sizeof buf) || (n < 0 && errno == EINTR)) continue;
        return;
    }
}

}  // namespace sc
