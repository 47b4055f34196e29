"""What kind of source a string names, and redaction of the credentials it may carry."""

from __future__ import annotations

import re
from typing import Optional

__all__ = ["redact", "source_kind", "LIVE_SCHEMES"]

LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#@\s]*@")
_SECRET_PARAMS = re.compile(
    r"([?&;](?:user|username|password|passwd|pwd|pass|token|auth|key|secret|apikey)=)[^&;#\s'\"]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """`text` with URL user:password parts and secret query parameters replaced by ***."""
    return _SECRET_PARAMS.sub(r"\1***", _USERINFO.sub(r"\1***@", text))


def scheme(url: str) -> Optional[str]:
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else None


def source_kind(url: str) -> str:
    """"network" for URLs, "v4l2" for /dev/video*, "file" otherwise (file:// included)."""
    s = scheme(url)
    if s is not None and s != "file":
        return "network"
    if url.startswith("/dev/video"):
        return "v4l2"
    return "file"
