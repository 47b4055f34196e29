"""`devices`: the Edge TPU runtime and its devices, like pycoral's list_edge_tpus()."""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict

from ...backends.edgetpu import list_devices, load_runtime, sim_runtime
from ...errors import EdgeTpuUnavailableError


def add_parser(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser("devices", help="list the Edge TPU runtime and devices")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--sim", type=int, metavar="N",
                   help="list N devices of streamcore's simulated libedgetpu instead (not hardware)")


def run(args: argparse.Namespace) -> int:
    try:
        runtime = sim_runtime(args.sim, None) if args.sim else load_runtime()
        report: Dict[str, Any] = list_devices(runtime)
    except EdgeTpuUnavailableError as e:
        report = {"library": None, "version": None, "simulated": False, "devices": [], "error": str(e)}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if report["library"] is None:
        print(f"libedgetpu: not available\n  {report['error']}")
        print("devices: none (CPU devices remain available: devices='cpu:N')")
        return 0
    label = "  [SIMULATOR: no Edge TPU hardware]" if report["simulated"] else ""
    print(f"libedgetpu: {report['library']}{label}")
    print(f"version: {report['version']}")
    if not report["devices"]:
        print("devices: none found (check the USB cable or the PCIe driver and /dev/apex_*)")
    for d in report["devices"]:
        sim = " (simulated)" if d["simulated"] else ""
        print(f"  {d['type']:9} {d['path']:24} {d['state']}{sim}")
    return 0
