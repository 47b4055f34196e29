// The simulated edgetpu-custom-op. It ignores the compiled Edge TPU program in the custom options
// and writes a deterministic function of the input, then sleeps until the configured latency
// has passed since the invoke began:
//   s = sum of every byte of every input tensor of the node
//   output 0 (uint8 or int8, n elements): element j = peak if j == s % n else (s + j) % 64,
//            peak being 255 for uint8 and 127 for int8, so argmax(output 0) == s % n
//   output k >= 1 (any type): byte j = (s + 17 * k + j) % 256
// A synthetic model whose custom options say "latency_ms=X" (streamcore.models' Edge TPU models)
// takes X ms per invoke instead of the configured latency: the segments of one pipelined model
// can then have latencies of their own.
#include <sys/prctl.h>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <string>

#include "edgetpu_sim/sim_state.h"

namespace sc_sim {
namespace {

// The bound context's device path; reports and returns "" when none of ours is bound.
std::string bound_device(TfLiteContext* context) {
    TfLiteExternalContext* external = context->GetExternalContext(context, kTfLiteEdgeTpuContext);
    if (!external) {
        context->ReportError(context,
                             "edgetpu-custom-op (streamcore simulated libedgetpu): no Edge TPU context is bound "
                             "to this interpreter; call SetExternalContext(kTfLiteEdgeTpuContext, device) "
                             "before AllocateTensors");
        return "";
    }
    std::string path = live_context_path(static_cast<const edgetpu::EdgeTpuContext*>(external));
    if (path.empty())
        context->ReportError(context,
                             "edgetpu-custom-op (streamcore simulated libedgetpu): the bound Edge TPU context was "
                             "not opened by the simulator or is already closed");
    return path;
}

timespec deadline_after_ms(double ms) {
    timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    long long ns = deadline.tv_nsec + static_cast<long long>(ms > 0.0 ? ms * 1e6 : 0.0);
    deadline.tv_sec += static_cast<time_t>(ns / 1000000000LL);
    deadline.tv_nsec = static_cast<long>(ns % 1000000000LL);
    return deadline;
}

void sleep_until(const timespec& deadline) {
    // Linux's default 50 us timer slack would add ~2% to a 2.6 ms invoke; a TPU has no slack.
    thread_local bool slack_set = (prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL), true);
    (void)slack_set;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr) == EINTR) {
    }
}

bool in_range(const TfLiteContext* context, int index) {
    return index >= 0 && static_cast<size_t>(index) < context->tensors_size;
}

// Every index the node refers to names a tensor of the context (an input may be -1, omitted);
// otherwise reports which one does not and returns false. prepare() runs this before any
// tensor is read, so invoke() only sees checked nodes.
bool check_node(TfLiteContext* context, const TfLiteNode* node) {
    if (!node->inputs || !node->outputs || node->inputs->size < 0 || node->outputs->size < 1) {
        context->ReportError(context, "edgetpu-custom-op (simulated): the node has no outputs");
        return false;
    }
    for (int i = 0; i < node->inputs->size; ++i) {
        const int index = node->inputs->data[i];
        if (index != -1 && !in_range(context, index)) {
            context->ReportError(context, "edgetpu-custom-op (simulated): input %d is tensor %d of %d, which does not exist",
                                 i, index, static_cast<int>(context->tensors_size));
            return false;
        }
    }
    for (int k = 0; k < node->outputs->size; ++k) {
        const int index = node->outputs->data[k];
        if (!in_range(context, index)) {
            context->ReportError(context, "edgetpu-custom-op (simulated): output %d is tensor %d of %d, which does not exist",
                                 k, index, static_cast<int>(context->tensors_size));
            return false;
        }
    }
    return true;
}

TfLiteStatus prepare(TfLiteContext* context, TfLiteNode* node) {
    if (bound_device(context).empty()) return kTfLiteError;
    if (!check_node(context, node)) return kTfLiteError;
    const TfLiteTensor& out0 = context->tensors[node->outputs->data[0]];
    if (out0.type != kTfLiteUInt8 && out0.type != kTfLiteInt8) {
        context->ReportError(context, "edgetpu-custom-op (simulated): output 0 must be uint8 or int8, not type %d",
                             static_cast<int>(out0.type));
        return kTfLiteError;
    }
    return kTfLiteOk;
}

TfLiteStatus invoke(TfLiteContext* context, TfLiteNode* node) {
    // The latency counts from the start, as on a TPU whose work overlaps its transfers.
    std::string path = bound_device(context);
    if (path.empty()) return kTfLiteError;
    double latency_ms;
    {
        auto& s = state();
        std::lock_guard<std::mutex> lock(s.mutex);
        auto it = s.devices.find(path);
        const char* failure = nullptr;
        if (it == s.devices.end()) {
            failure = "is no longer configured in the simulator";
        } else if (it->second.unplugged) {
            failure = "was unplugged (simulated fault)";
        } else if (it->second.fail_after == 0) {
            failure = "failed (simulated fail_after fault)";
        }
        if (failure) {
            if (it != s.devices.end()) ++it->second.failures;
            context->ReportError(context, "edgetpu-custom-op (simulated): Edge TPU %s %s", path.c_str(), failure);
            return kTfLiteError;
        }
        if (it->second.fail_after > 0) --it->second.fail_after;
        latency_ms = node->user_data ? *static_cast<const double*>(node->user_data) : s.latency_ms;
    }
    const timespec deadline = deadline_after_ms(latency_ms);

    if (!check_node(context, node)) return kTfLiteError;
    uint64_t sum = 0;
    for (int i = 0; i < node->inputs->size; ++i) {
        int index = node->inputs->data[i];
        if (index < 0) continue;  // optional input
        const TfLiteTensor& in = context->tensors[index];
        const auto* bytes = static_cast<const uint8_t*>(in.data);
        if (!bytes) continue;
        for (size_t b = 0; b < in.bytes; ++b) sum += bytes[b];
    }
    for (int k = 0; k < node->outputs->size; ++k) {
        TfLiteTensor& out = context->tensors[node->outputs->data[k]];
        auto* bytes = static_cast<uint8_t*>(out.data);
        if (!bytes || out.bytes == 0) continue;
        if (k == 0) {
            const uint8_t peak = out.type == kTfLiteInt8 ? 127 : 255;
            const size_t hot = static_cast<size_t>(sum % out.bytes);
            for (size_t j = 0; j < out.bytes; ++j) bytes[j] = j == hot ? peak : static_cast<uint8_t>((sum + j) % 64);
        } else {
            for (size_t j = 0; j < out.bytes; ++j) bytes[j] = static_cast<uint8_t>((sum + 17 * k + j) % 256);
        }
    }
    sleep_until(deadline);  // sleeps, so the host CPU stays idle like with a real accelerator
    {
        auto& s = state();
        std::lock_guard<std::mutex> lock(s.mutex);
        auto it = s.devices.find(path);
        if (it != s.devices.end()) ++it->second.invokes;
    }
    return kTfLiteOk;
}

// The model's own latency, from custom options holding "latency_ms=X"; null for the configured one.
void* init(TfLiteContext*, const char* buffer, size_t length) {
    if (!buffer || length == 0 || length > 4096) return nullptr;
    const std::string options(buffer, length);
    const std::string key = "latency_ms=";
    const size_t at = options.find(key);
    if (at == std::string::npos) return nullptr;
    const std::string value = options.substr(at + key.size(), 32);
    char* end = nullptr;
    const double ms = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || !(ms >= 0.0 && ms <= 10000.0)) return nullptr;
    return new double(ms);
}
void free_op(TfLiteContext*, void* data) { delete static_cast<double*>(data); }

}  // namespace
}  // namespace sc_sim

namespace edgetpu {

// The TF 2.5 layout, exactly as libedgetpu returns it. Non-zero bytes follow it, as other data
// follows it in the real library, so a caller that reads it as a TF 2.14 registration gets a
// junk registration_external and fails instead of passing by luck.
TfLiteRegistrationV25* RegisterCustomOp() {
    struct Storage {
        TfLiteRegistrationV25 registration;
        unsigned char trailing[32];
    };
    static Storage storage = [] {
        Storage s{};
        s.registration = {sc_sim::init, sc_sim::free_op, sc_sim::prepare, sc_sim::invoke, nullptr, 0, kCustomOp, 1};
        for (unsigned char& b : s.trailing) b = 0xA5;
        return s;
    }();
    return &storage.registration;
}

}  // namespace edgetpu
