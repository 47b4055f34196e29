// A readiness probe handed from one backend's bindings to another's device factory
// (an Edge TPU's IsReady for the TFLite interpreter bound to it), without Python in the call.
#pragma once
#include <functional>

namespace sc {

struct ReadyProbe {
    std::function<bool()> ready;
};

}  // namespace sc
