// The geometry of one preprocess call in double precision (the kernel samples from it;
// Geometry is its float summary for Python).
#pragma once
#include "preprocess/frame.h"

namespace sc {

struct Plan {
    int roi_x = 0, roi_y = 0, roi_w = 0, roi_h = 0;  // integer pixels samples may come from
    double src_x = 0, src_y = 0, src_w = 0, src_h = 0;
    int dst_x = 0, dst_y = 0, dst_w = 0, dst_h = 0;
};

Plan make_plan(int frame_w, int frame_h, int tensor_w, int tensor_h, const PreprocessParams& params);

Geometry geometry_of(const Plan& plan, int frame_w, int frame_h, int tensor_w, int tensor_h);

}  // namespace sc
