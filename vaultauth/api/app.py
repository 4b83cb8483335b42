"""create_app(settings): the FastAPI application and the lifespan that builds its runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from vaultauth import __version__
from vaultauth.api.errors import install_error_handlers
from vaultauth.api.limits import BodySizeLimit
from vaultauth.api.routes import router
from vaultauth.settings import Settings
from vaultauth.wiring import Runtime, build_runtime


def create_app(
    settings: Settings, *, runtime_factory: Callable[[Settings], Runtime] = build_runtime
) -> FastAPI:
    """The facade. Its Vault client, index engine and service are built once, at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        runtime = await anyio.to_thread.run_sync(runtime_factory, settings)
        app.state.runtime = runtime
        try:
            yield
        finally:
            runtime.close()

    app = FastAPI(
        title="vaultauth — Integration Auth API",
        version=__version__,
        description="Credentials of integrations, kept in Vault KV v2. Every call needs X-API-Key.",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    install_error_handlers(app, settings.retry_after_seconds)
    app.include_router(router)
    return app
