"""`python -m streamcore COMMAND`. Errors print one line and exit with status 2."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from ... import _startup
from ...errors import StreamcoreError
from . import bench, classify, devices, run, serve

__all__ = ["main"]

COMMANDS = {"bench": bench, "classify": classify, "devices": devices, "run": run, "serve": serve}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streamcore")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        module.add_parser(sub)
    command: Optional[str] = None
    try:
        args = parser.parse_args(argv)
        command = args.command
        if args.command not in ("run", "serve"):
            # Ctrl-C is KeyboardInterrupt again (below); `run` and `serve` keep the startup handler
            # (exit 130, nothing started yet) until its event loop installs its own.
            _startup.release()
        try:
            return int(COMMANDS[args.command].run(args))
        except StreamcoreError as e:
            print(f"streamcore {args.command}: error: {e}", file=sys.stderr)
            return 2
    except KeyboardInterrupt:
        print(_startup.interrupted_line(command), file=sys.stderr)
        return 130
