"""`python -m streamcore COMMAND`. Errors print one line and exit with status 2."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from ...errors import StreamcoreError
from . import bench, classify, devices, run

__all__ = ["main"]

COMMANDS = {"bench": bench, "classify": classify, "devices": devices, "run": run}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streamcore")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        module.add_parser(sub)
    args = parser.parse_args(argv)
    try:
        return int(COMMANDS[args.command].run(args))
    except StreamcoreError as e:
        print(f"streamcore {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
