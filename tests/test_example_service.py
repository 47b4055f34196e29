"""examples/service.py: started as a process, queried over loopback HTTP."""

from __future__ import annotations

import json
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


def request(url: str, method: str, body: Any = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
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
                             "--port", "0", str(live_like)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
