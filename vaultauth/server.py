"""`vaultauth serve`: the facade on uvicorn (uvloop + httptools), in one or several processes.

With `workers` > 1 the parent runs the index migrations once (SQLite has no migration lock),
then uvicorn starts the workers on one shared socket and restarts any that dies. Each worker
builds its own runtime from the environment: its own Vault login, caches and change feed, so
caches stay correct across workers exactly as across replicas. Metrics of all workers are
added up through prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable

from fastapi import FastAPI

from vaultauth.settings import Settings


def app_from_environment() -> FastAPI:
    """The app of one worker process, configured from VAULTAUTH_* (uvicorn's factory)."""
    from vaultauth.api import create_app
    from vaultauth.logs import skip_unused_record_fields

    skip_unused_record_fields()
    return create_app(Settings())


def run_server(settings: Settings, *, host: str, port: int) -> None:
    import uvicorn

    from vaultauth.api.http_protocol import OneWriteHttpToolsProtocol
    from vaultauth.logs import logging_config, skip_unused_record_fields

    skip_unused_record_fields()
    options = {
        "host": host,
        "port": port,
        "log_config": logging_config(settings.log_level),
        "access_log": False,  # the facade writes its own access line, with route templates
        "server_header": False,
        # The client address (access log, failed-auth throttle) comes from X-Forwarded-For
        # only when the connection is from one of these proxies.
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "http": OneWriteHttpToolsProtocol,  # uvicorn's httptools, an answer in one write
    }
    if settings.workers == 1:
        from vaultauth.api import create_app

        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:  # set by the operator for one worker too: it must exist
            os.makedirs(directory, exist_ok=True)

        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
        return
    _migrate_once(settings)
    metrics_dir, ours = _fresh_metrics_dir()
    os.environ.update(
        {
            "VAULTAUTH_INDEX_AUTO_MIGRATE": "false",
            "VAULTAUTH_WORKERS": str(settings.workers),
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        }
    )
    stop_metrics: Callable[[], None] | None = None
    if settings.metrics_port is not None:
        from vaultauth.metrics import DueRecords, all_workers_registry, serve_metrics
        from vaultauth.wiring import build_index

        # Bound once, here: the workers' counters are added up from their files at each scrape;
        # the due gauges are counted on an index connection of the parent's own.
        engine, index = build_index(settings.model_copy(update={"index_auto_migrate": False}))
        stop_server = serve_metrics(
            settings.metrics_port,
            settings.metrics_host,
            all_workers_registry([DueRecords(index.count_past)]),
        )

        def stop_metrics() -> None:
            stop_server()
            engine.dispose()

    try:
        uvicorn.run(
            "vaultauth.server:app_from_environment",
            factory=True,
            workers=settings.workers,
            **options,  # type: ignore[arg-type]
        )
    finally:
        if stop_metrics is not None:
            stop_metrics()
        if ours:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _migrate_once(settings: Settings) -> None:
    if not settings.index_auto_migrate:
        return
    from vaultauth.wiring import build_index

    engine, _index = build_index(settings)
    engine.dispose()


def _fresh_metrics_dir() -> tuple[str, bool]:
    """An empty directory for the workers' metric files (the operator's own, if set), and
    whether it is ours to remove."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        os.makedirs(configured, exist_ok=True)
        for name in os.listdir(configured):
            if name.endswith(".db"):
                os.unlink(os.path.join(configured, name))
        return configured, False
    return tempfile.mkdtemp(prefix="vaultauth-metrics-"), True
