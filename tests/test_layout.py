"""The package layout: no import cycles among streamcore's modules, the aliases kept for
`streamcore.models` and `streamcore.bench`, and `sources.open_source` choosing sources."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from typing import AsyncGenerator, Dict, List, Optional, Set

import pytest

import streamcore
from streamcore import InputError, SourceNotFoundError
from streamcore.sources import AsyncIterableSource, AvSource, IterableSource, open_source

PACKAGE = Path(streamcore.__file__).resolve().parent


def _modules() -> Dict[str, Path]:
    """streamcore's Python modules by dotted name (a package by its own name)."""
    found: Dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("streamcore",) + path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _compiled() -> Set[str]:
    """Compiled modules (streamcore._core): they import nothing of ours."""
    return {
        ".".join(("streamcore",) + p.relative_to(PACKAGE).parent.parts + (p.name.split(".")[0],))
        for p in list(PACKAGE.rglob("*.so")) + list(PACKAGE.rglob("*.pyi"))
    }


def import_graph() -> Dict[str, Set[str]]:
    """Every import statement of every module (TYPE_CHECKING blocks and function bodies
    included), plus the package __init__s an import of another package's module runs
    (the root package excepted: every module runs it)."""
    modules, compiled = _modules(), _compiled()
    graph: Dict[str, Set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: List[str] = []
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                for alias in node.names:
                    sub = f"{origin}.{alias.name}"
                    if sub not in compiled:
                        targets.append(sub if sub in modules else origin)
        deps: Set[str] = set()
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if not target:
                continue  # not ours
            deps.add(target)
            parent = target.rpartition(".")[0]
            while parent and parent != "streamcore":
                if not (name == parent or name.startswith(parent + ".")):
                    deps.add(parent)
                parent = parent.rpartition(".")[0]
        deps.discard(name)
        graph[name] = deps
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle is not None:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle is not None:
                return cycle
    return None


def test_the_graph_sees_the_modules() -> None:
    graph = import_graph()
    assert "streamcore.engine.runner" in graph["streamcore.engine.engine"]
    assert "streamcore.engine.health" in graph["streamcore.engine.runner"]
    assert "streamcore.pipeline.stream" in graph["streamcore.pipeline.pipeline"]
    assert "streamcore" not in graph["streamcore._native"]  # `from . import _core` is compiled


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_health_and_stream_do_not_import_their_owners() -> None:
    graph = import_graph()
    assert "streamcore.engine.runner" not in graph["streamcore.engine.health"]
    assert "streamcore.pipeline.pipeline" not in graph["streamcore.pipeline.stream"]


def test_aliases_are_the_moved_modules() -> None:
    from streamcore import bench, models
    from streamcore.models.__main__ import main as alias_main
    from streamcore.tools import bench as tools_bench
    from streamcore.tools import synthetic
    from streamcore.tools.synthetic.__main__ import main

    assert models.__all__ == synthetic.__all__
    for name in models.__all__:
        assert getattr(models, name) is getattr(synthetic, name)
    assert alias_main is main
    assert bench.__all__ == tools_bench.__all__
    for name in bench.__all__:
        assert getattr(bench, name) is getattr(tools_bench, name)


def test_open_source_picks_the_source(tmp_path: Path) -> None:
    clip = tmp_path / "door.mp4"
    clip.write_bytes(b"")  # nothing is opened until the source runs

    by_path = open_source(clip)
    assert isinstance(by_path, AvSource)
    assert (by_path.name, by_path.kind, by_path.live) == ("door", "file", False)

    url = open_source("rtsp://user:secret@10.0.0.5/stream", live_options=None)
    assert isinstance(url, AvSource)
    assert (url.kind, url.live) == ("network", True)
    assert "secret" not in url.name and "secret" not in url.url

    camera = open_source("/dev/video0", "cam", live=False)
    assert isinstance(camera, AvSource)
    assert (camera.name, camera.kind, camera.live) == ("cam", "v4l2", False)

    frames = open_source([1, 2, 3], unique=lambda base: base + "-2")
    assert isinstance(frames, IterableSource)
    assert (frames.name, frames.kind, frames.live) == ("frames-2", "iterable", False)

    async def gen() -> AsyncGenerator[int, None]:
        yield 1

    agen = gen()
    async_frames = open_source(agen, live=True)
    assert isinstance(async_frames, AsyncIterableSource)
    assert (async_frames.kind, async_frames.live) == ("iterable", True)
    asyncio.run(agen.aclose())

    with pytest.raises(SourceNotFoundError):
        open_source(tmp_path / "missing.mp4")
    with pytest.raises(InputError, match="cannot read frames from a int"):
        open_source(42)
    with pytest.raises(InputError):
        open_source([1], fps=0)
