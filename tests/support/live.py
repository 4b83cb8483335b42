"""The facade served by uvicorn on a thread, on 127.0.0.1 and a port the OS picks; and an
httpx transport that sends requests through a Starlette TestClient (the facade client's
injectable transport, without a socket)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi.testclient import TestClient
from starlette.types import ASGIApp


@contextmanager
def serve_in_thread(app: ASGIApp, *, http: type[asyncio.Protocol] | str = "h11") -> Iterator[str]:
    """Run `app` (with its lifespan) until the block ends; yield its base URL. `http` is
    uvicorn's protocol (`vaultauth serve` uses OneWriteHttpToolsProtocol).

    uvicorn binds the port itself (port 0: the OS picks one): handed a ready-made socket, its
    connections go without TCP_NODELAY and every keep-alive answer waits ~40 ms for an ACK.
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        access_log=False,
        ws="none",
        http=http,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="facade", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the facade did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def through_test_client(client: TestClient) -> httpx.MockTransport:
    """An httpx transport that hands each request to `client` (which runs the ASGI app)."""

    def handle(request: httpx.Request) -> httpx.Response:
        skip = {"host", "content-length", "transfer-encoding"}
        answer = client.request(
            request.method,
            request.url.raw_path.decode("ascii"),
            headers={k: v for k, v in request.headers.items() if k.lower() not in skip},
            content=request.read(),
        )
        headers = [
            (k, v)
            for k, v in answer.headers.multi_items()
            if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")
        ]
        return httpx.Response(answer.status_code, headers=headers, content=answer.content)

    return httpx.MockTransport(handle)
