"""ASGI middleware that keeps a percent-encoded `/` inside its path segment.

Servers hand the app a decoded `path`, so `/v1/integrations/a%2Fb/auth` would be routed as
`/v1/integrations/a/b/auth` (a 404), and `.../auth/<id>%2Fresolve` as the resolve call of `<id>`.
Rebuilding `path` from `raw_path` with such segments left encoded lets the route match and the id
validation refuse the id (422 `invalid_id`), as the contract says it must.
"""

from __future__ import annotations

from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send


def decoded_path(raw_path: bytes) -> str:
    """`raw_path` decoded once, segment by segment; a segment hiding a `/` stays encoded."""
    segments = []
    for raw in raw_path.decode("latin-1").split("/"):
        segment = unquote(raw)
        segments.append(raw if "/" in segment else segment)
    return "/".join(segments)


class EncodedSlashes:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path")
        if scope["type"] == "http" and isinstance(raw_path, bytes) and b"%" in raw_path:
            path = decoded_path(raw_path)
            if path != scope["path"]:
                scope = {**scope, "path": path}
        await self.app(scope, receive, send)
