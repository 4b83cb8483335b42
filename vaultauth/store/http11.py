"""A small HTTP/1.1 client for Vault's API: keep-alive connections on asyncio, httptools' parser.

Vault's KV calls are small JSON requests and answers on a handful of long-lived connections,
and every resolve that misses the cache makes one. General-purpose clients spend most of their
CPU on what these calls never use (cookie jars, URL normalisation, middleware, tracing hooks):
aiohttp ~105 µs a call here, hvac + requests ~700 µs, this client ~45 µs (docs/benchmarks.md).
It does only what talking to Vault needs:

- connections pooled per origin (scheme, host, port), at most `pool_size` each; a connection
  idle for IDLE_SECONDS is closed rather than reused, well before Vault's own idle timeout (5
  min), so a request never meets a connection the server is closing;
- Content-Length and chunked answers (httptools), `Connection: close`, TLS with a given context;
- redirects (Vault standbys answer 307 to the active node), at most MAX_REDIRECTS;
- one deadline for the whole call (waiting for a pooled connection, connecting, every
  redirect); a connection that times out, fails or is cancelled mid-call is closed, never reused.

No request is ever sent twice: a failure is reported (ConnectionFailed, CallTimedOut) and the
caller decides, as the Vault adapter does with check-and-set.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import httptools

IDLE_SECONDS = 30.0
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_KEPT_HEADERS = frozenset({b"x-vault-index", b"location"})


class ConnectionFailed(Exception):
    """No complete answer: the connection could not be made, broke, or the answer was garbled."""


class CallTimedOut(Exception):
    """No complete answer within the call's deadline."""


class TooManyRedirects(ConnectionFailed):
    pass


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # the few we use, lower-case names


class _Connection(asyncio.Protocol):
    """One connection; one request at a time."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()  # made by the loop's create_connection
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[Reply] | None = None
        self._body: list[bytes] = []
        self._headers: dict[str, str] = {}

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(ConnectionFailed("Vault's answer is not valid HTTP"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionFailed("the connection to Vault was closed"))

    # --- httptools callbacks ---------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in _KEPT_HEADERS:
            self._headers[name.decode()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if not self._parser.should_keep_alive():
            self.close()
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            reply = Reply(self._parser.get_status_code(), b"".join(self._body), self._headers)
            answer.set_result(reply)

    # --- used by the client ----------------------------------------------------------------

    async def exchange(self, request: bytes, deadline: float) -> Reply:
        """Send `request` and wait for its answer until `deadline` (the loop's clock)."""
        assert self.transport is not None
        self._body = []
        self._headers = {}
        answer: asyncio.Future[Reply] = self._loop.create_future()
        self._answer = answer
        # A timer on the loop rather than asyncio.timeout(): this is paid on every Vault call,
        # and the timer costs a fraction of a timeout context's task bookkeeping.
        timer = self._loop.call_at(deadline, self._time_out)
        self.transport.write(request)
        try:
            return await answer
        finally:
            timer.cancel()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _time_out(self) -> None:
        self._fail(CallTimedOut("Vault did not answer in time"))
        self.close()

    def _fail(self, error: Exception) -> None:
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_exception(error)


class _Origin:
    def __init__(self, scheme: str, host: str, port: int, pool_size: int) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.host_header = f"{host}:{port}"
        self.idle: deque[_Connection] = deque()
        self.slots = asyncio.Semaphore(pool_size)


class HttpClient:
    """Requests to any number of origins; create and use it inside one event loop."""

    def __init__(
        self,
        *,
        timeout: float,
        connect_timeout: float,
        pool_size: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._pool_size = pool_size
        self._ssl = ssl_context
        self._origins: dict[str, _Origin] = {}  # by `scheme://netloc`

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """Send one request (following redirects) and read its whole answer, all within
        `timeout` seconds (the client's timeout by default)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout if timeout is not None else self._timeout)
        for _ in range(MAX_REDIRECTS + 1):
            reply = await self._send(method, url, headers or {}, body, deadline)
            location = reply.headers.get("location")
            if reply.status not in _REDIRECTS or not location:
                return reply
            url = _resolve(url, location)
            if reply.status == 303:
                method, body = "GET", None
        raise TooManyRedirects("Vault redirected too many times")

    async def close(self) -> None:
        for origin in self._origins.values():
            while origin.idle:
                origin.idle.popleft().close()
        await asyncio.sleep(0)  # transports finish closing on the loop's next turn

    async def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, deadline: float
    ) -> Reply:
        base, slash, rest = url.partition("://")[2].partition("/")
        origin = self._origins.get(url[: url.index("://") + 3 + len(base)])
        if origin is None:
            origin = self._origin(url)
        target = slash + rest or "/"
        lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.host_header}"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise ValueError(f"the {name} header would break the request")
            lines.append(f"{name}: {value}")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        await _acquire(origin.slots, deadline)
        try:
            connection = await self._connection(origin, deadline)
            done = False
            try:
                reply = await connection.exchange(request, deadline)
                done = True
                return reply
            finally:
                if done and not connection.closed:
                    connection.idle_since = time.monotonic()
                    origin.idle.append(connection)
                else:
                    connection.close()  # failed, timed out or cancelled mid-call
        finally:
            origin.slots.release()

    def _origin(self, url: str) -> _Origin:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectionFailed("not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        origin = _Origin(parts.scheme, parts.hostname, port, self._pool_size)
        self._origins[f"{parts.scheme}://{parts.netloc}"] = origin
        return origin

    async def _connection(self, origin: _Origin, deadline: float) -> _Connection:
        now = time.monotonic()
        while origin.idle:
            connection = origin.idle.pop()  # the most recently used first
            if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.close()
        loop = asyncio.get_running_loop()
        tls = self._ssl if origin.scheme == "https" else None
        try:
            async with asyncio.timeout_at(min(deadline, loop.time() + self._connect_timeout)):
                _transport, connection = await loop.create_connection(
                    _Connection,
                    origin.host,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.host if tls is not None else None,
                )
        except TimeoutError:
            if loop.time() >= deadline:
                raise CallTimedOut("Vault did not answer in time") from None
            raise ConnectionFailed("cannot connect to Vault (TimeoutError)") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConnectionFailed(f"cannot connect to Vault ({type(exc).__name__})") from None
        return connection


async def _acquire(slots: asyncio.Semaphore, deadline: float) -> None:
    """A pool slot, waiting for one no later than `deadline`."""
    if not slots.locked():
        await slots.acquire()  # free: taken at once, without a timeout's cost
        return
    try:
        async with asyncio.timeout_at(deadline):
            await slots.acquire()
    except TimeoutError:
        raise CallTimedOut("Vault did not answer in time") from None


def _resolve(base: str, location: str) -> str:
    """An absolute URL for a redirect's Location (Vault sends absolute ones)."""
    if "://" in location:
        return location
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}{location}"
