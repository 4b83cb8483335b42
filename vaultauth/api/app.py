"""create_app(settings): the FastAPI application and the lifespan that builds its runtime."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

import anyio.to_thread
from fastapi import FastAPI
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp

from vaultauth import __version__
from vaultauth.api.docs import install_docs
from vaultauth.api.errors import install_error_handlers
from vaultauth.api.fastpath import FastPath
from vaultauth.api.limits import RequestBodyRules
from vaultauth.api.methods import HeadAsGet
from vaultauth.api.observe import RequestObserver
from vaultauth.api.openapi_schemas import install as install_openapi
from vaultauth.api.ops import metrics_router
from vaultauth.api.ops import router as ops_router
from vaultauth.api.paths import EncodedSlashes
from vaultauth.api.routes import router
from vaultauth.metrics import Metrics, serve_metrics
from vaultauth.settings import Settings
from vaultauth.wiring import Runtime, build_runtime


class FacadeApp(FastAPI):
    """FastAPI with our middleware outside its own layers rather than inside them.

    FastAPI wraps the app in an error middleware, OpenTelemetry hooks and a body limit, and puts
    user middleware inside those. Ours already do that work (RequestObserver answers an
    unexpected error with our JSON 500 and logs it by type only, RequestBodyRules bounds
    bodies, metrics are Prometheus'), and the fast path answers most hot calls itself: placed
    outside, they spare those calls FastAPI's layers. Starlette's error middleware, which would
    answer an unexpected error first (in plain text), is left out; the other layers remain for
    the requests the router serves.
    """

    def build_middleware_stack(self) -> ASGIApp:
        ours, self.user_middleware = self.user_middleware, []
        try:
            app = super().build_middleware_stack()
        finally:
            self.user_middleware = ours
        if isinstance(app, ServerErrorMiddleware):
            app = app.app
        for cls, args, kwargs in reversed(ours):
            app = cls(app, *args, **kwargs)
        return app


def create_app(
    settings: Settings, *, runtime_factory: Callable[[Settings], Runtime] | None = None
) -> FacadeApp:
    """The facade. Its Vault client, index engine and service are built once, at startup.

    Each app has its own metrics registry; the default runtime times its Vault calls in it.
    """
    metrics = Metrics()
    factory = runtime_factory or partial(build_runtime, metrics=metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        runtime = await anyio.to_thread.run_sync(factory, settings)
        app.state.runtime = runtime
        # With several workers the parent process serves the metrics port (server.py).
        stop_metrics = (
            serve_metrics(settings.metrics_port, settings.metrics_host, metrics.registry)
            if settings.metrics_port is not None and settings.workers == 1
            else None
        )
        # What startup built lives as long as the process: keep it out of every collection.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if stop_metrics is not None:
                await anyio.to_thread.run_sync(stop_metrics)
            await runtime.close()

    app = FacadeApp(
        title="vaultauth — Integration Auth API",
        version=__version__,
        description="Credentials of integrations, kept in Vault KV v2. Every call needs X-API-Key.",
        lifespan=lifespan,
        # Prometheus is our metrics; no OpenTelemetry lookups on each request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None,  # served from the package instead (api/docs.py), or not at all
        redoc_url=None,
    )
    if settings.docs:
        install_docs(app)
    app.state.metrics = metrics
    app.state.runtime = None
    app.include_router(router)
    app.include_router(ops_router)
    if settings.metrics_port is None:
        app.include_router(metrics_router)
    app.add_middleware(  # innermost: it serves the hot calls the router would serve
        FastPath,
        runtime=lambda: app.state.runtime,
        routes=router.routes,
        retry_after_seconds=settings.retry_after_seconds,
    )
    app.add_middleware(HeadAsGet)  # outside the fast path, which then serves HEAD as GET too
    app.add_middleware(EncodedSlashes)
    app.add_middleware(RequestBodyRules, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestObserver, metrics=metrics)  # added last: outermost
    install_error_handlers(app, settings.retry_after_seconds)
    install_openapi(app)
    return app
