"""Progress on stderr while the bench runs (a rewritten line on a terminal, else one line
per step), without third-party dependencies."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

__all__ = ["Progress"]

_BAR = 24


class Progress:
    def __init__(self, total_steps: int, stream: Optional[TextIO] = None, enabled: bool = True) -> None:
        self.total = total_steps
        self.step = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self._label = ""
        self._last = 0.0

    def note(self, text: str) -> None:
        if self.enabled:
            self._clear()
            print(text, file=self.stream, flush=True)

    def begin(self, label: str) -> None:
        self.step += 1
        self._label = f"[{self.step}/{self.total}] {label}"
        if self.enabled and not self.tty:
            print(f"{self._label} ...", file=self.stream, flush=True)
        self.update(0.0, "starting")

    def update(self, fraction: float, detail: str) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if now - self._last < 0.2 and fraction < 1.0:
            return
        self._last = now
        filled = int(round(_BAR * max(0.0, min(1.0, fraction))))
        line = f"\r{self._label} [{'#' * filled}{'.' * (_BAR - filled)}] {detail}"
        print(line[:160].ljust(100), end="", file=self.stream, flush=True)

    def end(self, summary: str) -> None:
        if not self.enabled:
            return
        self._clear()
        print(f"{self._label}: {summary}", file=self.stream, flush=True)

    def _clear(self) -> None:
        if self.tty:
            print("\r" + " " * 160 + "\r", end="", file=self.stream, flush=True)
