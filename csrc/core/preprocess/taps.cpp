#include "preprocess/taps.h"

#include <algorithm>
#include <cmath>

namespace sc {

namespace {

int window_start(int first, int width, int hi) { return std::min(first, hi - width + 1); }

void build_bilinear(Taps& taps, int n, double origin, double scale, int lo, int hi, bool chroma) {
    for (int i = 0; i < n; ++i) {
        double u = origin + (i + 0.5) * scale - 0.5;  // half-pixel centres, as OpenCV
        if (chroma) u = (u + 0.5) / 2 - 0.5;
        u = std::min(std::max(u, double(lo)), double(hi));
        int x0 = int(std::floor(u));
        double f = u - x0;
        if (x0 >= hi) {
            x0 = hi;
            f = 0;
        }
        const int s = window_start(x0, taps.width, hi);
        taps.start[i] = s;
        float* w = &taps.weights[size_t(i) * taps.width];
        w[x0 - s] += float(1 - f);
        if (f > 0) w[x0 + 1 - s] += float(f);
    }
}

// The source sample whose area holds the output sample's centre (PIL's NEAREST, OpenCV's
// INTER_NEAREST_EXACT); a halved chroma axis takes the chroma sample under that centre.
void build_nearest(Taps& taps, int n, double origin, double scale, int lo, int hi, bool chroma) {
    for (int i = 0; i < n; ++i) {
        double u = origin + (i + 0.5) * scale;
        if (chroma) u /= 2;
        const int x = std::min(std::max(int(std::floor(u)), lo), hi);
        taps.start[i] = x;
        taps.weights[size_t(i) * taps.width] = 1.0f;
    }
}

void build_area(Taps& taps, int n, double origin, double scale, int lo, int hi, bool chroma) {
    for (int i = 0; i < n; ++i) {
        double a = origin + i * scale, b = origin + (i + 1) * scale;
        if (chroma) {
            a /= 2;
            b /= 2;
        }
        a = std::max(a, double(lo));
        b = std::min(b, double(hi + 1));
        const int first = std::min(int(std::floor(a)), hi);
        const int last = std::max(std::min(int(std::ceil(b)) - 1, hi), first);
        const int s = window_start(first, taps.width, hi);
        taps.start[i] = s;
        float* w = &taps.weights[size_t(i) * taps.width];
        double total = 0;
        for (int j = first; j <= last; ++j) total += std::max(0.0, std::min(b, j + 1.0) - std::max(a, double(j)));
        for (int j = first; j <= last; ++j) {
            const double overlap = std::max(0.0, std::min(b, j + 1.0) - std::max(a, double(j)));
            w[j - s] = total > 0 ? float(overlap / total) : (j == first ? 1.0f : 0.0f);
        }
    }
}

}  // namespace

void build_taps(Taps& taps, Filter filter, int n, double origin, double length, int lo, int hi,
                bool chroma) {
    const double scale = length / n;
    const int available = hi - lo + 1;
    int width = filter == Filter::Nearest ? 1 : 2;
    if (filter == Filter::Area) width = int(std::ceil(chroma ? scale / 2 : scale)) + 2;
    taps.count = n;
    taps.width = std::min(width, available);
    taps.start.resize(size_t(n));
    taps.weights.assign(size_t(n) * taps.width, 0.0f);
    if (filter == Filter::Area)
        build_area(taps, n, origin, scale, lo, hi, chroma);
    else if (filter == Filter::Nearest)
        build_nearest(taps, n, origin, scale, lo, hi, chroma);
    else
        build_bilinear(taps, n, origin, scale, lo, hi, chroma);
    taps.lowest = *std::min_element(taps.start.begin(), taps.start.end());
    taps.highest = *std::max_element(taps.start.begin(), taps.start.end()) + taps.width - 1;
}

}  // namespace sc
