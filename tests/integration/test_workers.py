"""`vaultauth serve --workers 2`: one port, two processes, one set of metrics, coherent caches."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import CACHE_STALENESS_BOUND
from tests.support.facade import running_facade, settings_env
from tests.support.processes import free_port, seen_within
from vaultauth.index.migrate import head_revision
from vaultauth.settings import Settings

pytestmark = pytest.mark.slow

BASE = "/v1/integrations/intg_workers/auth"
RESOLVE_TEMPLATE = "/v1/integrations/{integrationId}/auth/{authId}/resolve"
REQUESTS = 40


def fresh(facade_url: str, key: str) -> httpx.Client:
    """A client whose every request opens its own connection, so the kernel spreads them."""
    return httpx.Client(
        base_url=facade_url,
        headers={"X-API-Key": key, "Connection": "close"},
        timeout=10,
        trust_env=False,
    )


def counted_requests(metrics: str, route: str) -> float:
    pattern = re.compile(
        r'^vaultauth_http_requests_total\{method="POST",route="'
        + re.escape(route)
        + r'",status="200"\} ([0-9.e+]+)$',
        re.M,
    )
    return sum(float(value) for value in pattern.findall(metrics))


def test_two_workers_share_the_port_the_metrics_and_the_caches(
    settings: Settings, make_key: Callable[..., str], tmp_path: Path
) -> None:
    key = make_key()
    metrics_dir = tmp_path / "metrics"
    metrics_port = free_port(1)
    env = settings_env(
        settings,
        tmp_path,
        VAULTAUTH_INDEX_AUTO_MIGRATE="true",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        VAULTAUTH_METRICS_PORT=str(metrics_port),
    )
    with (
        running_facade(env, tmp_path, "workers", "--workers", "2") as facade,
        fresh(facade.url, key) as client,
    ):
        created = client.post(BASE, json={"authType": "BEARER_TOKEN", "token": "cnry-w-1"})
        assert created.status_code == 200, created.text
        auth_id = created.json()["authId"]
        resolve = f"{BASE}/{auth_id}/resolve"

        def served_by() -> set[str]:
            """PIDs of the workers that kept counters (one file each, named after the PID)."""
            return {
                match.group(1)
                for name in metrics_dir.iterdir()
                if (match := re.search(r"_(\d+)\.db$", name.name))
            }

        # Concurrent connections, so that the kernel hands some to each worker.
        sent = 0
        with ThreadPoolExecutor(max_workers=16) as pool:
            while len(served_by()) < 2 and sent < 20 * REQUESTS:
                answers = list(pool.map(lambda _: client.post(resolve).json(), range(REQUESTS)))
                assert {answer["version"] for answer in answers} == {1}
                sent += REQUESTS
        assert len(served_by()) >= 2, "one worker served every request"
        # The metrics port, bound once by the parent, counts every request of both workers.
        assert client.get("/metrics").status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert counted_requests(scraped, RESOLVE_TEMPLATE) == sent

        # A change made through one worker reaches the other's caches within the bound.
        patched = client.patch(f"{BASE}/{auth_id}", json={"token": "cnry-w-2"})
        assert patched.status_code == 200
        for _ in range(6):  # new connections: some land on the other worker
            seen_within(
                lambda: client.post(resolve).json()["version"] == 2,
                CACHE_STALENESS_BOUND,
                "the update",
            )
        assert "Traceback" not in facade.log()

    # The parent ran the migrations once, before the workers started.
    engine = create_engine(settings.resolved_index_url())
    try:
        with engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    assert revision == head_revision()
