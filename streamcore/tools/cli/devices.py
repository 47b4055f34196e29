"""`devices`: every backend (runtime, version, devices), the Edge TPUs listed like pycoral's
list_edge_tpus()."""

from __future__ import annotations

import argparse
from typing import Any, Dict

from ...backends import registry
from ...backends.edgetpu import list_devices, load_runtime, sim_runtime
from ...errors import EdgeTpuUnavailableError
from ...jsonsafe import dumps


def add_parser(sub: "argparse._SubParsersAction[Any]") -> None:
    p = sub.add_parser("devices", help="list the backends, their runtimes and their devices")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--sim", type=int, metavar="N",
                   help="list N devices of streamcore's simulated libedgetpu instead (not hardware)")


def run(args: argparse.Namespace) -> int:
    try:
        runtime = sim_runtime(args.sim, None) if args.sim else load_runtime()
        report: Dict[str, Any] = list_devices(runtime)
    except EdgeTpuUnavailableError as e:
        report = {"library": None, "version": None, "simulated": False, "devices": [], "error": str(e)}
    backends = []
    for backend in registry.backends():
        if backend.name == "edgetpu":
            continue  # reported in detail above
        env = backend.environment()
        env["devices"] = backend.enumerate() if env["available"] else []
        backends.append(env)
    report["backends"] = backends
    if args.json:
        print(dumps(report, indent=2))
        return 0
    for env in backends:
        if env["available"]:
            print(f"{env['backend']}: {env['version']}  {env['library']}")
            for d in env["devices"]:
                print(f"  {d['name']:16} {d.get('path') or ''}")
        else:
            print(f"{env['backend']}: not available\n  {env['reason']}")
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
