"""`serve`: Frigate's ZMQ detector protocol, spoken by a client that behaves like Frigate's plugin."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy as np
import pytest

zmq = pytest.importorskip("zmq", reason="pyzmq is not installed (pip install 'streamcore[serve]')")

import streamcore  # noqa: E402
from streamcore import models  # noqa: E402
from streamcore.errors import ServiceError  # noqa: E402
from streamcore.services.zmq_detector import (  # noqa: E402
    ZmqDetectorService,
    resolve_endpoint,
    sanitize_model_name,
)
from tests.conftest import ROOT  # noqa: E402
from tests.frigate_zmq_client import ZERO_RESULT, FrigateZmqClient  # noqa: E402
from tests.reference import _edgetpu_reason, tflite_missing  # noqa: E402

HANG_GUARD_S = 60.0  # only against hangs; never a speed requirement


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # Unix socket paths are limited to 107 bytes: a short folder, not pytest's tmp_path.
    path = Path(tempfile.mkdtemp(prefix="sc-zmq-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def sim_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if tflite_missing():  # every test on the simulator
        pytest.skip(_edgetpu_reason())
    return models.write(models.edgetpu_detector(), tmp_path_factory.mktemp("m") / "sim_ssd_edgetpu.tflite")


@pytest.fixture(scope="module")
def cpu_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.write(models.tiny_detector((64, 64)), tmp_path_factory.mktemp("m") / "tiny_ssd.tflite")


def endpoint(sock_dir: Path) -> str:
    return f"ipc://{sock_dir}/zmq_detector"


def random_tensor(rng: np.random.Generator, size: int = 64) -> "np.ndarray[Any, Any]":
    return rng.integers(0, 256, size=(1, size, size, 3), dtype=np.uint8)


def check_rows(rows: "np.ndarray[Any, Any]", classes: int) -> None:
    assert rows.shape == (20, 6) and rows.dtype == np.float32
    live = rows[rows[:, 1] > 0]
    assert np.all(live[:, 1] >= 0.4) and np.all(live[:, 1] <= 1.0)
    assert np.all((live[:, 0] >= 0) & (live[:, 0] < classes))
    assert np.all((live[:, 2:] >= 0) & (live[:, 2:] <= 1))
    assert np.all(rows[len(live):] == 0), "detections first, then zero rows"


async def in_thread(fn: Any, *args: Any) -> Any:
    return await asyncio.wait_for(asyncio.to_thread(fn, *args), HANG_GUARD_S)


# -- protocol -------------------------------------------------------------------------------


async def test_handshake_uploads_then_finds_the_model_like_frigate(sock_dir: Path, cpu_detector: Path) -> None:
    cache = sock_dir / "cache"
    async with ZmqDetectorService(None, "cpu:1", endpoint=endpoint(sock_dir), model_cache=cache) as service:
        first = FrigateZmqClient(endpoint(sock_dir), str(cpu_detector), request_timeout_ms=30_000)
        second = FrigateZmqClient(endpoint(sock_dir), str(cpu_detector), request_timeout_ms=30_000)
        try:
            assert await in_thread(first.check_model, cpu_detector.name) == {
                "model_available": False, "model_loaded": False}
            assert await in_thread(first.initialize_model)  # not there: sends the file, then it is loaded
            assert service.counters.model_uploads == 1
            assert (cache / cpu_detector.name).read_bytes() == cpu_detector.read_bytes()
            assert service.model_name == cpu_detector.name
            assert await in_thread(second.initialize_model)  # there now: no second upload
            assert service.counters.model_uploads == 1
            image = np.zeros((1, 64, 64, 3), np.uint8)
            image[0, 16:48, 8:40, 1] = 255  # a bright rectangle in channel 1: class 1 at its cells
            rows = await in_thread(first.detect_raw, image)
            check_rows(rows, 3)
            assert rows[0, 0] == 1 and rows[0, 1] > 0.9
            np.testing.assert_allclose(rows[0, 2:], [0.25, 0.125, 0.75, 0.625], atol=1e-4)
        finally:
            first.close()
            second.close()


async def test_a_request_slower_than_200ms_times_out_resets_and_falls_back_to_zeros(
        sock_dir: Path, sim_detector: Path) -> None:
    # Each invoke sleeps 800 ms on the simulated TPU, so the plugin's 200 ms timeout must fire.
    async with ZmqDetectorService(sim_detector, "sim:1@800ms", endpoint=endpoint(sock_dir)) as service:
        client = FrigateZmqClient(endpoint(sock_dir), request_timeout_ms=200)
        try:
            tensor = random_tensor(np.random.default_rng(1))
            rows = await in_thread(client.detect_raw, tensor)
            assert rows is ZERO_RESULT and client.timeouts == 1 and client.resets == 1
            # The late reply went to the closed socket; the service goes on serving.
            client.request_timeout_ms = int(HANG_GUARD_S * 1000)
            client._create_socket()
            rows = await in_thread(client.detect_raw, tensor)
            assert client.last_error_header is None
            engine = service.engine
            assert engine is not None
            expected = service.rows(await engine.infer_tensor(tensor))
            np.testing.assert_array_equal(rows, expected)
        finally:
            client.close()


async def test_four_concurrent_clients_on_sim2_all_answered(sock_dir: Path, sim_detector: Path) -> None:
    per_client = 25
    async with ZmqDetectorService(sim_detector, "sim:2", endpoint=endpoint(sock_dir)) as service:
        def client_run(seed: int) -> List[Any]:
            client = FrigateZmqClient(endpoint(sock_dir), str(sim_detector), request_timeout_ms=30_000)
            rng = np.random.default_rng(seed)
            try:
                assert client.initialize_model()
                out = []
                for _ in range(per_client):
                    tensor = random_tensor(rng)
                    out.append((tensor, client.detect_raw(tensor), client.last_error_header))
                return out
            finally:
                client.close()

        answers = await asyncio.wait_for(
            asyncio.gather(*(asyncio.to_thread(client_run, seed) for seed in range(4))), HANG_GUARD_S)
        replies = [a for batch in answers for a in batch]
        assert len(replies) == 4 * per_client
        for _, rows, error in replies:
            assert error is None
            check_rows(rows, 3)
        assert service.counters.detections == 4 * per_client and service.counters.errors == 0
        engine = service.engine
        assert engine is not None
        frames = {d["name"]: d["frames"] for d in engine.stats()}
        assert set(frames) == {"sim0", "sim1"} and all(n > 0 for n in frames.values()), frames
        for tensor, rows, _ in replies[:8]:  # the rows are the engine's own answer for that tensor
            np.testing.assert_array_equal(rows, service.rows(await engine.infer_tensor(tensor)))
        assert any(rows[0, 1] > 0.9 for _, rows, _ in replies), "the simulator's peak gives some detections"


async def test_real_ssd_finds_the_person_in_frame_100(sock_dir: Path, shared_data: Path) -> None:
    import av

    model = shared_data / "models" / "ssd_mobilenet_v1_coco_quant_postprocess.tflite"
    with av.open(str(shared_data / "videos" / "one-by-one-person-detection.mp4")) as video:
        for index, frame in enumerate(video.decode(video=0)):
            if index == 100:
                image = frame.to_ndarray(width=300, height=300, format="rgb24")
                break
    async with ZmqDetectorService(model, "cpu:1", endpoint=endpoint(sock_dir)):
        client = FrigateZmqClient(endpoint(sock_dir), str(model), request_timeout_ms=30_000)
        try:
            assert await in_thread(client.initialize_model)
            rows = await in_thread(client.detect_raw, image[None])
        finally:
            client.close()
    check_rows(rows, 91)
    assert rows[0, 0] == 0, "class 0 is person in the COCO labelmap Frigate uses"
    assert rows[0, 1] == pytest.approx(0.68, abs=0.05)
    np.testing.assert_allclose(rows[0, 2:], [0.03, 0.50, 0.90, 0.66], atol=0.03)


async def test_garbage_gets_error_replies_never_a_crash(sock_dir: Path, sim_detector: Path) -> None:
    cache = sock_dir / "cache"
    async with ZmqDetectorService(sim_detector, "sim:1", endpoint=endpoint(sock_dir), model_cache=cache,
                                  max_model_bytes=1 << 20) as service:
        good_header = json.dumps({"shape": [1, 64, 64, 3], "dtype": "uint8", "model_type": "ssd"}).encode()
        tensor = bytes(64 * 64 * 3)

        def ask(frames: List[bytes], timeout_ms: int = 30_000) -> Optional[List[bytes]]:
            ctx = zmq.Context.instance()
            s = ctx.socket(zmq.REQ)
            s.setsockopt(zmq.RCVTIMEO, timeout_ms)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(endpoint(sock_dir))
            try:
                s.send_multipart(frames)
                reply: List[bytes] = s.recv_multipart()
                return reply
            except zmq.Again:
                return None
            finally:
                s.close(0)

        def error_of(reply: Optional[List[bytes]]) -> str:
            assert reply is not None
            header = json.loads(reply[0])
            if len(reply) == 2:  # an inference error: the plugin decodes it as no detections
                assert header["shape"] == [20, 6] and header["dtype"] == "float32"
                assert reply[1] == ZERO_RESULT.tobytes()
            return str(header["error"])

        cases: Dict[str, List[bytes]] = {
            "3 parts": [good_header, tensor, b"extra"],
            "1 part": [good_header],
            "empty": [b""],
            "bad JSON": [b"{not json", tensor],
            "a JSON list": [b"[1, 2]", tensor],
            "not UTF-8": [b"\xff\xfe", tensor],
            "short tensor": [good_header, tensor[:-1]],
            "long tensor": [good_header, tensor + b"\0"],
            "huge shape": [json.dumps({"shape": [1, 1 << 40, 1 << 40, 3], "dtype": "uint8"}).encode(), tensor],
            "wrong shape": [json.dumps({"shape": [1, 32, 128, 3], "dtype": "uint8"}).encode(), tensor],
            "nchw": [json.dumps({"shape": [1, 3, 64, 64], "dtype": "uint8"}).encode(), tensor],
            "float": [json.dumps({"shape": [1, 64, 64, 3], "dtype": "float32"}).encode(), tensor * 4],
            "bool shape": [json.dumps({"shape": [True, 64, 64, 3], "dtype": "uint8"}).encode(), tensor],
            "no shape": [json.dumps({"dtype": "uint8"}).encode(), tensor],
        }
        for name, frames in cases.items():
            message = await in_thread(error_of, await in_thread(ask, frames))
            assert message, name
        expected_errors = len(cases)

        def handshake(header: Dict[str, Any], *extra: bytes) -> Dict[str, Any]:
            reply = ask([json.dumps(header).encode(), *extra])
            assert reply is not None and len(reply) == 1
            answer: Dict[str, Any] = json.loads(reply[0])
            return answer

        unknown = await in_thread(handshake, {"model_request": True, "model_name": "nope.tflite"})
        assert unknown == {"model_available": False, "model_loaded": False}
        for bad_name in ("../../etc/passwd", "/etc/passwd", "..", ".hidden", "", 7, None, "a/b.tflite"):
            answer = await in_thread(handshake, {"model_request": True, "model_name": bad_name})
            assert answer["model_available"] is False and "error" in answer
            answer = await in_thread(handshake, {"model_data": True, "model_name": bad_name}, b"x")
            assert answer["model_saved"] is False and "error" in answer
            expected_errors += 2
        garbage = await in_thread(handshake, {"model_data": True, "model_name": "garbage.tflite"}, b"not a model" * 10)
        assert garbage["model_saved"] is False and "error" in garbage
        no_bytes = await in_thread(handshake, {"model_data": True, "model_name": "m.tflite"})
        assert no_bytes["model_saved"] is False and "error" in no_bytes
        expected_errors += 2
        assert not cache.exists() or not any(p for p in cache.iterdir() if not p.name.startswith("."))
        assert not Path("/etc/passwd.tflite").exists()

        # Over max_model_bytes: ZMQ drops the sender before buffering it; no reply comes.
        assert await in_thread(ask, [b'{"model_data": true, "model_name": "big.tflite"}', bytes(2 << 20)], 1000) is None

        # A DEALER (no empty delimiter) is answered too.
        def dealer() -> List[bytes]:
            s = zmq.Context.instance().socket(zmq.DEALER)
            s.setsockopt(zmq.RCVTIMEO, 30_000)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(endpoint(sock_dir))
            try:
                s.send_multipart([good_header, tensor])
                reply: List[bytes] = s.recv_multipart()
                return reply
            finally:
                s.close(0)

        reply = await in_thread(dealer)
        assert len(reply) == 1 and len(reply[0]) == 480
        ok = await in_thread(ask, [good_header, tensor])
        assert ok is not None and len(ok) == 1 and len(ok[0]) == 480
        assert service.counters.errors == expected_errors
        assert service.counters.detections == 2


async def test_clients_keep_sending_through_a_server_restart(sock_dir: Path, sim_detector: Path) -> None:
    stop = threading.Event()
    phase = {"value": 0}
    successes: Dict[int, int] = {0: 0, 1: 0}
    lock = threading.Lock()
    problems: List[BaseException] = []

    def keep_sending(seed: int) -> None:
        client = FrigateZmqClient(endpoint(sock_dir))  # Frigate's 200 ms timeout
        rng = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                sent_in = phase["value"]  # a reply counts for the phase its request was sent in
                rows = client.detect_raw(random_tensor(rng))
                if rows is not ZERO_RESULT and client.last_error_header is None and phase["value"] == sent_in:
                    with lock:
                        successes[sent_in] += 1
        except BaseException as e:  # the client must never raise: timeouts become zeros
            problems.append(e)
        finally:
            client.close()

    threads = [threading.Thread(target=keep_sending, args=(seed,), name=f"client-{seed}") for seed in range(2)]
    for t in threads:
        t.start()
    try:
        async def until(phase_value: int) -> None:
            while successes[phase_value] < 5:
                await asyncio.sleep(0.02)

        async with ZmqDetectorService(sim_detector, "sim:1", endpoint=endpoint(sock_dir)):
            await asyncio.wait_for(until(0), HANG_GUARD_S)
        phase["value"] = 1
        await asyncio.sleep(0.3)  # clients time out and reset against no server
        async with ZmqDetectorService(sim_detector, "sim:1", endpoint=endpoint(sock_dir)) as again:
            await asyncio.wait_for(until(1), HANG_GUARD_S)
            assert again.counters.detections >= 5
    finally:
        stop.set()
        for t in threads:
            await asyncio.to_thread(t.join, HANG_GUARD_S)
    assert not problems


# -- start-up errors, signals -----------------------------------------------------------------


async def test_an_endpoint_in_use_or_unwritable_is_a_service_error(sock_dir: Path, sim_detector: Path) -> None:
    async with ZmqDetectorService(sim_detector, "sim:1", endpoint=endpoint(sock_dir)):
        with pytest.raises(ServiceError, match="in use"):
            await ZmqDetectorService(sim_detector, "sim:1", endpoint=endpoint(sock_dir)).start()
    blocker = sock_dir / "file"
    blocker.write_text("")
    with pytest.raises(ServiceError, match="cannot create"):
        await ZmqDetectorService(sim_detector, "sim:1", endpoint=f"ipc://{blocker}/sock").start()
    (sock_dir / "regular").write_text("")
    with pytest.raises(ServiceError, match="not a socket"):
        await ZmqDetectorService(sim_detector, "sim:1", endpoint=f"ipc://{sock_dir}/regular").start()
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    try:
        port = held.getsockname()[1]
        with pytest.raises(ServiceError, match="in use"):
            await ZmqDetectorService(sim_detector, "sim:1", endpoint=f"tcp://{port}").start()
    finally:
        held.close()
    # A stale socket file (a server that was killed) is taken over.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock_dir / "stale"))
    stale.close()
    async with ZmqDetectorService(sim_detector, "sim:1", endpoint=f"ipc://{sock_dir}/stale") as service:
        assert service.endpoint == f"ipc://{sock_dir}/stale"


def test_endpoints_and_model_names() -> None:
    assert resolve_endpoint("tcp://5555") == "tcp://127.0.0.1:5555"
    assert resolve_endpoint("tcp://:5555") == "tcp://127.0.0.1:5555"
    assert resolve_endpoint("tcp://*:5555") == "tcp://*:5555"
    assert resolve_endpoint("tcp://10.0.0.2:5555") == "tcp://10.0.0.2:5555"
    assert resolve_endpoint("/tmp/cache/zmq_detector") == "ipc:///tmp/cache/zmq_detector"
    for bad in ("tcp://host:0", "tcp://host:http", "udp://x", "ipc://", ""):
        with pytest.raises(ServiceError):
            resolve_endpoint(bad)
    assert sanitize_model_name("ssd_mobilenet_v1.tflite") == "ssd_mobilenet_v1.tflite"
    bad_names: List[Any] = ["..", "../x", "a/b", ".x", "", "a\0b", "x" * 300, None, 3]
    for bad in bad_names:
        with pytest.raises(ServiceError):
            sanitize_model_name(bad)


def _serve_cli(args: List[str]) -> "subprocess.Popen[str]":
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "streamcore", "serve", *args], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _wait_for_line(proc: "subprocess.Popen[str]", needle: str) -> List[str]:
    assert proc.stderr is not None
    lines: List[str] = []
    deadline = time.monotonic() + HANG_GUARD_S
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} never came: {lines}")


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_cli_serves_and_stops_cleanly_on_signals(sock_dir: Path, sim_detector: Path, sig: int, status: int) -> None:
    proc = _serve_cli(["--model", str(sim_detector), "--devices", "sim:1", "--zmq", endpoint(sock_dir)])
    try:
        lines = _wait_for_line(proc, "serving Frigate's ZMQ detector protocol")
        assert any("SIMULATED" in line for line in lines)
        client = FrigateZmqClient(endpoint(sock_dir), str(sim_detector), request_timeout_ms=30_000)
        try:
            assert client.initialize_model()
            check_rows(client.detect_raw(random_tensor(np.random.default_rng(0))), 3)
        finally:
            client.close()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=HANG_GUARD_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == status
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "streamcore serve: stopped"
    assert '"final": true' in err


def test_cli_endpoint_in_use_is_one_line_and_status_2(sock_dir: Path, sim_detector: Path) -> None:
    first = _serve_cli(["--model", str(sim_detector), "--devices", "sim:1", "--zmq", endpoint(sock_dir)])
    try:
        _wait_for_line(first, "serving")
        second = subprocess.run(
            [sys.executable, "-m", "streamcore", "serve", "--model", str(sim_detector), "--devices", "sim:1",
             "--zmq", endpoint(sock_dir)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
            timeout=HANG_GUARD_S)
        assert second.returncode == 2
        errors = [line for line in second.stderr.splitlines() if "error" in line]
        assert errors == [f"streamcore serve: error: the IPC endpoint {sock_dir}/zmq_detector is in use by "
                          "another server; stop it or pick another --zmq path"]
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=HANG_GUARD_S)


# -- the raw tensor path ------------------------------------------------------------------------


async def test_infer_tensor_reads_the_buffer_in_place_and_keeps_it_alive(sim_detector: Path) -> None:
    async with streamcore.Engine(sim_detector, devices="sim:1") as engine:
        tensor = random_tensor(np.random.default_rng(5))
        expected = (await engine.infer_tensor(tensor.copy())).outputs
        buffer = bytearray(tensor.tobytes())
        pending = asyncio.ensure_future(engine.infer_tensor(buffer))
        await asyncio.sleep(0)  # submitted: the job holds an export of these very bytes, not a copy
        with pytest.raises(BufferError):
            buffer.append(0)  # ... which keeps them where the worker reads them
        del buffer
        gc.collect()
        result = await pending
        for got, want in zip(result.outputs, expected):
            np.testing.assert_array_equal(got, want)
        again = bytearray(tensor.tobytes())
        await engine.infer_tensor(again)
        again.append(0)  # released with the job
        with pytest.raises(streamcore.InputError, match="takes exactly"):
            await engine.infer_tensor(b"\0" * 10)
        with pytest.raises(streamcore.InputError, match="model input is uint8"):
            await engine.infer_tensor(tensor.astype(np.float32))
        with pytest.raises(streamcore.InputError, match="shape"):
            await engine.infer_tensor(tensor.reshape(1, 32, 128, 3))
        with pytest.raises(streamcore.InputError, match="C-contiguous"):
            await engine.infer_tensor(np.asfortranarray(tensor[0]))
        with pytest.raises(streamcore.InputError, match="buffer"):
            await engine.infer_tensor("not a tensor")
        assert result.geometry.frame_w == result.geometry.tensor_w == 64


@pytest.mark.parametrize("devices", ["tflite:cpu:1", "litert:cpu:1", "openvino:CPU"])
async def test_infer_tensor_matches_infer_on_every_cpu_backend(devices: str, cpu_detector: Path) -> None:
    # The tiny detector's input is uint8 with scale 1/128 and zero point 128: preprocessing a
    # 64x64 RGB frame into it is the identity, so both paths must give the same outputs.
    image = np.zeros((64, 64, 3), np.uint8)
    image[8:40, 24:56, 2] = 200
    try:
        engine = streamcore.Engine(cpu_detector, devices=devices)
        await engine.start()
    except (streamcore.BackendUnavailableError, streamcore.ModelError) as e:
        pytest.skip(f"{devices}: {e}")
    async with engine:
        by_frame = await engine.infer(image)
        by_tensor = await engine.infer_tensor(image[None])
    for a, b in zip(by_frame.outputs, by_tensor.outputs):
        np.testing.assert_array_equal(a, b)
    assert by_tensor.outputs[2][0, 0] > 0.9


async def test_a_client_sending_another_model_replaces_the_served_one(sock_dir: Path, cpu_detector: Path,
                                                                      tmp_path: Path) -> None:
    bigger = models.write(models.tiny_detector((96, 96)), tmp_path / "tiny_ssd_96.tflite")
    async with ZmqDetectorService(cpu_detector, "cpu:1", endpoint=endpoint(sock_dir),
                                  model_cache=sock_dir / "cache") as service:
        client = FrigateZmqClient(endpoint(sock_dir), str(bigger), request_timeout_ms=30_000)
        try:
            small = np.zeros((1, 64, 64, 3), np.uint8)
            assert (await in_thread(client.detect_raw, small)).shape == (20, 6)
            assert client.last_error_header is None
            assert await in_thread(client.initialize_model)
            assert service.model_name == bigger.name
            await in_thread(client.detect_raw, small)
            assert client.last_error_header is not None and "[1, 96, 96, 3]" in client.last_error_header["error"]
            check_rows(await in_thread(client.detect_raw, np.zeros((1, 96, 96, 3), np.uint8)), 3)
            assert client.last_error_header is None
            # The --model one can be asked for again by name: it is reloaded from its path.
            answer = await in_thread(client.check_model, cpu_detector.name)
            assert answer == {"model_available": True, "model_loaded": True}
            assert service.model_name == cpu_detector.name
            assert service.counters.model_uploads == 1
        finally:
            client.close()


async def test_a_tpu_failing_mid_run_is_failed_over_and_every_request_answered(
        sock_dir: Path, sim_detector: Path) -> None:
    from streamcore.backends.edgetpu import sim_runtime

    async with ZmqDetectorService(sim_detector, "sim:2@1ms", endpoint=endpoint(sock_dir)) as service:
        sim_runtime(2, 1.0).sim_fault("sim:1", "fail_after", 5)
        try:
            def client_run(seed: int) -> List[Optional[Dict[str, Any]]]:
                client = FrigateZmqClient(endpoint(sock_dir), request_timeout_ms=30_000)
                rng = np.random.default_rng(seed)
                try:
                    errors = []
                    for _ in range(20):
                        check_rows(client.detect_raw(random_tensor(rng)), 3)
                        errors.append(client.last_error_header)
                    return errors
                finally:
                    client.close()

            answers = await asyncio.wait_for(
                asyncio.gather(*(asyncio.to_thread(client_run, seed) for seed in range(4))), HANG_GUARD_S)
            assert all(error is None for batch in answers for error in batch)
            assert service.counters.detections == 80
            engine = service.engine
            assert engine is not None
            by_name = {s["name"]: s for s in engine.stats()}
            assert by_name["sim1"]["retried"] >= 1 or not by_name["sim1"]["healthy"]
        finally:
            sim_runtime(2, 1.0).sim_fault("sim:1", "replug")


# -- property: whatever a client sends, it gets a reply and the service goes on ---------------

class _ServiceThread:
    """A service on its own event loop in a thread, for the synchronous hypothesis test."""

    def __init__(self, model: Path, sock_dir: Path) -> None:
        self.endpoint = endpoint(sock_dir)
        self.cache = sock_dir / "cache"
        self.service: Optional[ZmqDetectorService] = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: Optional[asyncio.Event] = None
        self._thread = threading.Thread(target=self._run, args=(model,), name="serve-fuzz", daemon=True)
        self._thread.start()
        assert self._ready.wait(HANG_GUARD_S) and self.service is not None

    def _run(self, model: Path) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            async with ZmqDetectorService(model, "sim:1@0.1ms", endpoint=self.endpoint, model_cache=self.cache,
                                          max_model_bytes=1 << 16) as service:
                self.service = service
                self._ready.set()
                await self._stop.wait()

        self._loop.run_until_complete(main())

    def close(self) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(HANG_GUARD_S)
        self._loop.close()


@pytest.fixture(scope="module")
def fuzz_service(sim_detector: Path) -> Iterator[_ServiceThread]:
    folder = Path(tempfile.mkdtemp(prefix="sc-zfz-", dir="/tmp"))
    running = _ServiceThread(sim_detector, folder)
    yield running
    running.close()
    shutil.rmtree(folder, ignore_errors=True)


def _messages() -> Any:
    from hypothesis import strategies as st

    scalar = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70), st.floats(allow_nan=True),
                       st.text(max_size=12))
    value = st.one_of(scalar, st.lists(st.one_of(st.integers(-3, 1 << 20), scalar), max_size=6),
                      st.just([1, 64, 64, 3]), st.just("uint8"), st.just(True))
    header = st.dictionaries(
        st.sampled_from(["shape", "dtype", "model_type", "model_request", "model_data", "model_name"]),
        value, max_size=6).map(lambda d: json.dumps(d, allow_nan=True).encode())
    frame = st.one_of(header, st.binary(max_size=80), st.just(bytes(64 * 64 * 3)),
                      st.just(b'{"shape": [1, 64, 64, 3], "dtype": "uint8"}'))
    return st.lists(frame, min_size=1, max_size=4)


def test_any_message_gets_a_reply_and_the_service_goes_on(fuzz_service: _ServiceThread) -> None:
    from hypothesis import HealthCheck, given, settings

    ctx = zmq.Context.instance()

    @settings(max_examples=150, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(_messages())
    def check(frames: List[bytes]) -> None:
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.RCVTIMEO, int(HANG_GUARD_S * 1000))
        s.setsockopt(zmq.LINGER, 0)
        s.connect(fuzz_service.endpoint)
        try:
            s.send_multipart(frames)
            reply = s.recv_multipart()
        finally:
            s.close(0)
        if len(reply) == 2:  # an error: decodes as no detections
            assert "error" in json.loads(reply[0]) and reply[1] == ZERO_RESULT.tobytes()
        else:
            assert len(reply) == 1
            if len(reply[0]) != 480:  # else rows; here a handshake answer
                answer = json.loads(reply[0])
                assert isinstance(answer, dict) and ("model_available" in answer or "model_saved" in answer)

    check()
    service = fuzz_service.service
    assert service is not None and service.model_name == "sim_ssd_edgetpu.tflite"
    client = FrigateZmqClient(fuzz_service.endpoint, request_timeout_ms=int(HANG_GUARD_S * 1000))
    try:
        check_rows(client.detect_raw(random_tensor(np.random.default_rng(3))), 3)
        assert client.last_error_header is None
    finally:
        client.close()
