"""A real OAuth 2.0 token endpoint for the suite: a threaded HTTP server on 127.0.0.1.

It authenticates the client (HTTP Basic, RFC 6749 §2.3.1 form-encoding, or body fields),
serves `client_credentials` and `refresh_token` grants, counts every request, issues tokens
that expire after `expires_in`, and with `rotate` hands out a new single-use refresh token on
each refresh (a refresh token used twice is recorded in `reused` and refused, as providers
do). `respond` lets a test make it fail in any way; `delay` holds every answer, to widen race
windows. Error bodies echo the refresh token and client secret, as careless providers do, so
tests can check the facade never passes them on.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote_plus


@dataclass(frozen=True)
class TokenRequest:
    """One request as the endpoint received it."""

    form: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    client_id: str | None
    client_secret: str | None
    via_basic: bool


# What `respond` returns to override the answer: (status, body, extra headers).
Answer = tuple[int, bytes, dict[str, str]]


@dataclass
class TokenServer:
    url: str = ""
    client_id: str = "client-1"
    client_secret: str | None = "s3cret/with:odd chars&="
    expires_in: int | None = 3600
    rotate: bool = False
    delay: float = 0.0
    respond: Callable[[TokenRequest], Answer | None] | None = None
    requests: list[TokenRequest] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    refresh_tokens: set[str] = field(default_factory=set)  # currently valid
    used_refresh_tokens: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_refresh_token(self, token: str | None = None) -> str:
        token = token or f"rt-{secrets.token_hex(6)}"
        with self.lock:
            self.refresh_tokens.add(token)
        return token

    def count(self, grant: str | None = None) -> int:
        with self.lock:
            return sum(
                1 for r in self.requests if grant is None or r.form.get("grant_type") == grant
            )

    def answer(self, request: TokenRequest) -> Answer:
        if self.respond is not None:
            overridden = self.respond(request)
            if overridden is not None:
                return overridden
        if request.client_id != self.client_id or request.client_secret != self.client_secret:
            return _error(401, "invalid_client", f"bad client secret {request.client_secret}")
        grant = request.form.get("grant_type")
        body: dict[str, object] = {"token_type": "Bearer"}
        with self.lock:
            if grant == "refresh_token":
                presented = request.form.get("refresh_token", "")
                if presented not in self.refresh_tokens:
                    if presented in self.used_refresh_tokens:
                        self.reused.append(presented)
                    return _error(400, "invalid_grant", f"refresh token {presented} is invalid")
                if self.rotate:
                    self.refresh_tokens.discard(presented)
                    self.used_refresh_tokens.append(presented)
                    rotated = f"rt-{secrets.token_hex(6)}"
                    self.refresh_tokens.add(rotated)
                    body["refresh_token"] = rotated
            elif grant != "client_credentials":
                return _error(400, "unsupported_grant_type", "no")
            token = f"at-{len(self.issued) + 1}-{secrets.token_hex(6)}"
            self.issued.append(token)
        body["access_token"] = token
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return 200, json.dumps(body).encode(), {}


def _error(status: int, code: str, description: str) -> Answer:
    body = json.dumps({"error": code, "error_description": description}).encode()
    return status, body, {}


def _client_of(
    headers: dict[str, str], form: dict[str, str]
) -> tuple[str | None, str | None, bool]:
    authorization = headers.get("authorization", "")
    if authorization.startswith("Basic "):
        decoded = base64.b64decode(authorization[6:]).decode()
        client_id, _, client_secret = decoded.partition(":")
        return unquote_plus(client_id), unquote_plus(client_secret), True
    return form.get("client_id"), form.get("client_secret"), False


@contextmanager
def run_token_server(**options: object) -> Iterator[TokenServer]:
    server = TokenServer(**options)  # type: ignore[arg-type]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = dict(parse_qsl(raw, keep_blank_values=True))
            headers = {k.lower(): v for k, v in self.headers.items()}
            client_id, client_secret, via_basic = _client_of(headers, form)
            request = TokenRequest(form, headers, client_id, client_secret, via_basic)
            with server.lock:
                server.requests.append(request)
            if server.delay:
                time.sleep(server.delay)
            status, body, extra = server.answer(request)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}/oauth/token"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
