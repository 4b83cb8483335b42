"""uvicorn's HTTP/1.1 protocol (httptools), with an answer's head and body sent in one write.

uvicorn writes the status line and headers when the app sends `http.response.start`, and the
body when it sends `http.response.body`: two socket writes per answer, and on loopback or a
busy host two wake-ups of the client, which first reads a head it cannot use yet. Those writes
were about a sixth of the facade's CPU for a resolve (docs/benchmarks.md).

`OneWriteHttpToolsProtocol` gives each connection a `HeldHeadTransport` and puts it in every
request's scope (`RESPONSE_WRITER`). The outermost middleware asks it to hold the next write
just before it passes `http.response.start` on; the head is then kept back and leaves with the
first write after it, normally the body. Nothing else is ever held, so a `100 Continue`, a
streamed chunk or uvicorn's own 400 go out as before, and whatever is held goes out when the
answer is complete, before the connection closes, and at the latest when the request ends
(`release`). Under another server the scope has no writer and the answer is sent as that
server sends it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

RESPONSE_WRITER = "vaultauth.response_writer"


class HeldHeadTransport:
    """A connection's transport that can keep one write back until the next one."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._hold = False
        self._held: bytes | None = None

    def hold_next_write(self) -> None:
        """The next write is kept back and sent with the one after it (or by `release`)."""
        self._hold = True

    def release(self) -> None:
        """Send what is held, if anything; hold nothing more."""
        self._hold = False
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.write(held)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._hold:
            self._hold = False
            self._held = bytes(data)
            return
        if self._held is not None:
            data, self._held = self._held + data, None
        self._transport.write(data)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self.release()
        self._transport.close()

    def abort(self) -> None:
        self._hold, self._held = False, None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        # get_extra_info, pause_reading, resume_reading ...: the transport's own.
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose requests carry a `HeldHeadTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._writer = HeldHeadTransport(transport)
        super().connection_made(self._writer)  # type: ignore[arg-type]

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[RESPONSE_WRITER] = self._writer  # type: ignore[literal-required]

    def on_response_complete(self) -> None:
        self._writer.release()  # a HEAD, 204 or 304 answer is a head alone
        super().on_response_complete()
