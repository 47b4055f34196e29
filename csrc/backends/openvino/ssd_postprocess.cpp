// Follows tensorflow/lite/kernels/detection_postprocess.cc (float path) step by step, so the
// results match TFLite's: the same double-precision decode, the same sorts (stable for the
// per-class candidates, partial for the top-k), the same IoU and thresholds.
#include "backends/openvino/ssd_postprocess.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>

namespace sc {
namespace ssd {

namespace {

void decreasing_partial_arg_sort(const float* values, int num_values, int num_to_sort, int* indices) {
    if (num_to_sort == 1) {
        // ArgMaxVector: the first maximum
        int best = 0;
        float v = values[0];
        for (int i = 1; i < num_values; ++i)
            if (values[i] > v) { v = values[i]; best = i; }
        indices[0] = best;
    } else {
        std::iota(indices, indices + num_values, 0);
        std::partial_sort(indices, indices + num_to_sort, indices + num_values,
                          [values](int i, int j) { return values[i] > values[j]; });
    }
}

void decreasing_arg_sort(const float* values, int num_values, int* indices) {
    std::iota(indices, indices + num_values, 0);
    std::stable_sort(indices, indices + num_values,
                     [values](int i, int j) { return values[i] > values[j]; });
}

}  // namespace

SsdPostprocess::SsdPostprocess(const SsdOptions& options, int num_boxes, int num_classes_with_background)
    : opt_(options), num_boxes_(num_boxes), num_cwb_(num_classes_with_background) {
    label_offset_ = num_cwb_ - opt_.num_classes;
    if (num_boxes_ <= 0) throw std::runtime_error("SSD postprocess: no anchors");
    if (label_offset_ < 0 || label_offset_ > 1)
        throw std::runtime_error("SSD postprocess: the model has " + std::to_string(num_cwb_) +
                                 " score columns for num_classes " + std::to_string(opt_.num_classes));
    if (opt_.max_detections < 0) throw std::runtime_error("SSD postprocess: max_detections < 0");
    if (!opt_.use_regular_nms && opt_.max_classes_per_detection <= 0)
        throw std::runtime_error("SSD postprocess: max_classes_per_detection must be positive");
    if (opt_.use_regular_nms && opt_.detections_per_class <= 0)
        throw std::runtime_error("SSD postprocess: detections_per_class must be positive");
    if (!(opt_.nms_iou_threshold > 0.0f && opt_.nms_iou_threshold <= 1.0f))
        throw std::runtime_error("SSD postprocess: nms_iou_threshold must be in (0, 1]");
    decoded_.resize(static_cast<std::size_t>(num_boxes_) * 4);
    active_.resize(num_boxes_);
    max_scores_.resize(num_boxes_);
    class_scores_.resize(num_boxes_);
    keep_scores_.reserve(num_boxes_);
    keep_indices_.reserve(num_boxes_);
    sorted_.reserve(num_boxes_ + opt_.max_detections);
    sorted_class_indices_.resize(static_cast<std::size_t>(num_boxes_) * opt_.num_classes);
}

void SsdPostprocess::decode(const float* enc, int stride, const float* anchors) {
    const double sy = opt_.y_scale, sx = opt_.x_scale, sh = opt_.h_scale, sw = opt_.w_scale;
    for (int i = 0; i < num_boxes_; ++i) {
        const float* b = enc + static_cast<std::size_t>(i) * stride;
        const float* a = anchors + static_cast<std::size_t>(i) * 4;  // y, x, h, w
        float yc = static_cast<float>(double(b[0]) / sy * double(a[2]) + double(a[0]));
        float xc = static_cast<float>(double(b[1]) / sx * double(a[3]) + double(a[1]));
        float hh = static_cast<float>(0.5 * std::exp(double(b[2]) / sh) * double(a[2]));
        float hw = static_cast<float>(0.5 * std::exp(double(b[3]) / sw) * double(a[3]));
        float* d = &decoded_[static_cast<std::size_t>(i) * 4];
        d[0] = yc - hh;
        d[1] = xc - hw;
        d[2] = yc + hh;
        d[3] = xc + hw;
    }
}

float SsdPostprocess::iou(int i, int j) const {
    const float* a = &decoded_[static_cast<std::size_t>(i) * 4];
    const float* b = &decoded_[static_cast<std::size_t>(j) * 4];
    const float area_i = (a[2] - a[0]) * (a[3] - a[1]);
    const float area_j = (b[2] - b[0]) * (b[3] - b[1]);
    if (area_i <= 0 || area_j <= 0) return 0.0f;
    const float ymin = std::max(a[0], b[0]), xmin = std::max(a[1], b[1]);
    const float ymax = std::min(a[2], b[2]), xmax = std::min(a[3], b[3]);
    const float inter = std::max(ymax - ymin, 0.0f) * std::max(xmax - xmin, 0.0f);
    return inter / (area_i + area_j - inter);
}

void SsdPostprocess::nms_single_class(const std::vector<float>& scores, int max_detections,
                                      std::vector<int>* selected) {
    keep_scores_.clear();
    keep_indices_.clear();
    for (int i = 0; i < static_cast<int>(scores.size()); ++i) {
        if (scores[i] >= opt_.nms_score_threshold) {
            keep_scores_.push_back(scores[i]);
            keep_indices_.push_back(i);
        }
    }
    const int kept = static_cast<int>(keep_scores_.size());
    std::vector<int>& sorted = sorted_;
    sorted.resize(kept);
    decreasing_arg_sort(keep_scores_.data(), kept, sorted.data());
    const std::size_t output_size = static_cast<std::size_t>(std::min(kept, max_detections));
    selected->clear();
    int active_count = kept;
    std::fill(active_.begin(), active_.begin() + kept, uint8_t{1});
    for (int i = 0; i < kept; ++i) {
        if (active_count == 0 || selected->size() >= output_size) break;
        if (active_[i] != 1) continue;
        selected->push_back(keep_indices_[sorted[i]]);
        active_[i] = 0;
        --active_count;
        for (int j = i + 1; j < kept; ++j) {
            if (active_[j] == 1 && iou(keep_indices_[sorted[i]], keep_indices_[sorted[j]]) > opt_.nms_iou_threshold) {
                active_[j] = 0;
                --active_count;
            }
        }
    }
}

void SsdPostprocess::fast_nms(const float* scores, const SsdOutputs& out) {
    const int nc = opt_.num_classes;
    const int per_anchor = std::min(opt_.max_classes_per_detection, nc);
    for (int row = 0; row < num_boxes_; ++row) {
        const float* box_scores = scores + static_cast<std::size_t>(row) * num_cwb_ + label_offset_;
        int* ci = sorted_class_indices_.data() + static_cast<std::size_t>(row) * nc;
        decreasing_partial_arg_sort(box_scores, nc, per_anchor, ci);
        max_scores_[row] = box_scores[ci[0]];
    }
    nms_single_class(max_scores_, opt_.max_detections, &selected_);
    int out_index = 0;
    for (int sel : selected_) {
        const float* box_scores = scores + static_cast<std::size_t>(sel) * num_cwb_ + label_offset_;
        const int* ci = sorted_class_indices_.data() + static_cast<std::size_t>(sel) * nc;
        for (int col = 0; col < per_anchor; ++col) {
            const int k = opt_.max_classes_per_detection * out_index + col;
            std::memcpy(out.boxes + static_cast<std::size_t>(k) * 4, &decoded_[static_cast<std::size_t>(sel) * 4],
                        4 * sizeof(float));
            out.classes[k] = static_cast<float>(ci[col]);
            out.scores[k] = box_scores[ci[col]];
        }
        ++out_index;
    }
    out.count[0] = static_cast<float>(out_index);
}

void SsdPostprocess::regular_nms(const float* scores, const SsdOutputs& out) {
    const int nc = opt_.num_classes;
    const int max_det = opt_.max_detections;
    std::vector<int> box_idx(num_boxes_ + max_det);
    std::vector<float> box_scores(num_boxes_ + max_det);
    std::vector<int> sorted(num_boxes_ + max_det);
    std::vector<float> sorted_values(max_det);
    std::vector<int> selected;
    int size_sorted = 0;
    for (int col = 0; col < nc; ++col) {
        for (int row = 0; row < num_boxes_; ++row)
            class_scores_[row] = scores[static_cast<std::size_t>(row) * num_cwb_ + col + label_offset_];
        nms_single_class(class_scores_, opt_.detections_per_class, &selected);
        int output_index = size_sorted;
        for (int s : selected) {
            box_idx[output_index] = s * num_cwb_ + col + label_offset_;
            box_scores[output_index] = class_scores_[s];
            ++output_index;
        }
        const int to_sort = std::min(output_index, max_det);
        if (to_sort > 0) decreasing_partial_arg_sort(box_scores.data(), output_index, to_sort, sorted.data());
        for (int r = 0; r < to_sort; ++r) {
            const int t = sorted[r];
            sorted[r] = box_idx[t];
            sorted_values[r] = box_scores[t];
        }
        for (int r = 0; r < to_sort; ++r) {
            box_idx[r] = sorted[r];
            box_scores[r] = sorted_values[r];
        }
        size_sorted = to_sort;
    }
    for (int k = 0; k < max_det; ++k) {
        if (k < size_sorted) {
            const int anchor = box_idx[k] / num_cwb_;
            const int cls = box_idx[k] - anchor * num_cwb_ - label_offset_;
            std::memcpy(out.boxes + static_cast<std::size_t>(k) * 4, &decoded_[static_cast<std::size_t>(anchor) * 4],
                        4 * sizeof(float));
            out.classes[k] = static_cast<float>(cls);
            out.scores[k] = box_scores[k];
        } else {
            std::fill(out.boxes + static_cast<std::size_t>(k) * 4, out.boxes + static_cast<std::size_t>(k) * 4 + 4, 0.0f);
            out.classes[k] = 0.0f;
            out.scores[k] = 0.0f;
        }
    }
    out.count[0] = static_cast<float>(size_sorted);
}

void SsdPostprocess::run(const float* box_encodings, int encoding_stride, const float* scores, const float* anchors,
                         const SsdOutputs& out) {
    if (encoding_stride < 4) throw std::runtime_error("SSD postprocess: box encodings need 4 values");
    // TFLite leaves unused rows untouched; ours start at zero so a reused block holds no stale rows.
    const std::size_t rows = static_cast<std::size_t>(opt_.output_rows());
    std::fill(out.boxes, out.boxes + rows * 4, 0.0f);
    std::fill(out.classes, out.classes + rows, 0.0f);
    std::fill(out.scores, out.scores + rows, 0.0f);
    decode(box_encodings, encoding_stride, anchors);
    for (int i = 0; i < num_boxes_; ++i) {
        const float* d = &decoded_[static_cast<std::size_t>(i) * 4];
        if (d[0] > d[2] || d[1] > d[3]) throw std::runtime_error("SSD postprocess: invalid decoded box");
    }
    if (opt_.use_regular_nms)
        regular_nms(scores, out);
    else
        fast_nms(scores, out);
}

}  // namespace ssd
}  // namespace sc
