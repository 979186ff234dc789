"""Camera sources: video files, RTSP, HTTP MJPEG and local webcams, all decoded by FFmpeg through PyAV.

A source is opened, yields :class:`Frame` objects, and is closed; reconnecting is the camera's job
(``vigil.video.camera``). Errors are sorted into two kinds for it: :class:`ConnectionLost` (the network
or the server failed: worth retrying) and :class:`SourceError` (the URL, the file or the credentials
are wrong: retrying cannot help). Error texts never carry the URL's credentials.

Every connection to a network camera passes the outbound guard (:mod:`vigil.netguard`): a host *name*
is resolved here, each address checked (loopback, link-local and unspecified refused; private ranges,
where cameras live, allowed) and FFmpeg is given the checked address (the name goes in the HTTP ``Host``
header), so a name that later resolves to the server itself (DNS rebinding) reaches nothing. An address
written in the URL itself (or ``localhost``) was judged when the camera was saved and is used as it is,
the unspecified address never. HTTP redirects are not followed.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import av
import av.error
import numpy as np

from vigil.errors import VigilError
from vigil.netguard import OutboundRefused, Resolver, Target, checked_addresses
from vigil.redaction import redact_url, scrub

KINDS = ("file", "rtsp", "http", "webcam")


class SourceError(VigilError):
    """The source cannot be used as given (bad URL, missing file, refused credentials)."""


class ConnectionLost(VigilError):
    """The stream could not be reached or broke off; the camera retries with backoff."""


class AddressRefused(ConnectionLost):
    """The outbound guard refused the camera's address now (rule ``outbound-address``); nothing was
    connected to. Retried like a lost connection: a name may resolve somewhere allowed later."""

    rule = "outbound-address"


@dataclass(frozen=True)
class SourceSpec:
    """Where frames come from. ``loop`` and ``realtime`` apply to files only."""

    kind: str
    url: str
    loop: bool = False
    realtime: bool = True

    @property
    def is_live(self) -> bool:
        return self.kind != "file"

    @property
    def display(self) -> str:
        """The URL as it may be shown and logged."""
        return redact_url(self.url)


@dataclass(frozen=True)
class Frame:
    """One decoded frame: (H, W, 3) uint8 RGB, like every image in Vigil.

    ``timestamp``: seconds on the source's clock, increasing (media time for files, across loops;
    wall-clock time for live streams) — used to sample the analysis rate.
    ``seen_at``: POSIX time the frame shows. ``captured_at``: POSIX time it was decoded (for latency).
    """

    image: np.ndarray
    index: int
    timestamp: float
    seen_at: float
    captured_at: float


def parse_source(text: str, *, loop: bool = False, realtime: bool = True) -> SourceSpec:
    """Read a camera source: ``rtsp://…``, ``http(s)://…`` (MJPEG), ``webcam:N`` or ``/dev/videoN``,
    ``file://PATH`` or a plain file path."""
    text = text.strip()
    if not text:
        raise SourceError("empty camera source")
    lowered = text.lower()
    if lowered.startswith(("rtsp://", "rtsps://")):
        if not urlsplit(text).hostname:
            raise SourceError(f"RTSP URL without a host: {redact_url(text)}")
        return SourceSpec("rtsp", text)
    if lowered.startswith(("http://", "https://")):
        if not urlsplit(text).hostname:
            raise SourceError(f"HTTP URL without a host: {redact_url(text)}")
        return SourceSpec("http", text)
    if lowered.startswith("webcam:"):
        index = text.split(":", 1)[1]
        if not index.isdigit():
            raise SourceError(f"webcam source must be webcam:N, got {text!r}")
        return SourceSpec("webcam", f"/dev/video{int(index)}")
    if lowered.startswith("/dev/video"):
        return SourceSpec("webcam", text)
    if "://" in text and not lowered.startswith("file://"):
        raise SourceError(f"unsupported stream scheme in {redact_url(text)} (use rtsp, http(s), webcam: or a file)")
    path = Path(text[7:] if lowered.startswith("file://") else text).expanduser()
    return SourceSpec("file", str(path), loop=loop, realtime=realtime)


# errno values that mean "the network or the server", as opposed to "your input is wrong".
_TRANSIENT_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.ETIMEDOUT,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ENETDOWN,
    errno.EPIPE,
    errno.EIO,
    errno.EAGAIN,
}


def is_connection_error(exc: BaseException, spec: SourceSpec) -> bool:
    """Would retrying ``spec`` after ``exc`` plausibly succeed?"""
    if not spec.is_live:
        return False  # a file that fails to open or decode fails the same way next time
    if isinstance(exc, av.error.HTTPClientError):
        # 401/403/400 are configuration errors; a 404 on an RTSP server usually means the stream is
        # not published yet (the server restarts before its publisher does).
        return isinstance(exc, av.error.HTTPNotFoundError) and spec.kind == "rtsp"
    if isinstance(exc, av.error.HTTPServerError | av.error.ExitError | av.error.EOFError | TimeoutError):
        return True
    if isinstance(exc, ConnectionError):
        return True
    if isinstance(exc, av.error.InvalidDataError):
        return spec.kind in ("rtsp", "http")  # a stream cut mid-packet
    return isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address written as ``host`` (``localhost`` is 127.0.0.1), or None for a name to resolve."""
    if host == "localhost" or host.endswith(".localhost"):
        return ipaddress.IPv4Address("127.0.0.1")
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def guarded_targets(spec: SourceSpec, *, resolver: Resolver | None = None) -> list[tuple[str, dict[str, str]]]:
    """Where FFmpeg may connect for a network source now, in order: (URL, extra FFmpeg options) per
    address the outbound guard has just checked. A name is replaced by the checked address (HTTP keeps
    the name in its ``Host`` header); an address written in the URL stays as it is. Refused (the
    unspecified address, a name resolving to a refused address or to none): :class:`AddressRefused`.
    Files and webcams: the spec's own URL."""
    options = {"max_redirects": "0"} if spec.kind == "http" else {}  # a redirect would go anywhere
    if spec.kind not in ("rtsp", "http"):
        return [(spec.url, options)]
    parts = urlsplit(spec.url)
    host = (parts.hostname or "").rstrip(".").lower()
    literal = _literal_address(host)
    if literal is not None:
        if literal.is_unspecified:
            raise AddressRefused(f"outbound guard: {literal} is the unspecified address; refused for a camera")
        return [(spec.url, options)]  # judged when the camera was saved; nothing to rebind
    try:
        addresses = checked_addresses(host, Target.CAMERA, resolver=resolver)
    except OutboundRefused as exc:
        raise AddressRefused(f"outbound guard: {exc.detail}") from None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    targets = []
    for address in addresses:
        shown = f"[{address}]" if address.version == 6 else str(address)
        netloc = (userinfo + "@" if userinfo else "") + shown + (f":{parts.port}" if parts.port else "")
        extra = dict(options)
        if spec.kind == "http":
            extra["headers"] = f"Host: {hostport}\r\n"
        targets.append((urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), extra))
    return targets


class AvSource:
    """Decodes one source with PyAV. Not thread-safe: one reader thread owns it. ``resolver``: how the
    outbound guard looks names up (the system's)."""

    def __init__(
        self,
        spec: SourceSpec,
        *,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        resolver: Resolver | None = None,
    ) -> None:
        self.spec = spec
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.resolver = resolver
        self._container: Any = None

    # ------------------------------------------------------------------ open
    def _open_args(self) -> tuple[str, dict[str, Any]]:
        spec = self.spec
        kwargs: dict[str, Any] = {"timeout": (self.open_timeout_s, self.read_timeout_s)}
        if spec.kind == "rtsp":
            kwargs["options"] = {"rtsp_transport": "tcp", "rtsp_flags": "prefer_tcp"}
        elif spec.kind == "http":
            kwargs["options"] = {"reconnect": "0"}
        elif spec.kind == "webcam":
            kwargs["format"] = "avfoundation" if sys.platform == "darwin" else "v4l2"
        elif spec.kind == "file":
            if not Path(spec.url).is_file():
                raise SourceError(f"video file not found: {spec.url}")
            kwargs.pop("timeout")
        return spec.url, kwargs

    def open(self) -> None:
        """Open the source; a network camera at an address the outbound guard checks now (each checked
        address in turn until one answers)."""
        self.close()
        _, kwargs = self._open_args()
        container = None
        failure: BaseException | None = None
        for url, extra in guarded_targets(self.spec, resolver=self.resolver):  # AddressRefused: as it is
            options = {**kwargs.get("options", {}), **extra}
            try:
                container = av.open(url, **{**kwargs, **({"options": options} if options else {})})
                break
            except Exception as exc:
                failure = exc
                if not is_connection_error(exc, self.spec):
                    break
        if container is None:
            assert failure is not None
            raise self._translate(failure, "cannot open") from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"no video stream in {self.spec.display}")
        self._container = container

    def _translate(self, exc: BaseException, what: str) -> VigilError:
        message = scrub(f"{what} {self.spec.display}: {exc}", self.spec.url)
        if is_connection_error(exc, self.spec):
            return ConnectionLost(message)
        return SourceError(message)

    def close(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):  # closing a broken stream may fail; it is gone either way
                self._container.close()
            self._container = None

    # ---------------------------------------------------------------- frames
    def frames(self, every_s: float = 0.0) -> Iterator[Frame]:
        """Frames until the source ends (files loop if asked), at most one per ``every_s`` seconds of
        source time. Call :meth:`open` first.

        Every frame the codec needs is decoded; when the sampling keeps at most every other frame,
        frames no other frame refers to are skipped undecoded (their absence corrupts nothing). Only
        the sampled frames are converted to pixels. Files with ``realtime`` are paced at their own
        frame rate; otherwise as fast as decoding allows. A live stream that ends raises
        :class:`ConnectionLost` (the server went away).
        """
        if self._container is None:
            raise SourceError("source is not open")
        index = 0
        next_due: float | None = None
        offset = 0.0  # media time added per completed loop
        started_wall = time.time()
        started_clock = time.monotonic()
        while True:
            last_time = offset
            frame_step = 1.0 / 25.0
            try:
                stream = self._container.streams.video[0]
                stream.thread_type = "AUTO"
                if stream.average_rate:
                    frame_step = 1.0 / float(stream.average_rate)
                if every_s >= 2 * frame_step:
                    # Frames that no other frame refers to (most B-frames) and that no analysis needs are not
                    # decoded at all: later frames cannot be corrupted by their absence (BENCHMARKS.md: 40-47 %
                    # less decoding on streams with B-frames; streams without them decode as before).
                    stream.codec_context.skip_frame = "NONREF"
                first_pts_time: float | None = None
                for av_frame in self._container.decode(stream):
                    raw = av_frame.time
                    if first_pts_time is None:
                        first_pts_time = raw if raw is not None else 0.0
                    media = offset + ((raw - first_pts_time) if raw is not None else index * frame_step)
                    clock = time.time() if self.spec.is_live else media
                    index += 1
                    last_time = media
                    if next_due is not None and clock + 1e-6 < next_due:
                        continue
                    # the schedule never falls behind the source by more than one step
                    next_due = clock + every_s if next_due is None else max(next_due + every_s, clock)
                    if self.spec.is_live:
                        now = time.time()
                        frame = Frame(av_frame.to_ndarray(format="rgb24"), index - 1, now, now, now)
                    else:
                        if self.spec.realtime:
                            delay = started_clock + media - time.monotonic()
                            if delay > 0:
                                time.sleep(delay)
                        image = av_frame.to_ndarray(format="rgb24")
                        frame = Frame(image, index - 1, media, started_wall + media, time.time())
                    yield frame
            except (SourceError, ConnectionLost):
                raise
            except Exception as exc:
                raise self._translate(exc, "stream failed:") from None
            if self.spec.is_live:
                raise ConnectionLost(f"stream ended: {self.spec.display}")
            if not self.spec.loop:
                return
            offset = last_time + frame_step
            self.open()


def grab_frame(spec: SourceSpec, *, open_timeout_s: float = 5.0) -> np.ndarray:
    """One decoded frame of a source (RGB), read now and kept nowhere: the source is closed again."""
    source = AvSource(replace(spec, loop=False, realtime=False), open_timeout_s=open_timeout_s)
    source.open()
    try:
        for frame in source.frames():
            return frame.image
    finally:
        source.close()
    raise SourceError(f"no frame from {spec.display}")
