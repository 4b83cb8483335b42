"""Served as `vaultauth serve` serves it (OneWriteHttpToolsProtocol), every answer leaves in one
socket write, and nothing that must go out alone (100 Continue, a stream's later chunks, a HEAD
answer, a bodiless 204) is held back."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import httpx
import pytest
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from tests.support.live import serve_in_thread
from vaultauth.api import create_app
from vaultauth.api.http_protocol import OneWriteHttpToolsProtocol
from vaultauth.api.observe import RequestObserver
from vaultauth.metrics import Metrics
from vaultauth.settings import Settings

BASE = "/v1/integrations/intg_one_write/auth"


class _RecordingTransport:
    def __init__(self, transport: asyncio.Transport, writes: list[bytes]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class RecordingProtocol(OneWriteHttpToolsProtocol):
    """Records what reaches the socket (below the HeldHeadTransport)."""

    writes: ClassVar[list[bytes]] = []

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_RecordingTransport(transport, self.writes))  # type: ignore[arg-type]


@pytest.fixture
def writes() -> Iterator[list[bytes]]:
    RecordingProtocol.writes.clear()
    yield RecordingProtocol.writes
    RecordingProtocol.writes.clear()


def test_every_facade_answer_is_one_write(
    settings: Settings, make_key: Callable[..., str], writes: list[bytes]
) -> None:
    key = {"X-API-Key": make_key()}
    app = create_app(settings)
    with (
        serve_in_thread(app, http=RecordingProtocol) as url,
        httpx.Client(base_url=url, headers=key, timeout=5) as http,
    ):
        created = http.post(BASE, json={"authType": "BEARER_TOKEN", "token": "one-write-canary"})
        assert created.status_code == 200
        item = f"{BASE}/{created.json()['authId']}"
        answers = [
            created,
            http.post(f"{item}/resolve"),  # the fast path
            http.post(f"{item}/resolve", params={"via": "router"}),  # a query: the router
            http.get(item),
            http.head(item),
            http.get(item, headers={"If-None-Match": created.headers["ETag"]}),
            http.get(f"{BASE}/auth_missing"),
            http.get("/healthz"),
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 304, 404, 200]
    assert answers[1].json()["headers"] == {"Authorization": "Bearer one-write-canary"}
    assert answers[3].json()["authType"] == "BEARER_TOKEN"
    assert answers[4].content == b""
    # One write per answer, each a whole answer: the status line and its body together.
    assert len(writes) == len(answers)
    assert all(w.startswith(b"HTTP/1.1 ") for w in writes)
    assert writes[1].endswith(answers[1].content)
    assert writes[6].endswith(answers[6].content)


async def _small_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    response: Response
    if scope["path"] == "/stream":

        async def chunks() -> Any:
            yield b"first"
            await asyncio.sleep(0.05)
            yield b"second"

        response = StreamingResponse(chunks())
    elif scope["path"] == "/echo":
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        response = Response(body)
    else:
        response = Response(status_code=204)
    await response(scope, receive, send)


def test_a_stream_sends_its_head_with_the_first_chunk_and_the_rest_as_it_comes(
    writes: list[bytes],
) -> None:
    app = RequestObserver(_small_app, Metrics())
    with serve_in_thread(app, http=RecordingProtocol) as url:
        answer = httpx.get(f"{url}/stream", timeout=5)
        empty = httpx.get(f"{url}/nothing", timeout=5)
    assert answer.content == b"firstsecond"
    assert empty.status_code == 204
    stream_writes = writes[:-1]
    assert stream_writes[0].startswith(b"HTTP/1.1 200 ")
    assert b"first" in stream_writes[0]
    assert b"second" not in stream_writes[0]
    assert any(b"second" in w for w in stream_writes[1:])
    assert writes[-1].startswith(b"HTTP/1.1 204 ")


def test_100_continue_is_not_held(writes: list[bytes]) -> None:
    app = RequestObserver(_small_app, Metrics())
    with serve_in_thread(app, http=RecordingProtocol) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                b"Content-Length: 5\r\n\r\n"
            )
            began = time.monotonic()
            interim = conn.recv(1024)
            assert interim.startswith(b"HTTP/1.1 100 ")
            assert time.monotonic() - began < 2
            conn.sendall(b"hello")
            answer = b""
            while not answer.endswith(b"hello"):
                chunk = conn.recv(1024)
                assert chunk, "the connection closed before the answer"
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert writes[1].endswith(b"hello")
