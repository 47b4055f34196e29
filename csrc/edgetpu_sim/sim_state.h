// Shared state of the simulated libedgetpu: configured devices, injected faults and counters.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "backends/edgetpu/edgetpu_abi.h"

namespace sc_sim {

struct DeviceState {
    int64_t invokes = 0;
    int64_t failures = 0;
    int64_t fail_after = -1;  // invokes left before every invoke fails; -1: no fault
    bool unplugged = false;
    bool busy = false;  // held by "another process": opening it fails
};

struct SimState {
    std::mutex mutex;
    int num_devices = 1;
    double latency_ms = 2.6;  // Coral's published MobileNet V2 time on a USB 3 accelerator
    std::map<std::string, DeviceState> devices;  // "sim:0" .. "sim:<num_devices-1>"
};

// Initialised from STREAMCORE_SIM_DEVICES / STREAMCORE_SIM_LATENCY_MS on first use.
SimState& state();
std::string device_path(int index);

// Path of a context opened by this library, or "" if `context` is not one of ours (or closed).
std::string live_context_path(const edgetpu::EdgeTpuContext* context);

}  // namespace sc_sim
