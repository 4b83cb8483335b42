"""HTTP methods at the edge: HEAD served as GET without a body, and the `Allow` of a 405.

FastAPI's routes answer only the methods they declare, so HEAD would be a 405 on every GET path,
and a 405 names the methods of the first route whose path matched (`Allow: POST` where GET is
served too). `HeadAsGet` sends HEAD through the app as a GET (router and fast path alike) and
drops the body; `allowed_methods` lists every method of a path, HEAD included where GET is.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The order `Allow` lists them in (RFC 9110 leaves it free; a fixed one is easier to read).
_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The `Allow` value for the request's path: the methods of every route serving it.

    `routes` are the app's (`app.routes`); routes of included routers are looked at one by one.
    """
    methods: set[str] = set()
    for route in iter_route_contexts(routes):
        match, _child = route.matches(scope)
        if match is not Match.NONE:
            methods.update(route.methods or ())
    if "GET" in methods:
        methods.add("HEAD")
    rank = {method: i for i, method in enumerate(_ORDER)}
    return ", ".join(sorted(methods, key=lambda m: (rank.get(m, len(rank)), m)))


class HeadAsGet:
    """Serves HEAD as the GET of the same URL, without the body (its headers are the GET's)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, send_headers_only)
        finally:
            # The router names the route in the scope it was given; the access log reads it here.
            if "route" in as_get:
                scope["route"] = as_get["route"]
