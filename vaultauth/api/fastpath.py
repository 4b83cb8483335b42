"""Answers from memory, in front of the router: GET of one record and resolve, when cached.

Every outbound request of our users' services passes through resolve, and FastAPI's routing
and dependency solving cost about as much CPU as the rest of a cached answer together (see
docs/benchmarks.md). So when *everything* a request needs is in memory - its API key, verified
and holding the scope; the record; for resolve, the credential of the record's current
version - this layer answers it directly, with the same body and headers the route would give.

It never answers anything else: any miss, any doubt (a query string, a body, an encoded
character, a key that does not verify) and the request goes on to the router untouched, which
then answers with its full rules (errors included). So the two can never disagree on what is
allowed; tests check they give identical answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from vaultauth.api.schemas import record_body, resolve_body
from vaultauth.errors import VaultauthError
from vaultauth.keys import Scope as KeyScope
from vaultauth.keys import split_key, verify
from vaultauth.wiring import Runtime

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
GET_TEMPLATE = "/v1/integrations/{integrationId}/auth/{authId}"
RESOLVE_TEMPLATE = "/v1/integrations/{integrationId}/auth/{authId}/resolve"
_JSON = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")


def _api_key(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-api-key":
            return str(value.decode("latin-1"))
    return None


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


def _route(routes: list[BaseRoute], path: str, method: str) -> BaseRoute:
    for route in routes:
        if getattr(route, "path", None) == path and method in getattr(route, "methods", ()):
            return route
    raise LookupError(f"no route {method} {path}")


class CachedAnswers:
    """ASGI middleware; `runtime()` gives the process's Runtime (built by the lifespan)."""

    def __init__(
        self, app: ASGIApp, runtime: Callable[[], Runtime | None], routes: list[BaseRoute]
    ) -> None:
        self.app = app
        self._runtime = runtime
        # Set in the scope like the router does, so the access log and metrics name the route.
        self._get_route = _route(routes, GET_TEMPLATE, "GET")
        self._resolve_route = _route(routes, RESOLVE_TEMPLATE, "POST")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self._answer(scope) if scope["type"] == "http" else None
        if answer is None:
            await self.app(scope, receive, send)
            return
        route, body, headers = answer
        scope["route"] = route
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _answer(self, scope: Scope) -> tuple[BaseRoute, bytes, list[tuple[bytes, bytes]]] | None:
        """The route, body and headers of a 200 answerable from memory, else None."""
        parts = scope["path"].split("/")
        method = scope["method"]
        if scope["query_string"] or parts[:3] != ["", "v1", "integrations"] or len(parts) < 6:
            return None
        if method == "GET" and len(parts) == 6:
            wanted, route = KeyScope.AUTH_READ, self._get_route
        elif method == "POST" and len(parts) == 7 and parts[6] == "resolve":
            wanted, route = KeyScope.CREDENTIALS_READ, self._resolve_route
        else:
            return None
        integration_id, auth_id = parts[3], parts[5]
        if parts[4] != "auth" or not (_ID.fullmatch(integration_id) and _ID.fullmatch(auth_id)):
            return None
        runtime = self._runtime()
        if runtime is None or _has_body(scope):
            return None
        api_key = _api_key(scope)
        key_parts = split_key(api_key) if api_key else None
        stored = runtime.index.keys.get(key_parts[0]) if key_parts is not None else None
        if stored is None:
            return None
        try:
            principal = verify(api_key, stored)
            principal.require(wanted)
        except VaultauthError:
            return None  # the router gives the 401/403, with its own rules
        record = runtime.index.records.get((principal.tenant, integration_id, auth_id))
        if record is None:
            return None
        content: dict[str, Any]
        if route is self._get_route:
            content, headers = record_body(record), [_JSON]
        else:
            credential = runtime.service.cached_credential(record)
            if credential is None:
                return None
            content, headers = resolve_body(record, credential), [_JSON, _NO_STORE]
        body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
        return route, body, [(b"content-length", str(len(body)).encode()), *headers]
