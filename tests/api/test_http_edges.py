"""HTTP edges: `Allow` on a 405, HEAD, Content-Encoding, bytes that are not UTF-8, and clients
that hang up mid-body. Each holds on the fast path (`vaultauth/api/fastpath.py`, a cached key)
and on the router alike."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Scope

from tests.support.capture import on_vaultauth_loggers
from tests.support.kv import KvReader
from tests.support.live import serve_in_thread
from vaultauth.api import create_app, fastpath
from vaultauth.api.fastpath import FastPath
from vaultauth.api.routes import router
from vaultauth.settings import Settings
from vaultauth.wiring import Runtime

INTG = "intg_edges"
BASE = f"/v1/integrations/{INTG}/auth"
ITEM = f"{BASE}/{{auth_id}}"
JSON = {"Content-Type": "application/json"}


class Client:
    """A client of one app, knowing which path serves its hot calls and counting those answers."""

    def __init__(self, http: TestClient, path: str, fast_answers: list[int]) -> None:
        self.http = http
        self.path = path
        self._fast_answers = fast_answers

    @property
    def fast_answers(self) -> int:
        return len(self._fast_answers)

    def create(self) -> str:
        response = self.http.post(BASE, json={"authType": "BEARER_TOKEN", "token": "t"})
        assert response.status_code == 200, response.text
        auth_id: str = response.json()["authId"]
        return auth_id


@pytest.fixture(params=["fast path", "router"])
def client(
    request: pytest.FixtureRequest,
    settings: Settings,
    make_key: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Client]:
    """On "router" the key is never cached, so the fast path always hands the call on."""
    answers: list[int] = []
    send_json = fastpath._send_json

    async def counted(send: Any, content: dict[str, Any], headers: Any) -> None:
        answers.append(1)
        await send_json(send, content, headers)

    monkeypatch.setattr(fastpath, "_send_json", counted)
    record_response = fastpath.record_response

    def counted_record(*args: Any, **kwargs: Any) -> Any:
        answers.append(1)
        return record_response(*args, **kwargs)

    monkeypatch.setattr(fastpath, "record_response", counted_record)
    if request.param == "router":
        settings = settings.model_copy(update={"api_key_cache_ttl": 0.0})
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        http.headers["X-API-Key"] = make_key()
        assert http.get(BASE).status_code == 200  # the key is cached from here on ("fast path")
        yield Client(http, request.param, answers)


def error_code(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) <= {"code", "message", "field"}
    code: str = body["error"]["code"]
    return code


# -- 405: Allow names every method of the path ---------------------------------------------------

ALLOW = [
    ("OPTIONS", BASE, "GET, HEAD, POST"),
    ("PUT", BASE, "GET, HEAD, POST"),
    ("DELETE", BASE, "GET, HEAD, POST"),
    ("OPTIONS", ITEM, "GET, HEAD, PATCH, DELETE"),
    ("PUT", ITEM, "GET, HEAD, PATCH, DELETE"),
    ("POST", ITEM, "GET, HEAD, PATCH, DELETE"),
    ("GET", f"{ITEM}/resolve", "POST"),
    ("HEAD", f"{ITEM}/resolve", "POST"),
    ("PUT", "/healthz", "GET, HEAD"),
    ("POST", "/openapi.json", "GET, HEAD"),
]


@pytest.mark.parametrize(("method", "path", "allow"), ALLOW)
def test_a_405_allows_every_method_of_the_path(
    client: Client, method: str, path: str, allow: str
) -> None:
    auth_id = client.create()
    response = client.http.request(method, path.format(auth_id=auth_id), json={})
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    if method != "HEAD":
        assert error_code(response, 405) == "method_not_allowed"


# -- HEAD: a GET without its body -------------------------------------------------------------


@pytest.mark.parametrize("path", [ITEM, BASE, "/healthz", "/openapi.json"])
def test_head_answers_as_get_without_a_body(client: Client, path: str) -> None:
    url = path.format(auth_id=client.create())
    get = client.http.get(url)
    fast_before = client.fast_answers
    head = client.http.head(url)
    assert get.status_code == head.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "cache-control"):
        assert head.headers.get(name) == get.headers.get(name), name
    assert int(head.headers["content-length"]) == len(get.content)
    if path == ITEM:  # the one GET the fast path serves, from its cached record
        assert client.fast_answers - fast_before == (1 if client.path == "fast path" else 0)


# -- resolve: the same bytes on either path -------------------------------------------------


def test_a_resolve_answers_the_same_bytes_and_headers_on_either_path(client: Client) -> None:
    """The fast path renders resolve's answer itself; it must be what the router's
    JSONResponse renders: compact UTF-8 JSON, escapes included, and the same headers."""
    tricky = 'a "quoted" \\back\\slash\tand/tab <&>'
    created = client.http.post(
        BASE,
        json={
            "authType": "API_KEY",
            "apiKey": {"key": "X-Key", "value": tricky, "position": "query"},
            "headers": [{"key": "X-Plain", "value": tricky}],
        },
    )
    assert created.status_code == 200, created.text
    item = f"{BASE}/{created.json()['authId']}"
    assert client.http.get(item).status_code == 200  # the record is cached from here on
    fast_before = client.fast_answers
    response = client.http.post(f"{item}/resolve")
    assert response.status_code == 200, response.text
    assert client.fast_answers - fast_before == (1 if client.path == "fast path" else 0)
    body = response.json()
    assert body["query"] == {"X-Key": tricky}
    assert body["headers"] == {"X-Plain": tricky}
    starlette_rendering = json.dumps(
        body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()
    assert response.content == starlette_rendering
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-length"] == str(len(starlette_rendering))


def test_head_of_a_missing_record_is_a_bodiless_404(client: Client) -> None:
    response = client.http.head(ITEM.format(auth_id="auth_missing"))
    assert response.status_code == 404
    assert response.content == b""


def test_head_is_logged_and_counted_as_head(client: Client) -> None:
    client.http.head(ITEM.format(auth_id=client.create()))
    metrics = client.http.get("/metrics").text
    route = "/v1/integrations/{integrationId}/auth/{authId}"
    assert f'vaultauth_http_requests_total{{method="HEAD",route="{route}",status="200"}} 1.0' in (
        metrics
    )


# -- Content-Encoding: none is decoded; a body in any but identity is 415 ----------------------

ENCODINGS = ["gzip", "deflate", "br", "GZIP", "identity, gzip", "x-anything"]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_body_with_a_content_encoding_is_415_and_not_read(
    client: Client, kv: KvReader, encoding: str
) -> None:
    # Valid JSON as it stands: read as plain JSON, it would create a record.
    body = json.dumps({"authType": "BEARER_TOKEN", "token": "t"}).encode()
    headers = {**JSON, "Content-Encoding": encoding}
    response = client.http.post(BASE, content=body, headers=headers)
    assert error_code(response, 415) == "unsupported_content_encoding"
    assert response.headers["accept-encoding"] == "identity"
    assert kv.paths() == []
    auth_id = client.create()
    patch = client.http.patch(
        ITEM.format(auth_id=auth_id), content=b'{"token": "t2"}', headers=headers
    )
    assert error_code(patch, 415) == "unsupported_content_encoding"
    assert kv.current_version(INTG, auth_id) == 1


def test_identity_is_no_encoding(client: Client) -> None:
    body = json.dumps({"authType": "NO_AUTH"}).encode()
    for encoding in ("identity", "Identity", " identity "):
        headers = {**JSON, "Content-Encoding": encoding}
        assert client.http.post(BASE, content=body, headers=headers).status_code == 200
    # A request without a body has nothing to decode.
    assert client.http.get(BASE, headers={"Content-Encoding": "gzip"}).status_code == 200


def _create_on_the_fast_path_alone(
    settings: Settings,
    make_key: Callable[..., str],
    body: bytes,
    headers: list[tuple[bytes, bytes]],
) -> tuple[list[bytes], int]:
    """A create sent to the fast path alone (no layer in front of it), with a cached key.

    Returns what the router behind it was handed as the body (one entry per call handed on),
    and how many records the call created.
    """
    key = make_key()
    with TestClient(create_app(settings)) as http:
        assert http.get(BASE, headers={"X-API-Key": key}).status_code == 200  # key cached
        runtime: Runtime = http.app.state.runtime  # type: ignore[attr-defined]
        handed_on: list[bytes] = []
        sent = False

        async def router_stub(scope: Scope, receive: Any, send: Any) -> None:
            message = await receive()
            handed_on.append(message.get("body", b""))

        async def receive() -> Message:
            nonlocal sent
            if sent:
                raise AssertionError("the body was read twice")
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            raise AssertionError(f"the fast path answered: {message}")

        fast_path = FastPath(router_stub, lambda: runtime, router.routes, 1)
        scope: Scope = {
            "type": "http",
            "method": "POST",
            "path": BASE,
            "query_string": b"",
            "headers": [
                (b"x-api-key", key.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
        asyncio.run(fast_path(scope, receive, send))
        created = len(http.get(BASE, headers={"X-API-Key": key}).json()["data"])
    return handed_on, created


def test_the_fast_path_never_parses_an_encoded_create_body(
    settings: Settings, make_key: Callable[..., str]
) -> None:
    body = json.dumps({"authType": "BEARER_TOKEN", "token": "t"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
    handed_on, created = _create_on_the_fast_path_alone(settings, make_key, body, headers)
    assert handed_on == [body]  # unread: the layer in front of it answers 415
    assert created == 0


def test_the_fast_path_hands_a_body_that_is_not_utf8_to_the_router(
    settings: Settings, make_key: Callable[..., str]
) -> None:
    body = b'{"authType": "BEARER_TOKEN", "token": "t\xff"}'
    headers = [(b"content-type", b"application/json")]
    handed_on, created = _create_on_the_fast_path_alone(settings, make_key, body, headers)
    assert handed_on == [body]  # json.loads raised; the router gets the body as it came
    assert created == 0


# -- bytes that are not UTF-8 are not JSON ------------------------------------------------------

NOT_UTF8 = [
    b'{"authType": "BEARER_TOKEN", "token": "t\xff"}',
    b'{"authType": "BEARER_TOKEN", "token": "t\xc3"}',  # a truncated sequence
    b'{"authType": "NO_AUTH", "headers": {"X-\xe9": "v"}}',  # latin-1, in a name
    b'{"authType": "BEARER_TOKEN", "token": "\xed\xa0\x80"}',  # an encoded surrogate
    b'{"authType": "NO_AUTH", "ignored": "\xed\xb0\x80"}',  # the same, in an ignored field
    '{"authType": "NO_AUTH"}'.encode("utf-16"),
    '{"authType": "NO_AUTH"}'.encode("utf-16-le"),  # valid UTF-8, yet its NULs are not JSON
    '{"authType": "NO_AUTH"}'.encode("utf-32-be"),
    b'{"authType": "NO_AUTH", "ignored": "\x00"}',  # a raw NUL inside a string
]


@pytest.mark.parametrize("body", NOT_UTF8)
def test_a_body_that_is_not_utf8_is_malformed_json(
    client: Client, kv: KvReader, body: bytes
) -> None:
    response = client.http.post(BASE, content=body, headers=JSON)
    assert error_code(response, 400) == "malformed_json"
    assert b"\\x" not in response.content  # no echo of the bytes
    assert "\ufffd" not in response.text
    assert kv.paths() == []
    auth_id = client.create()
    patch = client.http.patch(ITEM.format(auth_id=auth_id), content=body, headers=JSON)
    assert error_code(patch, 400) == "malformed_json"
    assert kv.current_version(INTG, auth_id) == 1


# -- a client that hangs up mid-body: 499, never a 500 -------------------------------------------


class _AccessLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", {})
        if record.name == "vaultauth.access":
            self.statuses.append(int(fields["status"]))
        elif record.levelno >= logging.ERROR:
            self.errors.append(record.getMessage())


@pytest.fixture
def access_log() -> Iterator[_AccessLog]:
    handler = _AccessLog()
    with on_vaultauth_loggers(handler):
        yield handler


def _hang_up_mid_body(base_url: str, request: bytes) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(request)
        time.sleep(0.2)  # the facade is now waiting for the rest of the body


@pytest.mark.parametrize("cached_key", [True, False], ids=["key cached", "key not cached"])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_client_that_hangs_up_mid_body_is_a_499(
    settings: Settings,
    make_key: Callable[..., str],
    access_log: _AccessLog,
    cached_key: bool,
    method: str,
) -> None:
    key = make_key()
    if not cached_key:
        settings = settings.model_copy(update={"api_key_cache_ttl": 0.0})
    app = create_app(settings)
    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url) as http:
        path = BASE if method == "POST" else f"{BASE}/auth_anything"
        assert http.get(BASE, headers={"X-API-Key": key}).status_code == 200
        request = (
            f"{method} {path} HTTP/1.1\r\nHost: facade\r\nX-API-Key: {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{}"
        ).encode()
        _hang_up_mid_body(base_url, request)
        deadline = time.monotonic() + 5
        while 499 not in access_log.statuses and time.monotonic() < deadline:
            time.sleep(0.02)
        metrics = http.get("/metrics").text
    assert 499 in access_log.statuses
    assert 500 not in access_log.statuses
    assert access_log.errors == []
    assert 'status="499"' in metrics
    assert 'status="500"' not in metrics
