"""MQTT results against a real broker: Debian's mosquitto, started here on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pytest

aiomqtt = pytest.importorskip("aiomqtt", reason="aiomqtt is not installed (pip install 'streamcore[serve]')")

import streamcore  # noqa: E402
from streamcore import models  # noqa: E402
from streamcore.errors import ServiceError  # noqa: E402
from streamcore.services.mqtt import MqttPublisher, MqttTarget  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

HANG_GUARD_S = 60.0


def _mosquitto() -> Optional[str]:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """A mosquitto process on 127.0.0.1:port; `stop` and `start` again keep the port."""

    def __init__(self, binary: str, folder: Path, password_file: Optional[Path] = None) -> None:
        self.binary = binary
        self.port = _free_port()
        self.config = folder / "mosquitto.conf"
        # `user`: as root, mosquitto would switch to its own user, which cannot read our files.
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", "log_dest stderr",
                 f"user {pwd.getpwuid(os.getuid()).pw_name}"]
        if password_file is None:
            lines.append("allow_anonymous true")
        else:
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        self.config.write_text("\n".join(lines) + "\n")
        self.proc: Optional["subprocess.Popen[bytes]"] = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + HANG_GUARD_S
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"mosquitto exited with {self.proc.returncode}")
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    binary = _mosquitto()
    if binary is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto; .ci/run installs it)")
    b = Broker(binary, tmp_path)
    b.start()
    yield b
    b.stop()


class Subscriber:
    """Collects every message under `topic` (a wildcard) on a background task."""

    def __init__(self, port: int, topic: str) -> None:
        self.port, self.topic = port, topic
        self.messages: List[Tuple[str, bytes, bool]] = []
        self._task: Optional["asyncio.Task[None]"] = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> "Subscriber":
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), HANG_GUARD_S)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:  # resubscribes after a broker restart
            try:
                async with aiomqtt.Client("127.0.0.1", self.port) as client:
                    await client.subscribe(self.topic, qos=1)
                    self._ready.set()
                    async for message in client.messages:
                        payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
                        self.messages.append((str(message.topic), payload, bool(message.retain)))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    def payloads(self, topic: str) -> List[bytes]:
        return [p for t, p, _ in self.messages if t == topic]

    async def wait_for(self, topic: str, count: int = 1) -> List[bytes]:
        async def until() -> None:
            while len(self.payloads(topic)) < count:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(until(), HANG_GUARD_S)
        return self.payloads(topic)


def test_urls_are_parsed_and_redacted() -> None:
    t = MqttTarget.parse("mqtt://frigate:s3cr%40t@broker.lan:1884/home/cams")
    assert (t.host, t.port, t.prefix, t.username, t.password, t.tls) == (
        "broker.lan", 1884, "home/cams", "frigate", "s3cr@t", False)
    assert t.redacted == "mqtt://***@broker.lan:1884/home/cams"
    assert MqttTarget.parse("mqtts://h").port == 8883
    assert MqttTarget.parse("mqtt://h").prefix == "streamcore"
    for bad in ("http://h", "mqtt://", "mqtt://h:99999", "mqtt://h/a+b"):
        with pytest.raises(ServiceError) as info:
            MqttTarget.parse(bad)
        assert "s3cr" not in str(info.value)


async def test_pipeline_results_stats_and_availability(broker: Broker, tmp_path: Path) -> None:
    model = models.write(models.tiny_detector((64, 64)), tmp_path / "det.tflite")
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[16:48, 8:40, 0] = 255  # one object of class 0
    async with Subscriber(broker.port, "cams/#") as sub:
        async with streamcore.Pipeline(model=str(model), devices="cpu:1",
                                       adapter=streamcore.Detect(threshold=0.5)) as p:
            mqtt = MqttPublisher(f"mqtt://127.0.0.1:{broker.port}/cams", stats=p.stats, stats_interval=0.2)
            async with mqtt:
                p.add_source([frame] * 5, name="door/front")  # a '/' in a name does not split the topic
                async for record in p.results():
                    mqtt.publish_record(record)
                    if record.kind == "end":
                        break
                objects = await sub.wait_for("cams/door_front/objects", 5)
                await sub.wait_for("cams/stats")
                assert mqtt.dropped == 0 and mqtt.stats()["connected"]
            assert (await sub.wait_for("cams/available", 2))[-2:] == [b"online", b"offline"]
    first = json.loads(objects[0])
    assert first["stream"] == "door/front" and first["index"] == 0 and "pts" in first
    assert first["value"][0]["id"] == 0 and first["value"][0]["score"] > 0.9
    assert [json.loads(o)["index"] for o in objects] == [0, 1, 2, 3, 4]
    events = sub.payloads("cams/door_front/events")
    assert json.loads(events[-1])["kind"] == "end"
    stats = json.loads(sub.payloads("cams/stats")[0])
    assert "door/front" in stats["streams"] and stats["mqtt"]["broker"] == f"mqtt://127.0.0.1:{broker.port}/cams"


async def test_broker_kill_and_restart_reconnects_without_blocking(broker: Broker) -> None:
    async with Subscriber(broker.port, "t/#") as sub:
        mqtt = MqttPublisher(f"mqtt://127.0.0.1:{broker.port}/t", buffer=50)
        async with mqtt:
            mqtt.publish(("a",), {"n": 0})
            await sub.wait_for("t/a")
            broker.stop()

            async def disconnected() -> None:
                while mqtt.connected:
                    mqtt.publish(("probe",), {})  # a publish is what finds the dead connection
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(disconnected(), HANG_GUARD_S)
            for n in range(1, 121):  # never waits while the broker is away
                mqtt.publish(("a",), {"n": n})
            assert len(mqtt._queue) == 50 and mqtt.dropped >= 70
            broker.start()
            sub_messages = await sub.wait_for("t/a", 1 + 50)  # the newest 50 survive the outage
            assert mqtt.reconnects >= 1 and mqtt.connected
            numbers = [json.loads(m)["n"] for m in sub_messages]
            assert numbers[-50:] == list(range(71, 121))


async def test_a_broker_that_refuses_is_a_service_error_without_credentials(tmp_path: Path) -> None:
    binary = _mosquitto()
    if binary is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto; .ci/run installs it)")
    passwords = tmp_path / "passwords"
    subprocess.run([shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd", "-b", "-c", str(passwords),
                    "alice", "right-horse"], check=True, capture_output=True)
    os.chmod(passwords, 0o600)
    secured = Broker(binary, tmp_path, passwords)
    secured.start()
    try:
        with pytest.raises(ServiceError) as info:
            await MqttPublisher(f"mqtt://alice:wrong-battery@127.0.0.1:{secured.port}/x").start()
        assert "wrong-battery" not in str(info.value) and "alice" not in str(info.value)
        async with MqttPublisher(f"mqtt://alice:right-horse@127.0.0.1:{secured.port}/x") as ok:
            assert ok.connected
    finally:
        secured.stop()
    with pytest.raises(ServiceError, match="cannot connect"):
        await MqttPublisher(f"mqtt://127.0.0.1:{_free_port()}/x").start()


def test_cli_run_publishes_and_refuses_a_missing_broker(broker: Broker, tmp_path: Path) -> None:
    from tests.media import make_clip

    model = models.write(models.tiny_detector((64, 64)), tmp_path / "det.tflite")
    video = make_clip(tmp_path / "clip.mp4", frames=6, size=(64, 64))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base = [sys.executable, "-m", "streamcore", "run", "--model", str(model), "--devices", "cpu:1"]
    closed = _free_port()
    refused = subprocess.run([*base, "--mqtt", f"mqtt://bob:hunter2@127.0.0.1:{closed}/x", str(video)],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"streamcore run: error: cannot connect to the MQTT broker mqtt://***@127.0.0.1:{closed}/x: "
        + refused.stderr.split(f"{closed}/x: ", 1)[1].strip()]
    assert "hunter2" not in refused.stderr and "bob" not in refused.stderr

    async def run_and_collect() -> Tuple[int, List[bytes], str]:
        async with Subscriber(broker.port, "cli/#") as sub:
            proc = await asyncio.create_subprocess_exec(
                *base, "--mqtt", f"mqtt://127.0.0.1:{broker.port}/cli", str(video), cwd=ROOT, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            _, err = await asyncio.wait_for(proc.communicate(), HANG_GUARD_S)
            objects = await sub.wait_for("cli/clip/objects", 6)
            await sub.wait_for("cli/available", 2)
            return int(proc.returncode or 0), objects, err.decode()

    status, objects, err = streamcore.run(run_and_collect())
    assert status == 0, err
    decoded = [json.loads(o) for o in objects]
    assert [d["index"] for d in decoded] == list(range(6))
    assert all(isinstance(d["pts"], int) and d["stream"] == "clip" and "value" in d for d in decoded)
    final = json.loads([line for line in err.splitlines() if '"final": true' in line][-1])
    m = final["mqtt"]  # the last messages may still be queued when the final line is written
    assert m["connected"] and m["published"] + m["queued"] >= 7 and m["dropped"] == 0


async def test_the_last_will_says_offline_when_the_publisher_dies(broker: Broker) -> None:
    script = (
        "import asyncio, sys\n"
        "from streamcore.services.mqtt import MqttPublisher\n"
        "async def main():\n"
        f"    async with MqttPublisher('mqtt://127.0.0.1:{broker.port}/will', keepalive=5):\n"
        "        print('ready', flush=True)\n"
        "        await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    async with Subscriber(broker.port, "will/#") as sub:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, cwd=ROOT,
                                                    env={**os.environ, "PYTHONPATH": str(ROOT)},
                                                    stdout=asyncio.subprocess.PIPE)
        try:
            assert proc.stdout is not None
            assert (await asyncio.wait_for(proc.stdout.readline(), HANG_GUARD_S)).strip() == b"ready"
            assert await sub.wait_for("will/available") == [b"online"]
            proc.kill()  # no DISCONNECT: the broker publishes the will when the socket closes
            await proc.wait()
            assert (await sub.wait_for("will/available", 2))[-1] == b"offline"
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
