"""python -m streamcore.models NAME OUT.tflite [options]: delegates to
``streamcore.tools.synthetic.__main__``."""

from __future__ import annotations

import sys

from ..tools.synthetic.__main__ import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
