# Fragment for streamcore/_core.pyi (preprocess part).
from typing import Any, Optional, Sequence, Tuple

GeometryTuple = Tuple[float, float, float, float, float, float, float, float, int, int, int, int]

class FrameView:
    def __init__(self, format: str, width: int, height: int, planes: Sequence[Any],
                 strides: Optional[Sequence[int]] = None, matrix: str = "bt601",
                 range: Optional[str] = None) -> None: ...  # None: limited, full for yuvj420p
    @property
    def format(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def matrix(self) -> str: ...
    @property
    def range(self) -> str: ...

class PreprocessParams:
    fit: str  # "stretch" | "letterbox" | "center_crop"
    filter: str  # "bilinear" | "area"
    roi: Optional[Tuple[int, int, int, int]]  # (x, y, w, h) in frame pixels
    mean: float
    std: float
    pad_value: int
    bgr: bool
    def __init__(self, fit: str = "stretch", filter: str = "bilinear",
                 roi: Optional[Tuple[int, int, int, int]] = None, mean: float = 128.0,
                 std: float = 128.0, pad_value: int = 0, bgr: bool = False) -> None: ...

def preprocess(view: FrameView, out: Any, params: PreprocessParams, scale: float = 0.0,
               zero_point: int = 0) -> GeometryTuple: ...
def plan_geometry(frame_w: int, frame_h: int, tensor_w: int, tensor_h: int,
                  params: PreprocessParams) -> GeometryTuple: ...
