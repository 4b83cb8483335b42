"""ASGI middleware with the rules a request body meets before anything parses it.

- A body with a `Content-Encoding` other than `identity` is 415: the service decodes none, and
  reading gzip bytes as JSON would only give a confusing 400 (or worse, a body in another form).
- A body over `max_bytes` is 413, whether declared by `Content-Length` or streamed.
- A body read as JSON (no Content-Type, `application/json` or `application/*+json`) that is not
  UTF-8 is 400 `malformed_json` (RFC 8259 section 8.1), and so is one with a NUL byte (JSON has
  none, even inside a string). Python's JSON parser would take some of them (UTF-8-encoded
  surrogates; UTF-16 and UTF-32, guessed from NULs) and let the rest fail as a generic 400.
- A client that goes away before its body has arrived gets no answer (there is no one to read
  it); `RequestObserver` records such a request as 499.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vaultauth.api.errors import error_response

_IDENTITY = frozenset({b"", b"identity"})


def decodable(content_encoding: bytes) -> bool:
    """True when every coding listed is `identity` (the only one the service takes)."""
    return all(coding.strip().lower() in _IDENTITY for coding in content_encoding.split(b","))


def _read_as_json(content_type: bytes) -> bool:
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


def _utf8(body: bytes) -> bool:
    """UTF-8 (strictly: no encoded surrogates) without a NUL byte."""
    if b"\x00" in body:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class RequestBodyRules:
    """Checks the framing headers, buffers the body (bounded by `max_bytes`) and replays it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: bytes | None = None
        has_body = False
        decodable_body = True
        json_body = True  # without a Content-Type, the router reads the body as JSON
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
                has_body = has_body or value.strip() not in (b"", b"0")
            elif name == b"transfer-encoding":
                has_body = True
            elif name == b"content-type":
                json_body = _read_as_json(value)
            elif name == b"content-encoding":
                decodable_body = decodable_body and decodable(value)
        if has_body and not decodable_body:
            await self._unsupported_encoding(scope, receive, send)
            return
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        if not has_body:
            await self.app(scope, receive, send)  # nothing to bound or check (GET, resolve)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # nobody is left to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body and json_body and not _utf8(body):
            await self._not_utf8(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "payload_too_large", f"the body is larger than {self.max_bytes} bytes"
        )
        await response(scope, receive, send)

    @staticmethod
    async def _not_utf8(scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(400, "malformed_json", "the body is not valid JSON (UTF-8)")
        await response(scope, receive, send)

    @staticmethod
    async def _unsupported_encoding(scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            415,
            "unsupported_content_encoding",
            "the body must be sent without a Content-Encoding (identity)",
            headers={"Accept-Encoding": "identity"},
        )
        await response(scope, receive, send)
