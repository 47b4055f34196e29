#include <cstdint>
#include <string>

#include "common/errors.h"
#include "preprocess/plan.h"
#include "preprocess/preprocess.h"

namespace sc {

namespace {

std::string size_text(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

void resolve_roi(int frame_w, int frame_h, const Roi& roi, Plan& plan) {
    if (roi.w == 0 || roi.h == 0) {
        plan.roi_w = frame_w;
        plan.roi_h = frame_h;
        return;
    }
    const std::string roi_text = "ROI (x=" + std::to_string(roi.x) + ", y=" + std::to_string(roi.y) +
                                 ", w=" + std::to_string(roi.w) + ", h=" + std::to_string(roi.h) + ")";
    if (roi.w < 0 || roi.h < 0)
        throw RoiError(roi_text + " is empty; give a positive width and height, or no ROI for the whole frame");
    const int64_t right = int64_t(roi.x) + roi.w, bottom = int64_t(roi.y) + roi.h;
    if (roi.x < 0 || roi.y < 0 || right > frame_w || bottom > frame_h) {
        const int64_t x0 = roi.x < 0 ? 0 : roi.x, y0 = roi.y < 0 ? 0 : roi.y;
        const int64_t x1 = right > frame_w ? frame_w : right, y1 = bottom > frame_h ? frame_h : bottom;
        std::string hint = (x1 > x0 && y1 > y0)
                               ? "; clip it to (x=" + std::to_string(x0) + ", y=" + std::to_string(y0) +
                                     ", w=" + std::to_string(x1 - x0) + ", h=" + std::to_string(y1 - y0) + ")"
                               : "; it does not overlap the frame at all";
        throw RoiError(roi_text + " reaches outside the " + size_text(frame_w, frame_h) + " frame" + hint);
    }
    plan.roi_x = roi.x;
    plan.roi_y = roi.y;
    plan.roi_w = roi.w;
    plan.roi_h = roi.h;
}

// round(a * b / c) for positive values, exactly.
int64_t rounded_ratio(int64_t a, int64_t b, int64_t c) { return (2 * a * b + c) / (2 * c); }

}  // namespace

Plan make_plan(int frame_w, int frame_h, int tensor_w, int tensor_h, const PreprocessParams& params) {
    if (frame_w <= 0 || frame_h <= 0)
        throw InputError("frame size " + size_text(frame_w, frame_h) + " is empty; pass a non-empty frame");
    if (tensor_w <= 0 || tensor_h <= 0)
        throw InputError("tensor size " + size_text(tensor_w, tensor_h) + " is empty; the model input needs a positive height and width");
    Plan plan;
    resolve_roi(frame_w, frame_h, params.roi, plan);
    const int64_t rw = plan.roi_w, rh = plan.roi_h, tw = tensor_w, th = tensor_h;
    plan.src_x = plan.roi_x;
    plan.src_y = plan.roi_y;
    plan.src_w = double(rw);
    plan.src_h = double(rh);
    plan.dst_w = tensor_w;
    plan.dst_h = tensor_h;
    switch (params.fit) {
        case Fit::Stretch: break;
        case Fit::Letterbox:
            if (tw * rh <= th * rw) {  // width-bound
                int64_t h = rounded_ratio(rh, tw, rw);
                plan.dst_h = int(h < 1 ? 1 : (h > th ? th : h));
            } else {
                int64_t w = rounded_ratio(rw, th, rh);
                plan.dst_w = int(w < 1 ? 1 : (w > tw ? tw : w));
            }
            plan.dst_x = (tensor_w - plan.dst_w) / 2;
            plan.dst_y = (tensor_h - plan.dst_h) / 2;
            break;
        case Fit::CenterCrop:
            if (tw * rh >= th * rw) {  // tensor relatively wider: keep the ROI width
                plan.src_h = double(rw) * double(th) / double(tw);
            } else {
                plan.src_w = double(rh) * double(tw) / double(th);
            }
            plan.src_x = plan.roi_x + (double(rw) - plan.src_w) / 2;
            plan.src_y = plan.roi_y + (double(rh) - plan.src_h) / 2;
            break;
    }
    return plan;
}

Geometry plan_geometry(int frame_w, int frame_h, int tensor_w, int tensor_h,
                       const PreprocessParams& params) {
    return geometry_of(make_plan(frame_w, frame_h, tensor_w, tensor_h, params), frame_w, frame_h, tensor_w, tensor_h);
}

Geometry geometry_of(const Plan& plan, int frame_w, int frame_h, int tensor_w, int tensor_h) {
    Geometry g;
    g.src_x = float(plan.src_x);
    g.src_y = float(plan.src_y);
    g.src_w = float(plan.src_w);
    g.src_h = float(plan.src_h);
    g.dst_x = float(plan.dst_x);
    g.dst_y = float(plan.dst_y);
    g.dst_w = float(plan.dst_w);
    g.dst_h = float(plan.dst_h);
    g.frame_w = frame_w;
    g.frame_h = frame_h;
    g.tensor_w = tensor_w;
    g.tensor_h = tensor_h;
    return g;
}

}  // namespace sc
