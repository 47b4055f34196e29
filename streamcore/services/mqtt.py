"""MQTT results, Frigate-like (``aiomqtt``; ``pip install 'streamcore[serve]'``).

``MqttPublisher("mqtt://user:pass@host:1883/streamcore")`` publishes:

- ``<prefix>/<stream>/objects``: each result, JSON (stream, index, pts, time, the adapter's
  value, device, latency);
- ``<prefix>/<stream>/events``: a stream's errors and its end;
- ``<prefix>/stats``: the stats every ``stats_interval`` seconds;
- ``<prefix>/available``: ``online`` (retained) while connected, ``offline`` on a clean stop
  and, as the last will, when the connection drops.

``publish`` never waits: messages go to a bounded buffer that a background task sends; while
the broker is away the oldest are dropped once the buffer is full (counted in ``dropped``) and
the task reconnects with backoff (0.5 s doubling to 30 s). The first connection is made by
``start()``: a broker that cannot be reached or refuses the client is a ServiceError there.
Credentials are never logged: the broker is named as ``mqtt://***@host:port/prefix``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Optional, Tuple, Union
from urllib.parse import unquote, urlsplit

from ..errors import ServiceError
from ..jsonsafe import dumps

__all__ = ["MqttPublisher", "MqttTarget"]

log = logging.getLogger("streamcore.mqtt")

_TOPIC_UNSAFE = str.maketrans({c: "_" for c in "+#/\0"})


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    prefix: str
    username: Optional[str] = None
    password: Optional[str] = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> "MqttTarget":
        """``mqtt://[user[:password]@]host[:port][/prefix]`` (``mqtts://`` for TLS; default
        ports 1883 and 8883, default prefix ``streamcore``)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as e:
            raise ServiceError(f"--mqtt {_redact(url)}: {e}") from None
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ServiceError(f"--mqtt {_redact(url)}: use mqtt://[user:password@]host[:port][/prefix]")
        prefix = parts.path.strip("/") or "streamcore"
        if any(c in prefix for c in "+#\0"):
            raise ServiceError(f"--mqtt: the topic prefix {prefix!r} cannot hold + # or NUL")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            prefix=prefix,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            tls=tls,
        )

    @property
    def redacted(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        who = "***@" if self.username or self.password else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{who}{host}:{self.port}/{self.prefix}"


def _redact(url: str) -> str:
    from ..sources import redact

    return redact(url)


def _import_aiomqtt() -> Any:
    try:
        import aiomqtt
    except ImportError:
        raise ServiceError("--mqtt needs aiomqtt: pip install 'streamcore[serve]' (or aiomqtt)") from None
    return aiomqtt


class MqttPublisher:
    """See the module docstring. ``stats`` (a callable returning a dict) is published every
    ``stats_interval`` seconds."""

    def __init__(
        self,
        url: Union[str, MqttTarget],
        *,
        client_id: Optional[str] = None,
        buffer: int = 1000,
        stats: Optional[Callable[[], Dict[str, Any]]] = None,
        stats_interval: float = 10.0,
        connect_timeout: float = 5.0,
        keepalive: int = 30,
    ) -> None:
        self.target = url if isinstance(url, MqttTarget) else MqttTarget.parse(url)
        if buffer < 1:
            raise ServiceError("the MQTT buffer must hold at least one message")
        self._aiomqtt = _import_aiomqtt()
        self.client_id = client_id
        self._queue: Deque[Tuple[int, str, bytes, bool]] = deque()
        self._seq = 0
        self.buffer = buffer
        self._stats_source = stats
        self.stats_interval = stats_interval
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self._wake = asyncio.Event()
        self._task: Optional["asyncio.Task[None]"] = None
        self._stats_task: Optional["asyncio.Task[None]"] = None
        self._client: Any = None
        self.connected = False
        self.published = 0
        self.dropped = 0
        self.reconnects = 0
        self.last_error: Optional[str] = None

    @property
    def availability_topic(self) -> str:
        return f"{self.target.prefix}/available"

    def topic(self, *parts: str) -> str:
        return "/".join([self.target.prefix, *(p.translate(_TOPIC_UNSAFE) for p in parts)])

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> "MqttPublisher":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connects once (ServiceError if the broker cannot be reached or refuses), then keeps
        the connection in the background. Idempotent."""
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        first: "asyncio.Future[None]" = loop.create_future()
        self._task = loop.create_task(self._run(first), name="sc-mqtt")
        try:
            await first
        except BaseException:
            await self.close()
            raise
        if self._stats_source is not None and self.stats_interval > 0:
            self._stats_task = loop.create_task(self._publish_stats(), name="sc-mqtt-stats")

    async def close(self, timeout: float = 1.0) -> None:
        """Sends what is buffered (for at most `timeout`), publishes ``offline`` and
        disconnects. Idempotent."""
        if self._stats_task is not None:
            self._stats_task.cancel()
            await asyncio.gather(self._stats_task, return_exceptions=True)
            self._stats_task = None
        task, self._task = self._task, None
        if task is None:
            return
        if self.connected and not task.done():
            self.publish_raw(self.availability_topic, b"offline", retain=True)
            deadline = time.monotonic() + timeout
            while self._queue and self.connected and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self.connected = False

    # -- publishing (never waits) -----------------------------------------------------------

    def publish_raw(self, topic: str, payload: bytes, retain: bool = False) -> None:
        if len(self._queue) >= self.buffer:
            self._queue.popleft()
            self.dropped += 1
        self._seq += 1
        self._queue.append((self._seq, topic, payload, retain))
        self._wake.set()

    def publish(self, topic_parts: Tuple[str, ...], value: Any, retain: bool = False) -> None:
        self.publish_raw(self.topic(*topic_parts), dumps(value).encode(), retain)

    def publish_record(self, record: Any) -> None:
        """A Pipeline's StreamResult: results on ``<stream>/objects``, errors and ends on
        ``<stream>/events``."""
        kind = "objects" if record.kind == "result" else "events"
        payload = record.to_dict()
        for key in ("index", "pts", "time"):  # always present: null when the source has none
            payload.setdefault(key, None)
        self.publish((record.stream, kind), payload)

    def stats(self) -> Dict[str, Any]:
        return {
            "broker": self.target.redacted,
            "connected": self.connected,
            "published": self.published,
            "queued": len(self._queue),
            "dropped": self.dropped,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
        }

    # -- the connection ---------------------------------------------------------------------

    def _new_client(self) -> Any:
        aiomqtt = self._aiomqtt
        will = aiomqtt.Will(self.availability_topic, b"offline", qos=1, retain=True)
        tls_context = ssl.create_default_context() if self.target.tls else None
        return aiomqtt.Client(
            self.target.host, self.target.port, username=self.target.username, password=self.target.password,
            identifier=self.client_id, will=will, timeout=self.connect_timeout, keepalive=self.keepalive,
            tls_context=tls_context, logger=logging.getLogger("streamcore.mqtt.client"),
        )

    async def _run(self, first: "asyncio.Future[None]") -> None:
        aiomqtt = self._aiomqtt
        delay = 0.5
        while True:
            try:
                async with self._new_client() as client:
                    await client.publish(self.availability_topic, b"online", qos=1, retain=True)
                    self.connected = True
                    delay = 0.5
                    if not first.done():
                        first.set_result(None)
                        log.info("connected to %s", self.target.redacted)
                    else:
                        log.info("reconnected to %s", self.target.redacted)
                    await self._drain(client)
            except asyncio.CancelledError:
                raise
            except (aiomqtt.MqttError, OSError) as e:
                self.connected = False
                self.last_error = _describe(e)
                if not first.done():
                    first.set_exception(ServiceError(
                        f"cannot connect to the MQTT broker {self.target.redacted}: {self.last_error}"))
                    return
                self.reconnects += 1
                log.warning("MQTT broker %s: %s; reconnecting in %.1f s", self.target.redacted, self.last_error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2.0, 30.0)

    async def _drain(self, client: Any) -> None:
        while True:
            while self._queue:
                seq, topic, payload, retain = self._queue[0]
                await client.publish(topic, payload, qos=0, retain=retain)
                if self._queue and self._queue[0][0] == seq:  # not dropped meanwhile
                    self._queue.popleft()  # sent; on an error it stays first for the next connection
                self.published += 1
            self._wake.clear()
            await self._wake.wait()

    async def _publish_stats(self) -> None:
        assert self._stats_source is not None
        while True:
            await asyncio.sleep(self.stats_interval)
            try:
                stats = self._stats_source()
            except Exception as e:  # stats are best effort: never stop publishing results
                log.warning("stats for MQTT failed: %s", e)
                continue
            self.publish(("stats",), {**stats, "mqtt": self.stats()})


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:200]
