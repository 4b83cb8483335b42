"""The hot path's HTTP client (store/http11.py): its one deadline per call and its pool, against
small local servers (the Vault behaviours are tested against OpenBao elsewhere)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from vaultauth.store.http11 import CallTimedOut, HttpClient

pytestmark = pytest.mark.anyio

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"


@dataclass
class Server:
    url: str
    connections: int = 0
    closed: int = 0
    requests: int = 0
    answer: Callable[[], bool] = lambda: True  # answer the next request, or stay silent
    writers: list[asyncio.StreamWriter] = field(default_factory=list)


@asynccontextmanager
async def local_server(answer: Callable[[], bool] = lambda: True) -> AsyncIterator[Server]:
    state = Server(url="", answer=answer)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        state.writers.append(writer)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                state.requests += 1
                if state.answer():
                    writer.write(ANSWER)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            state.closed += 1
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        server.close()
        for writer in state.writers:
            writer.close()
        await server.wait_closed()


def client(pool_size: int = 4, timeout: float = 5.0) -> HttpClient:
    return HttpClient(timeout=timeout, connect_timeout=1.0, pool_size=pool_size)


async def test_a_silent_server_times_out_at_the_deadline_and_its_connection_is_dropped() -> None:
    async with local_server(answer=lambda: False) as server:
        http = client()
        began = time.monotonic()
        with pytest.raises(CallTimedOut):
            await http.request("GET", f"{server.url}/v1/x", timeout=0.3)
        assert 0.25 < time.monotonic() - began < 2.0
        await asyncio.sleep(0.1)
        assert server.closed == 1  # closed, never handed to the next call
        server.answer = lambda: True
        assert (await http.request("GET", f"{server.url}/v1/x")).status == 200
        assert server.connections == 2
        await http.close()


async def test_waiting_for_a_pooled_connection_counts_against_the_deadline() -> None:
    async with local_server(answer=lambda: False) as server:
        http = client(pool_size=1)
        hung = asyncio.ensure_future(http.request("GET", f"{server.url}/v1/a", timeout=3.0))
        await asyncio.sleep(0.1)  # the one connection is now taken
        began = time.monotonic()
        with pytest.raises(CallTimedOut):
            await http.request("GET", f"{server.url}/v1/b", timeout=0.3)
        assert time.monotonic() - began < 2.0
        assert server.requests == 1  # the second call never got a connection
        hung.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hung
        await http.close()


async def test_an_answered_call_leaves_no_timer_behind_and_its_connection_is_reused() -> None:
    async with local_server() as server:
        http = client()
        assert (await http.request("GET", f"{server.url}/v1/x", timeout=0.2)).status == 200
        await asyncio.sleep(0.4)  # past the first call's deadline
        assert (await http.request("GET", f"{server.url}/v1/x", timeout=0.2)).status == 200
        assert server.connections == 1
        assert server.closed == 0
        await http.close()


async def test_a_cancelled_call_drops_its_connection() -> None:
    async with local_server(answer=lambda: False) as server:
        http = client()
        call = asyncio.ensure_future(http.request("GET", f"{server.url}/v1/x", timeout=5.0))
        await asyncio.sleep(0.1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await asyncio.sleep(0.1)
        assert server.closed == 1
        await http.close()
