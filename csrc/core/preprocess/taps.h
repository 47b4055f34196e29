// Per-output-sample source windows and weights along one axis, computed once per call.
#pragma once
#include <vector>

#include "preprocess/frame.h"

namespace sc {

struct Taps {
    int count = 0;  // output samples
    int width = 0;  // taps per sample; every window lies inside [lo, hi]
    std::vector<int> start;
    std::vector<float> weights;  // count * width, zero where a window is wider than its taps
    int lowest = 0, highest = 0;  // source samples any window touches
};

// Output sample i covers source [origin + i * length / n, origin + (i + 1) * length / n) in
// luma pixels. For a halved chroma axis (`chroma`) sample positions are halved, centre-sited.
// lo..hi (inclusive) is the range of source samples that may be read.
void build_taps(Taps& taps, Filter filter, int n, double origin, double length, int lo, int hi,
                bool chroma);

}  // namespace sc
