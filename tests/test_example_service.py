"""examples/service.py: started as a process, queried over loopback HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

from streamcore import models

from tests.media import make_clip

pytest.importorskip("aiohttp", reason="the example service needs aiohttp (pip install aiohttp)")

SERVICE = Path(__file__).resolve().parent.parent / "examples" / "service.py"


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


TOKEN = "t0ken-for-tests"


def request(url: str, method: str, body: Any = None, token: str = TOKEN) -> int:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def eventually(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_service_serves_latest_results_and_stats(tmp_path: Path) -> None:
    model = models.write(models.tiny_classifier((32, 32, 3), 5), tmp_path / "tiny.tflite")
    live_like = make_clip(tmp_path / "cam.mp4", frames=300, fps=20)  # 15 s, paced like a camera
    short = make_clip(tmp_path / "short.mp4", frames=10)
    proc = subprocess.Popen([sys.executable, str(SERVICE), "-m", str(model), "-d", "cpu:2", "--realtime",
                             "--port", "0", "--media-dir", str(tmp_path), str(live_like)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "STREAMCORE_SERVICE_TOKEN": TOKEN})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line + (proc.stderr.read() if proc.poll() and proc.stderr else "")
        base = line.split()[-1]
        eventually(lambda: "cam" in get(f"{base}/results/latest"))
        latest = get(f"{base}/results/cam/latest")
        assert latest["stream"] == "cam" and latest["kind"] == "result" and len(latest["value"]) == 3
        eventually(lambda: get(f"{base}/results/cam/latest")["index"] > latest["index"])
        stats = get(f"{base}/stats")
        assert stats["streams"]["cam"]["state"] == "streaming" and set(stats["devices"]) == {"cpu0", "cpu1"}
        assert request(f"{base}/streams", "POST", {"source": str(short), "name": "short"}, token="wrong") == 401
        assert request(f"{base}/streams", "POST", {"source": str(short), "name": "short"}) == 201
        eventually(lambda: get(f"{base}/results/latest").get("short", {}).get("ended") is True)
        assert get(f"{base}/results/short/latest")["index"] == 9
        assert request(f"{base}/streams", "POST", {"source": str(tmp_path / "missing.mp4")}) == 400
        assert request(f"{base}/streams/short", "DELETE") == 204
        assert "short" not in get(f"{base}/streams")
        assert request(f"{base}/results/nope/latest", "GET") == 404
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


# -- the HTTP API's guards, in process (aiohttp's test client over a real Pipeline) -------

from contextlib import asynccontextmanager  # noqa: E402
import importlib.util  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import AsyncIterator, Dict, Optional, Tuple  # noqa: E402

import streamcore  # noqa: E402


def load_service() -> ModuleType:
    spec = importlib.util.spec_from_file_location("streamcore_example_service", SERVICE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


service = load_service()


def strict_loads(text: str) -> Any:
    def reject(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=reject)


@asynccontextmanager
async def client(tmp_path: Path, **policy: Any) -> AsyncIterator[Any]:
    from aiohttp.test_utils import TestClient, TestServer

    model = models.write(models.tiny_classifier((32, 32, 3), 5), tmp_path / "tiny.tflite")
    async with streamcore.Pipeline(model=str(model), devices="cpu:1") as p:
        app = service.make_app(p, service.Policy(**policy))
        async with TestClient(TestServer(app)) as c:
            yield c


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def post(c: Any, body: Any, headers: Optional[Dict[str, str]] = None, raw: Optional[str] = None) -> Tuple[int, Any]:
    data = raw if raw is not None else json.dumps(body)
    response = await c.post("/streams", data=data, headers={**AUTH, **(headers or {})})
    text = await response.text()
    assert response.content_type == "application/json", (response.status, text)
    return int(response.status), strict_loads(text)


async def test_changes_need_the_token(tmp_path: Path) -> None:
    async with client(tmp_path, token=TOKEN) as c:
        body = {"source": "rtsp://127.0.0.1:9/x"}
        for headers in ({"Authorization": ""}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}):
            status, answer = await post(c, body, headers)
            assert status == 401 and "Bearer" in answer["error"]
        response = await c.delete("/streams/x", headers={"Authorization": "Bearer nope"})
        assert response.status == 401 and "error" in strict_loads(await response.text())
        response = await c.delete("/streams/x", headers=AUTH)
        assert response.status == 404 and "error" in strict_loads(await response.text())
        assert (await c.get("/stats")).status == 200  # reads stay open
    async with client(tmp_path, token=None) as c:  # no token configured: read-only
        status, answer = await post(c, body)
        assert status == 403 and "STREAMCORE_SERVICE_TOKEN" in answer["error"]


async def test_schemes_and_hosts_are_allow_listed(tmp_path: Path) -> None:
    async with client(tmp_path, token=TOKEN, hosts=frozenset({"cam.local"})) as c:
        for source in ("unix:///var/run/docker.sock", "gopher://127.0.0.1:70/x", "ftp://h/x", "concat://a|b",
                       "rtmp://cam.local/x", "data://text/plain,hi"):
            status, answer = await post(c, {"source": source})
            assert status == 400 and "not allowed" in answer["error"], source
        status, answer = await post(c, {"source": "rtsp://admin:S3cret@10.0.0.1/x"})
        assert status == 403 and "10.0.0.1" in answer["error"] and "S3cret" not in answer["error"]
        status, answer = await post(c, {"source": "rtsp://admin:S3cret@cam.local/x?token=abc", "name": "cam"})
        assert status == 201 and answer["url"] == "rtsp://***@cam.local/x?token=***"
        status, answer = await post(c, {"source": "rtsp://cam.local/y", "name": "cam"})
        assert status == 409
    assert service.check_source("rtsp://cam/x", service.Policy()).options == {
        "protocol_whitelist": "http,httpproxy,rtp,rtsp,srtp,tcp,udp"}


async def test_local_files_only_under_the_media_dir(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    clip = make_clip(media / "clip.mp4", frames=5)
    outside = make_clip(tmp_path / "secret.mp4", frames=5)
    (media / "link.mp4").symlink_to(outside)
    (media / "sub").mkdir()
    async with client(tmp_path, token=TOKEN) as c:  # no media dir: no files at all
        for source in (str(clip), f"file://{clip}", "clip.mp4"):
            status, answer = await post(c, {"source": source})
            assert status == 403 and "--media-dir" in answer["error"], source
    async with client(tmp_path, token=TOKEN, media_dir=media) as c:
        refused = [str(outside), str(tmp_path / "missing.mp4"), f"file://{outside}", "../secret.mp4",
                   "../missing.mp4", "sub/../../secret.mp4", "link.mp4", "/etc/passwd", "/etc/nope", "sub",
                   "missing.mp4", "/dev/zero", "file:../secret.mp4", "concat:clip.mp4|clip.mp4"]
        answers = set()
        for source in refused:
            status, answer = await post(c, {"source": source})
            assert status == 400, (source, answer)
            answers.add(answer["error"])
        assert len(answers) == 1  # the same answer: nothing says whether a path exists
        for source, name in ((str(clip), "a"), ("clip.mp4", "b"), (f"file://{clip}", "c"), ("sub/../clip.mp4", "d")):
            status, answer = await post(c, {"source": source, "name": name})
            assert status == 201, (source, answer)


async def test_bad_requests_are_4xx_json(tmp_path: Path) -> None:
    async with client(tmp_path, token=TOKEN, max_streams=2, media_dir=tmp_path) as c:
        cases: list = [  # type: ignore[type-arg]
            (None, "{not json"), (None, ""), (None, "\xff"), ([1, 2], None), ("rtsp://x/y", None), ({}, None),
            ({"source": 5}, None), ({"source": ""}, None), ({"source": "rtsp://h/x", "fps": "fast"}, None),
            ({"source": "rtsp://h/x", "fps": float("inf")}, None), ({"source": "rtsp://h/x", "fps": -1}, None),
            ({"source": "rtsp://h/x", "name": "../x"}, None), ({"source": "rtsp://h/x", "name": 3}, None),
            ({"source": "rtsp://h/x", "extra": 1}, None), ({"source": "rtsp:///x"}, None),
            ({"source": "rtsp://[::1/x"}, None), ({"source": "rtsp://h/x\n"}, None),
        ]
        for body, raw in cases:
            status, answer = await post(c, body, raw=raw)
            assert status == 400 and answer["error"], (body, raw, status)
        status, answer = await post(c, None, raw="x" * 100_000)
        assert status == 413 and "error" in answer
        response = await c.get("/nowhere")
        assert response.status == 404 and "error" in strict_loads(await response.text())
        response = await c.put("/streams", headers=AUTH)
        assert response.status == 405 and "error" in strict_loads(await response.text())
        response = await c.get("/results/nope/latest")
        assert response.status == 404 and "nope" in strict_loads(await response.text())["error"]
        # The cap on streams: live sources keep running (reconnecting) until removed.
        for k in range(2):
            assert (await post(c, {"source": "rtsp://127.0.0.1:9/x", "name": f"s{k}"}))[0] == 201
        status, answer = await post(c, {"source": "rtsp://127.0.0.1:9/x", "name": "s2"})
        assert status == 429 and "--max-streams 2" in answer["error"]
        assert (await c.delete("/streams/s0", headers=AUTH)).status == 204
        assert (await post(c, {"source": "rtsp://127.0.0.1:9/x", "name": "s2"}))[0] == 201


async def test_json_answers_are_strict(tmp_path: Path) -> None:
    async with client(tmp_path, token=TOKEN) as c:
        c.server.app[service.LATEST]["odd"] = {"score": float("inf"), "time": float("nan")}
        response = await c.get("/results/odd/latest")
        assert strict_loads(await response.text()) == {"score": None, "time": None}
        strict_loads(await (await c.get("/stats")).text())
