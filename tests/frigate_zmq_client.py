"""A client that behaves like Frigate's ``zmq`` detector plugin (frigate/detectors/plugins/
zmq_ipc.py): a blocking REQ socket with a 200 ms send/receive timeout and no linger; on a
timeout or ZMQ error it closes and recreates the socket (a REQ socket that missed its reply is
stuck) and returns [20, 6] zeros; replies are one frame of 20*6 float32 bytes, or [header JSON,
bytes]. The model handshake runs first: ``model_request``, then ``model_data`` with the model
file's bytes when the server does not have it."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

import numpy as np
import zmq

ZERO_RESULT = np.zeros((20, 6), np.float32)


class FrigateZmqClient:
    def __init__(self, endpoint: str, model_path: Optional[str] = None, model_type: str = "ssd",
                 request_timeout_ms: int = 200, linger_ms: int = 0) -> None:
        self.endpoint = endpoint
        self.model_path = model_path
        self.model_type = model_type
        self.request_timeout_ms = request_timeout_ms
        self.linger_ms = linger_ms
        self.context = zmq.Context()
        self.socket: Optional[zmq.Socket[bytes]] = None
        self.resets = 0
        self.timeouts = 0
        self.last_error_header: Optional[Dict[str, Any]] = None
        self.model_ready = False
        self._create_socket()

    def _create_socket(self) -> None:
        if self.socket is not None:
            try:
                self.socket.close(linger=self.linger_ms)
            except Exception:
                pass
            self.resets += 1
        self.socket = self.context.socket(zmq.REQ)
        self.socket.setsockopt(zmq.RCVTIMEO, self.request_timeout_ms)
        self.socket.setsockopt(zmq.SNDTIMEO, self.request_timeout_ms)
        self.socket.setsockopt(zmq.LINGER, self.linger_ms)
        self.socket.connect(self.endpoint)

    # -- model handshake ----------------------------------------------------------------

    def _json_request(self, frames: List[bytes]) -> Dict[str, Any]:
        assert self.socket is not None
        try:
            self.socket.send_multipart(frames)
            reply = self.socket.recv_multipart()
            answer: Dict[str, Any] = json.loads(reply[0].decode("utf-8"))
            return answer
        except zmq.Again:
            self.timeouts += 1
            self._create_socket()
            return {}

    def check_model(self, name: str) -> Dict[str, Any]:
        return self._json_request([json.dumps({"model_request": True, "model_name": name}).encode("utf-8")])

    def send_model(self, name: str, data: bytes) -> Dict[str, Any]:
        header = json.dumps({"model_data": True, "model_name": name}).encode("utf-8")
        return self._json_request([header, data])

    def initialize_model(self) -> bool:
        assert self.model_path is not None
        name = os.path.basename(self.model_path)
        answer = self.check_model(name)
        if answer.get("model_available") and answer.get("model_loaded"):
            self.model_ready = True
            return True
        with open(self.model_path, "rb") as f:
            answer = self.send_model(name, f.read())
        self.model_ready = bool(answer.get("model_saved") and answer.get("model_loaded"))
        return self.model_ready

    # -- inference ------------------------------------------------------------------------

    def _decode(self, frames: List[bytes]) -> "np.ndarray[Any, Any]":
        self.last_error_header = None
        try:
            if len(frames) == 1:
                if len(frames[0]) != 20 * 6 * 4:
                    return ZERO_RESULT
                return np.frombuffer(frames[0], dtype=np.float32).reshape((20, 6))
            if len(frames) >= 2:
                header = json.loads(frames[0].decode("utf-8"))
                if "error" in header:
                    self.last_error_header = header
                shape = tuple(header.get("shape", []))
                dtype = np.dtype(header.get("dtype", "float32"))
                return np.frombuffer(frames[1], dtype=dtype).reshape(shape)
            return ZERO_RESULT
        except Exception:
            return ZERO_RESULT

    def detect_raw(self, tensor_input: "np.ndarray[Any, Any]") -> "np.ndarray[Any, Any]":
        assert self.socket is not None
        header = {"shape": list(tensor_input.shape), "dtype": str(tensor_input.dtype.name),
                  "model_type": self.model_type}
        try:
            self.socket.send_multipart([json.dumps(header).encode("utf-8"),
                                        memoryview(tensor_input.tobytes(order="C"))])
            detections = self._decode(self.socket.recv_multipart())
            if detections.shape != (20, 6) or detections.dtype != np.float32:
                return ZERO_RESULT
            return detections
        except zmq.Again:
            self.timeouts += 1
            self._create_socket()
            return ZERO_RESULT
        except zmq.ZMQError:
            self._create_socket()
            return ZERO_RESULT

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close(linger=0)
            self.socket = None
        self.context.term()
