"""A real RTSP server for the live-source tests: GStreamer's gst-rtsp-server (Debian's
gir1.2-gst-rtsp-server-1.0 and python3-gi), serving an H.264 MP4 at rtsp://127.0.0.1:PORT/cam
in real time. It runs under the system Python, which has the GObject bindings.

    /usr/bin/python3 rtsp_server.py PORT CLIP.mp4

Prints "ready" once listening. SIGUSR1 makes it stall: the session stays up (the TCP connection
and RTSP keep-alives work) but no more media flows, as with a camera whose encoder hangs; SIGUSR2 lets it flow again.
"""

import signal
import sys

import gi  # type: ignore[import-not-found]  # the system Python's, not the venv's

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # type: ignore[import-not-found]  # noqa: E402


def main() -> None:
    port, clip = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( filesrc location={clip} ! qtdemux ! h264parse ! valve name=gate "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    gates = []
    factory.connect("media-configure", lambda _f, media: gates.append(media.get_element().get_by_name("gate")))
    server.get_mount_points().add_factory("/cam", factory)
    server.attach(None)
    loop = GLib.MainLoop()

    def gate(drop: bool) -> bool:
        for g in gates:
            g.set_property("drop", drop)
        return True

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, lambda: gate(True))
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR2, lambda: gate(False))
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda: loop.quit() or False)
    print("ready", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
