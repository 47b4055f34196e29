"""A detector service speaking Frigate's ZMQ detector protocol (its ``zmq`` detector plugin,
``frigate/detectors/plugins/zmq_ipc.py``), so that Frigate (one REQ client per configured
detector) and anything else that speaks it share one streamcore engine: every device, with
failover.

Protocol (each message is what the REQ client sends; a ROUTER socket serves many at once):

- ``[{"model_request": true, "model_name": N}]`` -> ``{"model_available": bool, "model_loaded": bool}``.
- ``[{"model_data": true, "model_name": N}, model bytes]`` -> ``{"model_saved": bool, "model_loaded": bool}``;
  the model is checked, saved to the cache folder as N (a plain file name: no path) and loaded.
- ``[{"shape": [...], "dtype": "uint8", "model_type": "ssd"}, tensor bytes]`` -> one frame of
  20 x 6 float32 values, rows ``[class_id, score, ymin, xmin, ymax, xmax]`` (best first, then
  zeros), coordinates normalised to the input. The tensor already has the model's input shape:
  it runs without preprocessing, its bytes read in place from the ZMQ frame and copied once,
  by the device's worker, into the device's input.
- A request that cannot be answered gets ``[{"shape": [20, 6], "dtype": "float32", "error": why},
  480 zero bytes]``: the plugin decodes that as no detections, and the reason is in the header.
  Handshake errors come back as the handshake's reply with ``false`` values and an ``"error"``.

One model is served at a time (the inference header names no model): a client that uploads or
asks for another model (in the cache, or the one given at start) makes the service load it in
place of the current one. Run one service per model.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

import numpy as np

from ..adapters.detection import OutputLayout, find_layout
from ..backends.specs import DeviceSpec
from ..engine.engine import Engine
from ..engine.model import Model
from ..errors import ModelError, ServiceError, StreamcoreError
from ..jsonsafe import dumps
from ..pipeline.stats import LoopLagMonitor, Rate, Samples
from ..types import Result, TensorInfo

__all__ = [
    "ZmqDetectorService",
    "DEFAULT_ENDPOINT",
    "ROWS",
    "resolve_endpoint",
    "sanitize_model_name",
    "error_reply",
]

log = logging.getLogger("streamcore.serve")

DEFAULT_ENDPOINT = "ipc:///tmp/cache/zmq_detector"  # the plugin's default
ROWS = 20  # detections per reply, as Frigate's detectors return them
_ZEROS = np.zeros((ROWS, 6), np.float32)
_MAX_HEADER_BYTES = 64 << 10
_MAX_DIMS = 8
_MAX_DIM = 1 << 16
_MODEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}$")


def error_reply(message: str) -> List[bytes]:
    """What a failed inference request gets: the plugin reads it as no detections."""
    header = {"shape": [ROWS, 6], "dtype": "float32", "error": message}
    return [dumps(header).encode(), _ZEROS.tobytes()]


def sanitize_model_name(name: Any) -> str:
    """`name` if it is a plain file name (letters, digits, ``._+-``, not starting with a dot),
    else ServiceError: names that could reach outside the cache folder are refused, not
    rewritten."""
    if not isinstance(name, str) or not _MODEL_NAME.match(name) or name in (".", ".."):
        shown = name if isinstance(name, str) else type(name).__name__
        raise ServiceError(
            f"model_name {str(shown)[:80]!r} is not a plain file name (letters, digits and ._+- only, "
            "no path, not starting with a dot)"
        )
    return name


def resolve_endpoint(endpoint: str) -> str:
    """``ipc:///path`` (or a bare path), or ``tcp://[host:]port`` bound to 127.0.0.1 unless a
    host is given (``tcp://*:5555`` for every interface)."""
    if "://" not in endpoint:
        if not endpoint:
            raise ServiceError("the ZMQ endpoint is empty; use ipc:///path or tcp://[host:]port")
        endpoint = "ipc://" + os.path.abspath(endpoint)
    scheme, rest = endpoint.split("://", 1)
    if scheme == "ipc":
        if not rest:
            raise ServiceError("ipc:// needs a path, e.g. ipc:///tmp/cache/zmq_detector")
        return endpoint
    if scheme == "tcp":
        host, sep, port = rest.rpartition(":")
        if not sep:
            host, port = "", rest
        if not (port == "*" or (port.isdigit() and 1 <= int(port) <= 65535)):
            raise ServiceError(f"{endpoint}: the port must be 1-65535 (or * for any free port)")
        return f"tcp://{host or '127.0.0.1'}:{port}"
    raise ServiceError(f"{endpoint}: use ipc:///path (the default) or tcp://[host:]port")


def _prepare_ipc(path: str) -> None:
    """Creates the socket's folder, and refuses a path another server is listening on (ZMQ
    would silently take it over) or one that is not a socket. A stale socket is removed."""
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ServiceError(f"cannot create {parent} for the IPC endpoint: {e.strerror}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ServiceError(f"cannot create the IPC endpoint {path}: {parent} is not writable; "
                           "pick another path with --zmq ipc:///path")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise ServiceError(f"cannot use the IPC endpoint {path}: {e.strerror}") from None
    if not stat.S_ISSOCK(mode):
        raise ServiceError(f"{path} exists and is not a socket; remove it or pick another --zmq path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        try:
            os.unlink(path)  # left behind by a server that did not stop cleanly
        except FileNotFoundError:
            pass
        except OSError as e:
            raise ServiceError(f"cannot remove the stale IPC socket {path}: {e.strerror}") from None
        return
    except OSError as e:
        raise ServiceError(f"cannot use the IPC endpoint {path}: {e.strerror}") from None
    finally:
        probe.close()
    raise ServiceError(f"the IPC endpoint {path} is in use by another server; stop it or pick another --zmq path")


@dataclass
class _Counters:
    requests: int = 0
    detections: int = 0  # inference requests answered with rows
    errors: int = 0  # requests answered with an error
    model_requests: int = 0
    model_uploads: int = 0
    objects: Dict[str, int] = field(default_factory=dict)  # objects returned, by label
    rate: Rate = field(default_factory=Rate)
    latency_ms: Samples = field(default_factory=lambda: Samples(2048))


class ZmqDetectorService:
    """``async with ZmqDetectorService("ssd.tflite", "usb,usb", endpoint=...) as service:``
    serves Frigate's ZMQ detector protocol until ``close()``.

    ``model`` may be None: the service then waits for a client to send one (Frigate sends its
    configured model). ``model_cache`` is where uploaded models are saved (default
    ``$XDG_CACHE_HOME/streamcore/zmq-models``). ``threshold`` is the minimum score of a row
    (Frigate's Edge TPU detector uses 0.4). ``labels`` only name objects in the stats.
    ``on_result`` sees every inference result (metrics). Other keyword arguments go to Engine.
    """

    def __init__(
        self,
        model: Optional[Union[str, Path]] = None,
        devices: DeviceSpec = "auto",
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        model_cache: Optional[Union[str, Path]] = None,
        threshold: float = 0.4,
        labels: Optional[Dict[int, str]] = None,
        max_model_bytes: int = 256 << 20,
        max_pending: int = 256,
        on_result: Optional[Callable[[Result], None]] = None,
        **engine_options: Any,
    ) -> None:
        self.endpoint = resolve_endpoint(endpoint)
        self.devices = devices
        self.model_cache = Path(model_cache) if model_cache is not None else _default_cache()
        self.threshold = float(threshold)
        self.labels = labels or {}
        self.max_model_bytes = int(max_model_bytes)
        self.on_result = on_result
        self._engine_options = engine_options
        self._initial_model = Path(model) if model is not None else None
        self._model_name: Optional[str] = None
        self._model_path: Optional[Path] = None
        self._engine: Optional[Engine] = None
        self._input: Optional[TensorInfo] = None
        self._outputs: List[TensorInfo] = []
        self._layout: Optional[OutputLayout] = None
        self._load_lock = asyncio.Lock()
        self._loading: Optional[str] = None
        self._ctx: Any = None
        self._sock: Any = None
        self._receiver: Optional["asyncio.Task[None]"] = None
        self._handlers: Set["asyncio.Task[None]"] = set()
        self._pending = asyncio.Semaphore(max_pending)
        self.counters = _Counters()
        self._lag = LoopLagMonitor()
        self._last_devices: List[Dict[str, Any]] = []
        self._started_at = 0.0
        self._state = "new"

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> "ZmqDetectorService":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def model_name(self) -> Optional[str]:
        return self._model_name

    @property
    def engine(self) -> Optional[Engine]:
        return self._engine

    async def start(self) -> None:
        """Binds the endpoint (ServiceError if it is in use or cannot be written), loads the
        model if one was given, and starts serving. Idempotent."""
        if self._state != "new":
            return
        self._state = "starting"
        try:
            self._bind()
            if self._initial_model is not None:
                await self._load(self._initial_model, self._initial_model.name)
        except BaseException:
            await self.close()
            raise
        self._started_at = time.monotonic()
        self._lag.start()
        self._receiver = asyncio.get_running_loop().create_task(self._receive(), name="sc-serve-recv")
        self._state = "serving"
        log.info("serving Frigate's ZMQ detector protocol on %s", self.endpoint)

    def _bind(self) -> None:
        try:
            import zmq
            import zmq.asyncio
        except ImportError:
            raise ServiceError("serve needs pyzmq: pip install 'streamcore[serve]' (or pyzmq)") from None

        if self.endpoint.startswith("ipc://"):
            _prepare_ipc(self.endpoint[len("ipc://"):])
        self._ctx = zmq.asyncio.Context()
        sock = self._ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        # A larger message (a huge upload) disconnects its sender before it is buffered.
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_model_bytes + _MAX_HEADER_BYTES)
        try:
            sock.bind(self.endpoint)
        except zmq.ZMQError as e:
            sock.close(0)
            why = "in use by another process" if e.errno == zmq.EADDRINUSE else e.strerror
            raise ServiceError(f"cannot bind {self.endpoint}: {why}") from None
        self._sock = sock
        if self.endpoint.endswith(":*"):  # report the port ZMQ picked
            self.endpoint = sock.getsockopt(zmq.LAST_ENDPOINT).decode()

    async def close(self, timeout: float = 0.8) -> None:
        """Stops receiving, gives requests in flight a moment to be answered, closes the
        socket and the engine. Bounded by about `timeout` seconds. Idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        deadline = time.monotonic() + timeout
        await self._lag.stop()
        if self._receiver is not None:
            self._receiver.cancel()
            await asyncio.gather(self._receiver, return_exceptions=True)
            self._receiver = None
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=max(0.0, 0.3 * timeout))
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None
        engine, self._engine = self._engine, None
        if engine is not None:
            self._last_devices = engine.stats()  # for the final stats line
            await engine.close(max(0.1, deadline - time.monotonic()))

    # -- models ----------------------------------------------------------------------------

    async def _load(self, path: Path, name: str, force: bool = False) -> None:
        """Serves the model at `path` as `name`, in place of the current one (`force`: even
        if that name is the one served, as when a client sends new bytes for it)."""
        async with self._load_lock:
            if name == self._model_name and self._engine is not None and not force:
                return
            self._loading = name
            try:
                await self._swap(path, name, restore=True)
            finally:
                self._loading = None

    async def _swap(self, path: Path, name: str, restore: bool) -> None:
        started = time.monotonic()
        log.info("loading model %s on %s", name, self.devices)
        model = await asyncio.get_running_loop().run_in_executor(None, Model, str(path))
        previous, previous_name, previous_path = self._engine, self._model_name, self._model_path
        self._engine, self._model_name = None, None
        if previous is not None:  # devices are opened once: the old engine lets go of them first
            log.info("unloading model %s", previous_name)
            await previous.close()
        engine = Engine(model, devices=self.devices, name="serve", **self._engine_options)
        try:
            await engine.start()
            inputs, outputs = engine.input_details(), engine.output_details()
            layout = _check_detector(name, inputs, outputs)
        except BaseException as e:
            await engine.close()
            if restore and previous_name is not None and previous_path is not None and previous_path != path:
                log.error("model %s could not be loaded (%s); reloading %s", name, e, previous_name)
                try:
                    await self._swap(previous_path, previous_name, restore=False)
                except Exception as again:
                    log.error("could not reload %s: %s", previous_name, again)
            raise
        self._engine, self._input, self._outputs, self._layout = engine, inputs[0], outputs, layout
        self._model_name, self._model_path = name, path
        log.info("model %s loaded on %s in %.2f s; input %s %s", name, ", ".join(engine.devices),
                 time.monotonic() - started, list(inputs[0].shape), inputs[0].dtype.name)

    def _cached(self, name: str) -> Path:
        initial = self._initial_model
        if initial is not None and initial.name == name:
            return initial  # --model can be reloaded by name after a client switched models
        return self.model_cache / name

    async def _model_request(self, header: Dict[str, Any]) -> Dict[str, Any]:
        self.counters.model_requests += 1
        try:
            name = sanitize_model_name(header.get("model_name"))
        except ServiceError as e:
            return {"model_available": False, "model_loaded": False, "error": str(e)}
        if name == self._model_name and self._engine is not None:
            return {"model_available": True, "model_loaded": True}
        path = self._cached(name)
        if not path.is_file():
            log.info("model %s requested: not in %s (the client may send it)", name, self.model_cache)
            return {"model_available": False, "model_loaded": False}
        try:
            await self._load(path, name)
        except StreamcoreError as e:
            return {"model_available": True, "model_loaded": False, "error": str(e)}
        return {"model_available": True, "model_loaded": self._model_name == name}

    async def _model_data(self, header: Dict[str, Any], parts: Sequence[Any]) -> Dict[str, Any]:
        self.counters.model_uploads += 1
        failed: Dict[str, Any] = {"model_saved": False, "model_loaded": False}
        if len(parts) != 2:
            return {**failed, "error": f"model_data takes 2 parts (header, model bytes), got {len(parts)}"}
        try:
            name = sanitize_model_name(header.get("model_name"))
        except ServiceError as e:
            return {**failed, "error": str(e)}
        data = parts[1].bytes
        log.info("model %s received (%d bytes)", name, len(data))
        try:
            model = Model(data)
            del model
        except ModelError as e:
            return {**failed, "error": str(e)}
        path = self.model_cache / name
        try:
            self.model_cache.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.model_cache, prefix=".upload-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as e:
            return {**failed, "error": f"cannot save the model in {self.model_cache}: {e.strerror}"}
        log.info("model %s saved to %s", name, path)
        try:
            await self._load(path, name, force=True)
        except StreamcoreError as e:
            return {"model_saved": True, "model_loaded": False, "error": str(e)}
        return {"model_saved": True, "model_loaded": self._model_name == name}

    # -- requests --------------------------------------------------------------------------

    async def _receive(self) -> None:
        sock = self._sock
        while True:
            try:
                message = await sock.recv_multipart(copy=False)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a socket error is logged, never a traceback
                log.error("receive failed: %s", e)
                await asyncio.sleep(0.05)
                continue
            # REQ clients put an empty delimiter after the routing id; DEALERs may not.
            split = next((i for i, f in enumerate(message) if len(f) == 0), 0)
            envelope, parts = message[: split + 1], message[split + 1:]
            await self._pending.acquire()
            task = asyncio.get_running_loop().create_task(self._handle(envelope, parts))
            self._handlers.add(task)
            task.add_done_callback(self._handled)

    def _handled(self, task: "asyncio.Task[None]") -> None:
        self._handlers.discard(task)
        self._pending.release()

    async def _handle(self, envelope: List[Any], parts: List[Any]) -> None:
        started = time.perf_counter()
        self.counters.requests += 1
        try:
            reply = await self._reply(parts)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the service keeps serving whatever a request does
            log.error("request failed unexpectedly: %s: %s", type(e).__name__, e)
            reply = self._failed(f"internal error: {type(e).__name__}: {e}")
        sock = self._sock
        if sock is None:
            return
        try:
            await sock.send_multipart([*envelope, *reply], copy=False)
        except Exception as e:  # the client went away: nothing to answer
            log.debug("reply not sent: %s", e)
            return
        self.counters.latency_ms.add((time.perf_counter() - started) * 1000.0)
        self.counters.rate.add()

    def _failed(self, message: str) -> List[bytes]:
        self.counters.errors += 1
        log.debug("request refused: %s", message)
        return error_reply(message)

    async def _reply(self, parts: List[Any]) -> List[bytes]:
        if not parts:
            return self._failed("an empty request; send [header JSON, tensor bytes]")
        if len(parts[0]) > _MAX_HEADER_BYTES:
            return self._failed(f"the header is over {_MAX_HEADER_BYTES} bytes; it must be a small JSON object")
        try:
            header = json.loads(parts[0].bytes)
        except (ValueError, UnicodeDecodeError):
            return self._failed("the first part is not JSON; send [header JSON, tensor bytes]")
        if not isinstance(header, dict):
            return self._failed("the header must be a JSON object")
        if header.get("model_request") is True:
            answer = await self._model_request(header)
            if "error" in answer:
                self.counters.errors += 1
            return [dumps(answer).encode()]
        if header.get("model_data") is True:
            answer = await self._model_data(header, parts)
            if "error" in answer:
                self.counters.errors += 1
            return [dumps(answer).encode()]
        return await self._detect(header, parts)

    async def _detect(self, header: Dict[str, Any], parts: List[Any]) -> List[bytes]:
        if len(parts) != 2:
            return self._failed(f"an inference request has 2 parts (header, tensor), got {len(parts)}")
        engine, info = self._engine, self._input
        if engine is None or info is None:
            if self._loading:
                return self._failed(f"model {self._loading} is loading; try again shortly")
            return self._failed("no model is loaded; send one (model_data) or start serve with --model")
        shape, dtype = header.get("shape"), header.get("dtype")
        if not (isinstance(shape, list) and 1 <= len(shape) <= _MAX_DIMS
                and all(isinstance(d, int) and not isinstance(d, bool) and 0 < d <= _MAX_DIM for d in shape)):
            return self._failed(f"shape {str(shape)[:80]} is not a tensor shape (1 to {_MAX_DIMS} sizes of 1 to {_MAX_DIM})")
        expected = [int(d) for d in info.shape]
        if shape != expected and [1, *shape] != expected:
            return self._failed(
                f"the tensor's shape {shape} is not the model input {expected} ({self._model_name}); in Frigate set "
                f"model width {expected[2]}, height {expected[1]}, input_tensor nhwc"
            )
        if dtype != info.dtype.name:
            return self._failed(f"the tensor is {str(dtype)[:20]}; the model input is {info.dtype.name}"
                                + (" (Frigate: input_dtype int)" if info.dtype == np.uint8 else ""))
        try:
            result = await engine.infer_tensor(parts[1].buffer)
        except StreamcoreError as e:
            return self._failed(f"{type(e).__name__}: {e}")
        if self.on_result is not None:
            self.on_result(result)
        rows = self.rows(result)
        self.counters.detections += 1
        return [rows.tobytes()]

    def rows(self, result: Result) -> "np.ndarray[Any, np.dtype[np.float32]]":
        """The reply's [20, 6] float32 rows from an SSD postprocess result."""
        layout, details = self._layout, self._outputs
        assert layout is not None

        def real(index: int) -> "np.ndarray[Any, Any]":
            return details[index].dequantize(result.outputs[index]).reshape(-1)

        boxes = real(layout.boxes).reshape(-1, 4)
        classes, scores = real(layout.classes), real(layout.scores)
        count_value = float(real(layout.count)[0])
        count = int(min(max(count_value, 0.0), len(scores))) if np.isfinite(count_value) else 0
        with np.errstate(invalid="ignore"):
            kept = np.flatnonzero(scores[:count] >= self.threshold)
        kept = kept[np.argsort(-scores[kept], kind="stable")][:ROWS]
        rows = np.zeros((ROWS, 6), np.float32)
        n = len(kept)
        rows[:n, 0] = np.rint(classes[kept])
        rows[:n, 1] = scores[kept]
        rows[:n, 2:] = np.clip(boxes[kept], 0.0, 1.0)
        np.nan_to_num(rows, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        objects = self.counters.objects
        for class_id in rows[:n, 0].astype(int):
            label = self.labels.get(int(class_id), str(int(class_id)))
            objects[label] = objects.get(label, 0) + 1
        return rows

    # -- stats -----------------------------------------------------------------------------

    def stats(self) -> Dict[str, Any]:
        c = self.counters
        return {
            "endpoint": self.endpoint,
            "model": self._model_name,
            "state": self._state,
            "uptime_s": round(time.monotonic() - self._started_at, 3) if self._started_at else 0.0,
            "requests": c.requests,
            "detections": c.detections,
            "errors": c.errors,
            "model_requests": c.model_requests,
            "model_uploads": c.model_uploads,
            "in_flight": len(self._handlers),
            "requests_per_s": round(c.rate.per_second(), 3),
            "latency_ms": {
                "p50": _round(c.latency_ms.percentile(50)),
                "p99": _round(c.latency_ms.percentile(99)),
            },
            "objects": dict(c.objects),
            "loop_lag": self._lag.summary(),
            "devices": self._engine.stats() if self._engine is not None else self._last_devices,
        }


def _check_detector(name: str, inputs: List[TensorInfo], outputs: List[TensorInfo]) -> OutputLayout:
    shape = list(inputs[0].shape)
    if len(inputs) != 1 or len(shape) != 4 or shape[0] != 1:
        raise ModelError(f"{name}: the ZMQ detector serves models with one [1, H, W, C] input; this one has "
                         f"{[list(i.shape) for i in inputs]}")
    try:
        return find_layout([np.zeros(o.shape, o.dtype) for o in outputs], outputs)
    except ModelError as e:
        raise ModelError(f"{name}: {e}") from None


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "streamcore" / "zmq-models"


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 3)

