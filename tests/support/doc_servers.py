"""The local stand-ins that the docs examples call, as threaded HTTP servers on 127.0.0.1.

- `run_echo_server`: "the third-party API". Any method and path is answered 200 with JSON
  `{"method", "path", "query", "headers"}` of what it received (header names as sent, query
  values the last of each name), so an example can assert on the credential it sent.
- `run_any_client_token_endpoint`: an OAuth 2.0 token endpoint (RFC 6749) that accepts any
  client id and secret, and serves the `client_credentials` and `refresh_token` grants with
  Bearer tokens valid for an hour. (tests/support/oauth.py's endpoint checks one client's
  secret, which an example cannot know in advance.)
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

TOKEN_LIFETIME = 3600


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free loopback port; yield its base URL; shut it down after."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


class _JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, payload: object, *, head: bool = False) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the request line can carry a credential in its query


class _EchoHandler(_JsonHandler):
    def _echo(self) -> None:
        self._body()  # read and drop, so the connection stays usable
        parts = urlsplit(self.path)
        self._answer(
            200,
            {
                "method": self.command,
                "path": parts.path,
                "query": dict(parse_qsl(parts.query, keep_blank_values=True)),
                "headers": dict(self.headers.items()),
            },
            head=self.command == "HEAD",
        )

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _echo


class _TokenHandler(_JsonHandler):
    def do_POST(self) -> None:
        form = dict(parse_qsl(self._body().decode(), keep_blank_values=True))
        grant = form.get("grant_type")
        if grant == "refresh_token" and not form.get("refresh_token"):
            self._answer(400, {"error": "invalid_grant", "error_description": "no token"})
            return
        if grant not in ("client_credentials", "refresh_token"):
            self._answer(400, {"error": "unsupported_grant_type"})
            return
        self._answer(
            200,
            {
                "access_token": f"at-{secrets.token_hex(8)}",
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
            },
        )


@contextmanager
def run_echo_server() -> Iterator[str]:
    """The echo server's base URL (no trailing slash)."""
    with _serving(_EchoHandler) as url:
        yield url


@contextmanager
def run_any_client_token_endpoint() -> Iterator[str]:
    """The token endpoint's URL (`.../oauth/token`; it answers POSTs on any path)."""
    with _serving(_TokenHandler) as url:
        yield f"{url}/oauth/token"
