"""What an engine calls to turn a ``Result``'s raw outputs into a decoded value."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..types import Result

__all__ = ["Adapter"]


@runtime_checkable
class Adapter(Protocol):
    """Any callable taking a ``Result``; what it returns becomes ``Result.value``."""

    def __call__(self, result: Result) -> Any: ...
