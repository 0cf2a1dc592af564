"""A real HTTP server on 127.0.0.1 that serves a folder, for download tests without mocks.

    with serve_folder(tmp_path / "www") as server:
        server.fail("/data/x.gz", status=500)       # answer that path with HTTP 500
        server.cut_after("/data/y.gz", 100)          # send 100 body bytes, then drop the connection
        server.ignore_range = True                   # answer Range requests with a full 200
        download(server.url_for("data/z.gz"), dest)
        assert server.requests[-1].range == "bytes=10-"

As a pytest fixture::

    @pytest.fixture
    def server(tmp_path):
        with serve_folder(tmp_path) as s:
            yield s

``Range: bytes=N-`` (and ``bytes=N-M``) is honoured with 206 and ``Content-Range``; a start beyond
the end gets 416. Every request is recorded in order (:class:`RecordedRequest`: path, Range header,
status, body bytes sent).
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it, and what it decided to answer."""

    path: str
    range: str | None  # the raw Range header, e.g. "bytes=100-"
    status: int
    body_bytes: int  # body bytes actually sent (fewer than announced when cut)


class FileServer:
    """State shared between the test and the server thread; see the module docstring."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = Path(root).resolve()
        self.url = f"http://127.0.0.1:{port}"
        self.ignore_range = False
        self.requests: list[RecordedRequest] = []
        self._failures: dict[str, int] = {}
        self._cuts: dict[str, int] = {}
        self._lock = threading.Lock()

    def url_for(self, relative: str) -> str:
        return f"{self.url}/{relative.lstrip('/')}"

    def fail(self, path: str, status: int = 500) -> None:
        """Answer requests for ``path`` (URL path, e.g. ``/data/x.gz``) with ``status``."""
        self._failures["/" + path.lstrip("/")] = status

    def cut_after(self, path: str, n_bytes: int) -> None:
        """Announce the full length for ``path`` but close the connection after ``n_bytes`` of body."""
        self._cuts["/" + path.lstrip("/")] = n_bytes

    def clear(self) -> None:
        """Forget failures, cuts, ``ignore_range`` and the recorded requests."""
        with self._lock:
            self._failures.clear()
            self._cuts.clear()
            self.ignore_range = False
            self.requests.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


def _handler_for(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            range_header = self.headers.get("Range")
            status, headers, body = self._answer(path, None if server.ignore_range else range_header)
            cut = server._cuts.get(path)
            sent = body if cut is None else body[:cut]
            # Record before sending: once the client has the bytes, the test may already be asserting.
            server._record(RecordedRequest(path, range_header, status, len(sent)))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))  # the full length, even when cut
            self.end_headers()
            self.wfile.write(sent)
            self.wfile.flush()
            if len(sent) < len(body):
                self.close_connection = True

        def _answer(self, path: str, range_header: str | None) -> tuple[int, dict[str, str], bytes]:
            if path in server._failures:
                return server._failures[path], {}, b"simulated failure\n"
            file = (server.root / path.lstrip("/")).resolve()
            if not file.is_file() or server.root not in file.parents:
                return 404, {}, b"not found\n"
            body = file.read_bytes()
            size = len(body)
            match = _RANGE.fullmatch(range_header.strip()) if range_header else None
            if not match:
                return 200, {"Accept-Ranges": "bytes"}, body
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
            if start >= size:
                return 416, {"Content-Range": f"bytes */{size}"}, b""
            return 206, {"Content-Range": f"bytes {start}-{end}/{size}"}, body[start : end + 1]

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # keep pytest output clean

    return Handler


@contextlib.contextmanager
def serve_folder(root: Path) -> Iterator[FileServer]:
    """Serve ``root`` on a free loopback port for the duration of the ``with`` block."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    httpd.daemon_threads = True
    state = FileServer(root, httpd.server_address[1])
    httpd.RequestHandlerClass = _handler_for(state)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def closed_port() -> Iterator[str]:
    """A loopback URL base whose port refuses connections (bound but never listening, so no race)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@contextlib.contextmanager
def silent_port() -> Iterator[str]:
    """A loopback URL base that accepts connections but never answers (to exercise timeouts)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
