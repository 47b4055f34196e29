"""The simulated libedgetpu that streamcore builds (streamcore/_edgetpu_sim*.so).

It exports libedgetpu's C++ ABI and is loaded through the same loader as the real runtime,
e.g. ``_core.EdgeTpuRuntime(sim_library_path())``. It is a SIMULATOR: no Edge TPU is used.
"""

from __future__ import annotations

import glob
import os

from ..errors import EdgeTpuUnavailableError

__all__ = ["sim_library_path"]


def sim_library_path() -> str:
    """Absolute path of the simulated libedgetpu built into the streamcore package
    (streamcore/_edgetpu_sim*.so, next to streamcore/_core*.so)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    matches = sorted(glob.glob(os.path.join(here, "_edgetpu_sim*.so")))
    if not matches:
        raise EdgeTpuUnavailableError(
            f"the simulated libedgetpu is not built in {here}; run "
            "'python setup.py build_ext --inplace' or 'pip install .'"
        )
    return matches[0]
