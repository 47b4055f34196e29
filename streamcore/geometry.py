"""Where a frame landed in the model input, and the way back to frame pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

__all__ = ["Geometry"]


@dataclass(frozen=True)
class Geometry:
    """The transform preprocess applied: the source rectangle of the frame (the ROI or
    crop, in frame pixels) was scaled onto the destination rectangle of the tensor.

    ``frame_x = src_x + (tensor_x - dst_x) * src_w / dst_w`` and likewise for y.
    """

    src_x: float
    src_y: float
    src_w: float
    src_h: float
    dst_x: float
    dst_y: float
    dst_w: float
    dst_h: float
    frame_w: int
    frame_h: int
    tensor_w: int
    tensor_h: int

    def to_frame(self, x: float, y: float) -> Tuple[float, float]:
        """Maps a point in tensor pixels to frame pixels."""
        return (
            self.src_x + (x - self.dst_x) * self.src_w / self.dst_w,
            self.src_y + (y - self.dst_y) * self.src_h / self.dst_h,
        )

    def box_to_frame(
        self, ymin: float, xmin: float, ymax: float, xmax: float, *, normalized: bool = True
    ) -> Tuple[float, float, float, float]:
        """Maps a (ymin, xmin, ymax, xmax) box from the tensor (normalized to [0, 1] by
        default, as SSD models give them) to (xmin, ymin, xmax, ymax) frame pixels,
        clipped to the source rectangle."""
        if normalized:
            ymin, ymax = ymin * self.tensor_h, ymax * self.tensor_h
            xmin, xmax = xmin * self.tensor_w, xmax * self.tensor_w
        x0, y0 = self.to_frame(xmin, ymin)
        x1, y1 = self.to_frame(xmax, ymax)
        lo_x, hi_x = self.src_x, self.src_x + self.src_w
        lo_y, hi_y = self.src_y, self.src_y + self.src_h
        return (
            min(max(x0, lo_x), hi_x),
            min(max(y0, lo_y), hi_y),
            min(max(x1, lo_x), hi_x),
            min(max(y1, lo_y), hi_y),
        )
