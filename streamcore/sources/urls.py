"""What kind of source a string names, and redaction of the credentials it may carry."""

from __future__ import annotations

import re
from typing import Optional

__all__ = ["redact", "source_kind", "LIVE_SCHEMES"]

LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
# The authority runs from "://" to the first "/", "?", "#" or whitespace; its userinfo ends at
# the LAST "@" in it (a password may hold "@"s: rtsp://admin:S3c@ret@cam/ is user admin,
# password S3c@ret). The greedy run backtracks to that last "@".
_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#\s]*@")
# Query (or fragment) parameters whose values are secrets: exact names, and any name ending
# in token, secret, password, signature or credential (X-Amz-Security-Token, client_secret, ...).
SECRET_PARAMS = (
    "user", "username", "password", "passwd", "pwd", "pass", "passphrase", "token", "auth", "key",
    "secret", "apikey", "api_key", "access_token", "sig", "signature", "x-amz-signature",
    "x-amz-credential", "x-amz-security-token",
)
_SECRET_PARAMS = re.compile(
    r"([?&;#](?:" + "|".join(re.escape(n) for n in SECRET_PARAMS)
    + r"|[a-z0-9_.-]*(?:token|secret|password|passwd|signature|credential|api_?key|access_?key))=)"
    r"[^&;#\s'\"]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """`text` with URL userinfo (user:password, up to the authority's last "@") and the values
    of secret query parameters (password=, token=, access_token=, api_key=, sig=,
    X-Amz-Signature=, ...) replaced by ***."""
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
