// SSD box decoding and non-max suppression, as TFLite's TFLite_Detection_PostProcess custom op
// (tensorflow/lite/kernels/detection_postprocess.cc) computes them. Plain C++, no runtime types:
// the OpenVINO backend runs the network up to the op's three inputs and finishes here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sc {
namespace ssd {

// The op's flexbuffer custom options (read from the .tflite by the Python side).
struct SsdOptions {
    int max_detections = 10;
    int max_classes_per_detection = 1;
    int detections_per_class = 100;
    bool use_regular_nms = false;
    float nms_score_threshold = 0.0f;
    float nms_iou_threshold = 0.6f;
    int num_classes = 90;
    float y_scale = 10.0f, x_scale = 10.0f, h_scale = 5.0f, w_scale = 5.0f;

    // Rows in each output: max_detections * max_classes_per_detection (fast NMS),
    // max_detections (regular NMS), as TFLite's Prepare() sizes them.
    int output_rows() const {
        return use_regular_nms ? max_detections : max_detections * max_classes_per_detection;
    }
};

// Where the four TFLite-layout outputs go (all float32):
// boxes [1,rows,4] (ymin,xmin,ymax,xmax), classes [1,rows], scores [1,rows], count [1].
struct SsdOutputs {
    float* boxes = nullptr;
    float* classes = nullptr;
    float* scores = nullptr;
    float* count = nullptr;
};

// Reusable scratch space, so a device decodes every frame without allocating.
class SsdPostprocess {
public:
    // num_boxes anchors; num_classes_with_background score columns per anchor
    // (num_classes or num_classes + 1: column 0 is background then, and is skipped).
    SsdPostprocess(const SsdOptions& options, int num_boxes, int num_classes_with_background);

    const SsdOptions& options() const { return opt_; }
    int num_boxes() const { return num_boxes_; }
    int num_classes_with_background() const { return num_cwb_; }

    // box_encodings [num_boxes, >=4 stride `encoding_stride`] (y,x,h,w), scores
    // [num_boxes, num_classes_with_background] in 0..1, anchors [num_boxes,4] (y,x,h,w).
    // Throws std::runtime_error for invalid options or decoded boxes (as TFLite fails).
    void run(const float* box_encodings, int encoding_stride, const float* scores, const float* anchors,
             const SsdOutputs& out);

private:
    void decode(const float* box_encodings, int encoding_stride, const float* anchors);
    float iou(int i, int j) const;
    void nms_single_class(const std::vector<float>& scores, int max_detections, std::vector<int>* selected);
    void fast_nms(const float* scores, const SsdOutputs& out);
    void regular_nms(const float* scores, const SsdOutputs& out);

    SsdOptions opt_;
    int num_boxes_;
    int num_cwb_;
    int label_offset_;
    std::vector<float> decoded_;  // [num_boxes,4] ymin,xmin,ymax,xmax
    // scratch
    std::vector<float> keep_scores_, class_scores_, max_scores_;
    std::vector<int> keep_indices_, sorted_, sorted_class_indices_, selected_;
    std::vector<uint8_t> active_;
};

}  // namespace ssd
}  // namespace sc
