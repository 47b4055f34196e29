// LiteRT 2.3 logs INFO and accelerator-probing WARNING lines to stderr while it creates an
// environment, compiles and destroys a model, and exports no logger API to silence them.
// While such a call runs, fd 2 goes to a temporary file; afterwards every other line (its
// errors, and whatever another thread wrote meanwhile) is written back to stderr.
#pragma once
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

namespace sc::litert {

class QuietStderr {
public:
    QuietStderr() : lock_(mutex()) {
        std::fflush(stderr);
        sink_ = std::tmpfile();
        saved_ = sink_ ? dup(2) : -1;
        if (saved_ >= 0) dup2(fileno(sink_), 2);
    }
    ~QuietStderr() {
        if (saved_ < 0) {
            if (sink_) std::fclose(sink_);
            return;
        }
        std::fflush(stderr);
        dup2(saved_, 2);
        close(saved_);
        std::rewind(sink_);
        char line[4096];
        while (std::fgets(line, sizeof line, sink_)) {
            if (std::strncmp(line, "INFO: ", 6) == 0) continue;
            if (std::strncmp(line, "WARNING: [npu_registry", 22) == 0) continue;
            if (std::strncmp(line, "WARNING: [gpu_registry", 22) == 0) continue;
            ssize_t ignored = write(2, line, std::strlen(line));
            (void)ignored;
        }
        std::fclose(sink_);
    }
    QuietStderr(const QuietStderr&) = delete;
    QuietStderr& operator=(const QuietStderr&) = delete;

private:
    static std::recursive_mutex& mutex() {
        static std::recursive_mutex m;
        return m;
    }
    std::lock_guard<std::recursive_mutex> lock_;
    std::FILE* sink_ = nullptr;
    int saved_ = -1;
};

}  // namespace sc::litert
