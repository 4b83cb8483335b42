"""A third-party API stand-in: a threaded HTTP server on 127.0.0.1:0 that records each request.

By default it answers 200; `accept` decides per request (a test makes it answer 401 to
anything but the current credential, as a real API does after a rotation).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Seen:
    """One request as the upstream received it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Upstream:
    url: str
    seen: list[Seen] = field(default_factory=list)
    accept: Callable[[Seen], bool] = lambda _seen: True
    # When set, every request is answered `302 Location: redirect(seen)`.
    redirect: Callable[[Seen], str] | None = None

    @property
    def last(self) -> Seen:
        return self.seen[-1]


@contextmanager
def run_upstream() -> Iterator[Upstream]:
    upstream = Upstream(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            seen = Seen(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            with lock:
                upstream.seen.append(seen)
            if upstream.redirect is not None:
                self.send_response(302)
                self.send_header("Location", upstream.redirect(seen))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 200 if upstream.accept(seen) else 401
            payload = b'{"ok": true}' if status == 200 else b'{"error": "unauthorized"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass  # the request line carries the query, which may hold a credential

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    upstream.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="upstream", daemon=True
    )
    thread.start()
    try:
        yield upstream
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
