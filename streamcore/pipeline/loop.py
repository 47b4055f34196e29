"""`streamcore.run(main())`: asyncio.run on uvloop when it is installed."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Callable, Coroutine, Optional, TypeVar

__all__ = ["run", "loop_factory"]

T = TypeVar("T")


def loop_factory(use_uvloop: bool = True) -> Optional[Callable[[], asyncio.AbstractEventLoop]]:
    """uvloop's loop factory when wanted and installed, else None (stock asyncio)."""
    if not use_uvloop:
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = True, debug: Optional[bool] = None) -> T:
    """Runs `main` to completion in a new event loop, uvloop's if installed (and wanted)."""
    factory = loop_factory(use_uvloop)
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory, debug=debug) as runner:
            return runner.run(main)
    if factory is not None:  # pragma: no cover - Python < 3.11
        import uvloop

        uvloop.install()
    return asyncio.run(main, debug=debug)  # pragma: no cover
