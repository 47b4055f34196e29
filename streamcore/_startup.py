"""Ctrl-C while `python -m streamcore ...` is still importing: one line and status 130.

`python -m streamcore` imports the whole package (numpy, PyAV, the native core) before
`__main__` runs, so a SIGINT in that time would print a KeyboardInterrupt traceback from
inside the import machinery, where no code of ours can catch it. When (and only when) the
package is being imported as the target of ``python -m streamcore``, this installs a SIGINT
handler that prints one line and exits with 130 (nothing has started yet, so there is
nothing to clean up). The command line restores Python's own handler once it is ready to
handle KeyboardInterrupt itself (`release`), and `run` installs its own loop handler.
Importing streamcore as a library changes nothing.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType
from typing import List, Optional

__all__ = ["install", "release", "installed", "interrupted_line"]

_installed = False


def _command(argv: List[str]) -> Optional[str]:
    """The CLI command ("" for none) when `argv` (the interpreter's own) is
    ``python [options] -m streamcore [CMD ...]``, else None."""
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "-m":
            if i + 1 >= len(argv) or argv[i + 1] != "streamcore":
                return None
            rest = argv[i + 2:]
            return rest[0] if rest and not rest[0].startswith("-") else ""
        if arg in ("-X", "-W"):
            i += 2  # an interpreter option with its value
            continue
        if not arg.startswith("-") or arg == "-c" or arg == "-":
            return None  # a script, -c code or stdin: not -m streamcore
        i += 1
    return None


def interrupted_line(command: Optional[str]) -> str:
    return f"streamcore {command}: stopped" if command else "streamcore: stopped"


def _on_sigint(signum: int, frame: Optional[FrameType]) -> None:
    try:
        sys.stderr.write(interrupted_line(_command(list(getattr(sys, "orig_argv", [])))) + "\n")
        sys.stderr.flush()
    finally:
        os._exit(130)


def install() -> None:
    """Installs the startup handler if this process is ``python -m streamcore`` (main thread,
    Python's default handler still in place)."""
    global _installed
    orig_argv = getattr(sys, "orig_argv", None)  # Python 3.10+
    if orig_argv is not None:
        if _command(list(orig_argv)) is None:
            return
    elif sys.argv[:1] != ["-m"]:  # pragma: no cover - Python < 3.10: "-m" while it is located
        return
    try:
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return  # someone chose their own handling (or SIGINT is ignored)
        signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:  # pragma: no cover - not the main thread
        return
    _installed = True


def installed() -> bool:
    return _installed and signal.getsignal(signal.SIGINT) is _on_sigint


def release() -> None:
    """Python's own SIGINT handling again (KeyboardInterrupt), if the startup handler is in place."""
    global _installed
    if installed():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    _installed = False
