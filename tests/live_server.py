"""A live camera stand-in: MPEG-TS over tcp://127.0.0.1:PORT?listen=1, paced in real time.

    python live_server.py PORT FPS SECONDS WIDTH HEIGHT [tcp|udp]
"""

from __future__ import annotations

import sys
import time
from fractions import Fraction

import av

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from media import pattern  # type: ignore[import-not-found]  # noqa: E402


def main() -> None:
    port, fps, seconds, width, height = (int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]),
                                         int(sys.argv[4]), int(sys.argv[5]))
    protocol = sys.argv[6] if len(sys.argv) > 6 else "tcp"
    url = {
        "tcp": f"tcp://127.0.0.1:{port}?listen=1",
        "udp": f"udp://127.0.0.1:{port}?pkt_size=1316",  # sends to a reader bound there
    }[protocol]
    with av.open(url, "w", format="mpegts") as out:  # tcp: waits for a client
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(fps)}
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < seconds:
            frame = av.VideoFrame.from_ndarray(pattern(i, width, height), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(stream.encode(frame))
            i += 1
            delay = start + i / fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        out.mux(stream.encode(None))


if __name__ == "__main__":
    main()
