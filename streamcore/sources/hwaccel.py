"""Hardware decoding through PyAV (>= 14): `hwaccel=` names, the decoders they open, and the
fallback to software decoding when the device or the codec has no hardware path.

Device types ("vaapi", "cuda", "qsv", "videotoolbox", ...) go through ``av.codec.hwaccel.HWAccel``
(frames are downloaded as NV12 or P010, which the native preprocess reads directly);
"v4l2m2m" uses FFmpeg's ``<codec>_v4l2m2m`` decoders (Raspberry Pi and other SoCs); "auto"
tries the device types this FFmpeg build has, in PREFERRED order.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import av

from ..errors import InputError

__all__ = ["check_hwaccel", "hwaccel_names", "open_candidates", "m2m_decoder", "PREFERRED"]

PREFERRED = ("cuda", "vaapi", "qsv", "videotoolbox", "d3d11va", "dxva2", "vulkan", "drm")

try:
    from av.codec.hwaccel import HWAccel, HWDeviceType, hwdevices_available
except ImportError:  # PyAV < 14 has no hardware decoding API
    HWAccel = None  # type: ignore[assignment,misc]
    HWDeviceType = None  # type: ignore[assignment,misc]

    def hwdevices_available() -> List[str]:  # type: ignore[misc]
        return []


def hwaccel_names() -> List[str]:
    """Every name `hwaccel=` takes with this PyAV: "auto", "v4l2m2m" and PyAV's device types."""
    types = [] if HWDeviceType is None else [n for n in HWDeviceType.__members__ if n != "none"]
    return ["auto", "v4l2m2m"] + sorted(types)


def check_hwaccel(name: Optional[str]) -> Optional[str]:
    """`name` if PyAV knows it (None: software decoding); InputError listing the names otherwise."""
    if name is None:
        return None
    if not isinstance(name, str) or name not in hwaccel_names():
        raise InputError(
            f"hwaccel={name!r} is not a hardware decoder PyAV {av.__version__} knows; use one of "
            f"{', '.join(hwaccel_names())} (or None for software decoding); this FFmpeg build has "
            f"devices for: {', '.join(hwdevices_available()) or 'none'}"
        )
    return name


def open_candidates(name: Optional[str]) -> List[Tuple[str, Any]]:
    """(device type, HWAccel) pairs to try in av.open, in order; none for software or v4l2m2m.
    Each is strict (no silent software fallback) so that the first one that opens is known
    to decode on its device."""
    if name is None or name == "v4l2m2m" or HWAccel is None:
        return []
    if name == "auto":
        available = set(hwdevices_available())
        types = [t for t in PREFERRED if t in available] + sorted(available - set(PREFERRED))
    else:
        types = [name]
    return [(t, HWAccel(device_type=t, allow_software_fallback=False)) for t in types]


def m2m_decoder(stream: Any) -> Tuple[Optional[Any], str]:
    """An opened ``<codec>_v4l2m2m`` decoder for `stream`, or (None, why not)."""
    codec = stream.codec_context.name
    name = f"{codec}_v4l2m2m"
    if name not in av.codecs_available:
        return None, f"this FFmpeg build has no {name} decoder"
    return named_decoder(stream, name)


def named_decoder(stream: Any, name: str) -> Tuple[Optional[Any], str]:
    """The decoder `name`, set up from `stream`'s parameters and opened now (so a missing device
    fails here, not mid-stream)."""
    try:
        ctx: Any = av.CodecContext.create(name, "r")
        source = stream.codec_context
        ctx.extradata = source.extradata
        ctx.width, ctx.height = source.width, source.height
        ctx.open()
    except (av.error.FFmpegError, ValueError, OSError, RuntimeError) as e:
        return None, f"{name} did not open: {e}"
    return ctx, ""
