"""BBox helpers with pycoral's semantics: valid, scale, translate, map, intersect, union, iou."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamcore import BBox


def test_overlapping_boxes() -> None:
    a, b = BBox(0, 0, 10, 10), BBox(5, 5, 15, 20)
    assert BBox.intersect(a, b) == BBox(5, 5, 10, 10)
    assert BBox.union(a, b) == BBox(0, 0, 15, 20)
    # overlap 25; areas 100 and 150
    assert BBox.iou(a, b) == pytest.approx(25 / (100 + 150 - 25))
    assert BBox.iou(b, a) == BBox.iou(a, b)


def test_same_box_and_box_inside_another() -> None:
    a = BBox(1.5, 2.5, 4.5, 8.5)
    assert BBox.iou(a, a) == 1.0
    outer, inner = BBox(0, 0, 10, 10), BBox(2, 2, 4, 7)
    assert BBox.intersect(outer, inner) == inner
    assert BBox.union(outer, inner) == outer
    assert BBox.iou(outer, inner) == pytest.approx(10 / 100)


def test_no_overlap_gives_an_invalid_intersection_and_zero_iou() -> None:
    a, b = BBox(0, 0, 10, 10), BBox(20, 0, 30, 10)
    inter = BBox.intersect(a, b)
    assert not inter.valid and inter.width == -10 and inter.area == 0.0
    assert BBox.iou(a, b) == 0.0
    assert BBox.union(a, b) == BBox(0, 0, 30, 10) and BBox.union(a, b).valid
    assert BBox.iou(BBox(0, 0, 1, 1), BBox(5, 5, 6, 6)) == 0.0  # apart on both axes


def test_touching_edges_overlap_with_zero_area() -> None:
    a, b = BBox(0, 0, 10, 10), BBox(10, 0, 20, 10)
    inter = BBox.intersect(a, b)
    assert inter.valid and inter.area == 0.0
    assert BBox.iou(a, b) == 0.0


def test_zero_area_boxes() -> None:
    point = BBox(3, 3, 3, 3)
    assert point.valid and point.area == 0.0
    assert BBox.iou(point, point) == 0.0  # pycoral divides by zero here
    line = BBox(0, 5, 10, 5)
    assert BBox.iou(line, BBox(0, 0, 10, 10)) == 0.0
    assert BBox.iou(BBox(0, 0, 10, 10), point) == 0.0


def test_valid_scale_translate_map() -> None:
    assert BBox(0, 0, 1, 1).valid
    assert not BBox(2, 0, 1, 1).valid and not BBox(0, 2, 1, 1).valid
    box = BBox(0.1, 0.2, 0.5, 0.9)
    assert box.scale(640, 480) == BBox(64.0, 96.0, 320.0, 432.0)
    assert box.scale(640, 480).map(int) == BBox(64, 96, 320, 432)
    assert BBox(1, 2, 3, 4).translate(10, -2) == BBox(11, 0, 13, 2)
    assert BBox(1.4, 1.6, 2.5, 3.5).map(round) == BBox(1, 2, 2, 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        box.xmin = 3  # type: ignore[misc]


coordinate = st.floats(-1000, 1000, allow_nan=False)


@st.composite
def boxes(draw: st.DrawFn) -> BBox:
    x0, x1 = sorted((draw(coordinate), draw(coordinate)))
    y0, y1 = sorted((draw(coordinate), draw(coordinate)))
    return BBox(x0, y0, x1, y1)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(boxes(), boxes())
def test_iou_properties(a: BBox, b: BBox) -> None:
    iou = BBox.iou(a, b)
    assert 0.0 <= iou <= 1.0 + 1e-9
    assert iou == BBox.iou(b, a)
    union = BBox.union(a, b)
    assert union.valid and union.area >= max(a.area, b.area)
    inter = BBox.intersect(a, b)
    if inter.valid and inter.area > 0:
        # the pycoral formula where it is defined
        assert iou == pytest.approx(inter.area / (a.area + b.area - inter.area))
    else:
        assert iou == 0.0
    if a.area > 0:
        assert BBox.iou(a, a) == pytest.approx(1.0)
