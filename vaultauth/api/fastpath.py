"""The hot calls without FastAPI's routing: GET of one record, resolve and create.

Every outbound request of our users' services passes through resolve, and FastAPI's routing,
dependency solving and body handling cost about as much CPU as the rest of such a call (see
docs/benchmarks.md). So when a request is one of these three and its API key is already
verified in memory, this layer serves it itself:

- GET: only when the record is cached; the answer (or its 304) is built from memory.
- resolve: when the record is cached; the credential comes from the resolve cache or Vault.
- create: when the body parses as a valid create body and carries no Idempotency-Key; the
  service does the rest.

Whatever it is not sure of goes on to the router untouched, which answers with its full rules:
an unknown or uncached key, a record not in memory, a query string, an encoded character, a
body that does not parse (the router gives the usual 400/422), a body with a Content-Encoding
(never decoded nor parsed here; `RequestBodyRules` refuses it first). Errors the service raises
are answered through the same error table the router uses. Tests check that both paths give the
same answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from enum import Enum
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_json
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vaultauth.api.audit import entry_of
from vaultauth.api.errors import domain_error_response
from vaultauth.api.limits import decodable
from vaultauth.api.schemas import AuthCreateBody, record_response, resolve_body
from vaultauth.errors import VaultauthError
from vaultauth.keys import Principal, split_key, verify
from vaultauth.keys import Scope as KeyScope
from vaultauth.wiring import Runtime

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_JSON_TYPES = (b"application/json", b"application/json; charset=utf-8")
_NO_STORE = [(b"cache-control", b"no-store")]


class Operation(Enum):
    # (method, path template, scope)
    CREATE = ("POST", "/v1/integrations/{integrationId}/auth", KeyScope.AUTH_WRITE)
    GET = ("GET", "/v1/integrations/{integrationId}/auth/{authId}", KeyScope.AUTH_READ)
    RESOLVE = (
        "POST",
        "/v1/integrations/{integrationId}/auth/{authId}/resolve",
        KeyScope.CREDENTIALS_READ,
    )


def _match(scope: Scope) -> tuple[Operation, str, str] | None:
    """(operation, integrationId, authId or "") of a request this layer may serve."""
    if scope["query_string"]:
        return None
    parts = scope["path"].split("/")
    if parts[:3] != ["", "v1", "integrations"] or len(parts) < 5 or parts[4] != "auth":
        return None
    method = scope["method"]
    if len(parts) == 5 and method == "POST":
        operation, auth_id = Operation.CREATE, ""
    elif len(parts) == 6 and method == "GET":
        operation, auth_id = Operation.GET, parts[5]
    elif len(parts) == 7 and method == "POST" and parts[6] == "resolve":
        operation, auth_id = Operation.RESOLVE, parts[5]
    else:
        return None
    if not _ID.fullmatch(parts[3]) or (auth_id and not _ID.fullmatch(auth_id)):
        return None
    return operation, parts[3], auth_id


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    return _header(scope, b"transfer-encoding") is not None or (length not in (None, b"0"))


def _route(routes: list[BaseRoute], operation: Operation) -> BaseRoute:
    method, path, _scope = operation.value
    for route in routes:
        if getattr(route, "path", None) == path and method in getattr(route, "methods", ()):
            return route
    raise LookupError(f"no route {method} {path}")


class FastPath:
    """ASGI middleware in front of the router; `runtime()` gives the process's Runtime."""

    def __init__(
        self,
        app: ASGIApp,
        runtime: Callable[[], Runtime | None],
        routes: list[BaseRoute],
        retry_after_seconds: int,
    ) -> None:
        self.app = app
        self._runtime = runtime
        self._retry_after = retry_after_seconds
        # Set in the scope as the router does, so the access log and metrics name the route.
        self._routes = {operation: _route(routes, operation) for operation in Operation}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = _match(scope) if scope["type"] == "http" else None
        runtime = self._runtime() if matched is not None else None
        principal = self._principal(runtime, scope, matched[0]) if matched and runtime else None
        if matched is None or runtime is None or principal is None:
            await self.app(scope, receive, send)
            return
        operation, integration_id, auth_id = matched
        audit = entry_of(scope)
        if audit is not None:
            audit.key_id, audit.tenant = principal.key_id, principal.tenant
        scope["path_params"] = (
            {"integrationId": integration_id, "authId": auth_id}
            if auth_id
            else {"integrationId": integration_id}
        )
        if operation is Operation.CREATE:
            await self._create(runtime, principal, integration_id, scope, receive, send)
            return
        record = runtime.index.records.get((principal.tenant, integration_id, auth_id))
        if record is None or _has_body(scope):
            await self.app(scope, receive, send)
            return
        scope["route"] = self._routes[operation]
        if operation is Operation.GET:
            if_none_match = _header(scope, b"if-none-match")
            response = record_response(
                record, if_none_match=if_none_match.decode("latin-1") if if_none_match else None
            )
            await response(scope, receive, send)
            return
        try:
            credential = await runtime.service.credential_of(record)
        except VaultauthError as exc:
            await domain_error_response(exc, self._retry_after)(scope, receive, send)
            return
        await _send_json(send, resolve_body(record, credential), _NO_STORE)

    async def _create(
        self,
        runtime: Runtime,
        principal: Principal,
        integration_id: str,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        if _header(scope, b"idempotency-key") is not None:
            await self.app(scope, receive, send)  # the router keeps idempotent creates
            return
        encoding = _header(scope, b"content-encoding")
        if encoding is not None and not decodable(encoding):
            await self.app(scope, receive, send)  # not ours to read: 415 in front of us
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client went away (RequestObserver records a 499)
        try:
            if _header(scope, b"content-type") not in _JSON_TYPES:
                raise ValueError("not JSON")
            # As FastAPI does it: the JSON parsed first, then the model validated.
            parsed = AuthCreateBody.model_validate(json.loads(body))
        except (ValueError, ValidationError):
            # The router answers it, with its usual 400/415/422 (the body is handed on).
            await self.app(scope, _replay(body, receive), send)
            return
        scope["route"] = self._routes[Operation.CREATE]
        try:
            record = await runtime.service.create(
                principal.tenant, integration_id, parsed.to_domain()
            )
        except VaultauthError as exc:
            await domain_error_response(exc, self._retry_after)(scope, receive, send)
            return
        audit = entry_of(scope)
        if audit is not None:
            audit.created_auth_id = record.auth_id
        await record_response(record)(scope, receive, send)

    @staticmethod
    def _principal(runtime: Runtime, scope: Scope, operation: Operation) -> Principal | None:
        """The caller, when its key is cached, verifies and has the scope; else None."""
        raw = _header(scope, b"x-api-key")
        api_key = raw.decode("latin-1") if raw is not None else None
        key_parts = split_key(api_key) if api_key else None
        stored = runtime.index.keys.get(key_parts[0]) if key_parts is not None else None
        if stored is None:
            return None
        try:
            principal = verify(api_key, stored)
            principal.require(operation.value[2])
        except VaultauthError:
            return None  # the router gives the 401/403, with its own rules
        return principal


async def _send_json(
    send: Send, content: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    """A 200 with the bytes and headers Starlette's JSONResponse gives the router's answers
    (compact UTF-8 JSON), without building a Response: this is every resolve's answer."""
    body = to_json(content)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                *headers,
                (b"content-length", str(len(body)).encode("latin-1")),
                (b"content-type", b"application/json"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
