"""Writing models to files, and a per-user cache so large synthetic models are built once."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Callable, Union

from ...errors import ModelError

__all__ = ["write", "cache_dir", "cached_path", "CACHE_FORMAT_VERSION"]

# Bump when a builder changes its output so stale cached files are not reused.
CACHE_FORMAT_VERSION = 1
_CACHE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def write(model: bytes, path: Union[str, "os.PathLike[str]"]) -> Path:
    """Write `model` to `path` atomically (a reader never sees a partial file); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(model)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target


def cache_dir() -> Path:
    """$STREAMCORE_CACHE_DIR, else $XDG_CACHE_HOME/streamcore, else ~/.cache/streamcore."""
    override = os.environ.get("STREAMCORE_CACHE_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "streamcore"


def cached_path(name: str, builder_call: Callable[[], bytes]) -> Path:
    """Path of the cached model `name`, building it with `builder_call()` on first use.

    `name` must identify the builder and its arguments (e.g. "mobilenet_v2-seed0").
    """
    if not _CACHE_NAME.match(name):
        raise ModelError(f"cache name {name!r} must be a plain file name (letters, digits, '.', '_', '-')")
    path = cache_dir() / "models" / f"{name}.v{CACHE_FORMAT_VERSION}.tflite"
    if path.is_file() and path.stat().st_size > 0:
        return path
    return write(builder_call(), path)
