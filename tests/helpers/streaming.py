"""Real stream servers for the live tests: an HTTP MJPEG server (in-process, real sockets) and an RTSP
server (GStreamer's gst-rtsp-server from Debian, in its own process, so it can be killed and restarted)."""

from __future__ import annotations

import base64
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

BOUNDARY = "vigilframe"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MjpegServer:
    """Serves ``frames`` in a loop as multipart/x-mixed-replace JPEGs at ``fps``.

    ``paused`` keeps connections open but sends nothing (a stalled camera); ``credentials``
    ("user:password") makes it demand HTTP basic auth; ``bind``: the address it listens on (``0.0.0.0``:
    every interface). ``hosts``: the ``Host`` header of each request, in order."""

    def __init__(
        self, frames: list[np.ndarray], *, fps: float = 10.0, credentials: str | None = None, bind: str = "127.0.0.1"
    ) -> None:
        self.jpegs = [bytes(cv2.imencode(".jpg", f)[1]) for f in frames]
        self.fps = fps
        self.credentials = credentials
        self.bind = bind
        self.paused = threading.Event()
        self.port = free_port()
        self.requests = 0
        self.hosts: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video.mjpg"

    def start(self) -> MjpegServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests += 1
                owner.hosts.append(self.headers.get("Host", ""))
                if owner.credentials is not None:
                    expected = "Basic " + base64.b64encode(owner.credentials.encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Basic realm="cam"')
                        self.end_headers()
                        return
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.end_headers()
                index = 0
                try:
                    while True:
                        if owner.paused.is_set():
                            time.sleep(0.05)
                            continue
                        data = owner.jpegs[index % len(owner.jpegs)]
                        self.wfile.write(
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                            + data
                            + b"\r\n"
                        )
                        self.wfile.flush()
                        index += 1
                        time.sleep(1.0 / owner.fps)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    return

        self._server = ThreadingHTTPServer((self.bind, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


RTSP_SERVER_SCRIPT = r"""
import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer

Gst.init(None)
port, clip, bind = sys.argv[1], sys.argv[2], sys.argv[3]
server = GstRtspServer.RTSPServer()
server.set_address(bind)
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(f"( filesrc location={clip} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )")
factory.set_shared(True)
server.get_mount_points().add_factory("/live", factory)
server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
"""

SYSTEM_PYTHON = "/usr/bin/python3"


def rtsp_server_missing() -> str | None:
    """Why an RTSP server cannot be started here (None when it can)."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found"
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer','1.0'); from gi.repository import GstRtspServer, Gst; "
            "Gst.init(None); import sys; "
            "sys.exit(0 if all(Gst.ElementFactory.find(e) for e in ('qtdemux','h264parse','rtph264pay')) else 3)",
        ],
        capture_output=True,
        timeout=60,
    )
    if probe.returncode != 0:
        return (
            "GStreamer RTSP server not installed (apt-get install gir1.2-gst-rtsp-server-1.0 "
            "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad python3-gi)"
        )
    return None


class RtspServer:
    """gst-rtsp-server serving an H.264 MP4 at rtsp://127.0.0.1:PORT/live, in a separate process (``bind``:
    the address it listens on)."""

    def __init__(self, clip: Path, port: int | None = None, *, bind: str = "127.0.0.1") -> None:
        self.clip = clip
        self.port = port or free_port()
        self.bind = bind
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/live"

    def start(self) -> RtspServer:
        self._process = subprocess.Popen(
            [SYSTEM_PYTHON, "-c", RTSP_SERVER_SCRIPT, str(self.port), str(self.clip), self.bind],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if b"ready" not in line:
            raise RuntimeError("RTSP server did not start")
        return self

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None


def write_clip(frames: list[np.ndarray], path: Path, *, fps: int = 25, repeat: int = 1) -> Path:
    """Encode RGB frames (repeated ``repeat`` times) as an H.264 MP4 with PyAV."""
    import av

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width - width % 2, height - height % 2, "yuv420p"
        stream.options = {"preset": "veryfast", "g": str(fps)}
        for _ in range(repeat):
            for image in frames:
                frame = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(image[: stream.height, : stream.width]), "rgb24"
                )
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def read_clip(path: Path, *, start: int = 0, stop: int | None = None) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames[start:stop]
