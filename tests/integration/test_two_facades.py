"""Two facade processes on one PostgreSQL index and one Vault: concurrent PATCHes lose nothing.

Always on PostgreSQL (the multi-replica topology), whatever VAULTAUTH_TEST_INDEX says. If the
server cannot be reached the test fails in CI; elsewhere it is skipped as NOT RUN.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import hvac
import pytest
from pydantic import SecretStr

from tests.conftest import postgres_schema
from tests.support.facade import Facade, run_cli, settings_env, two_running_facades
from vaultauth.admin import create_key
from vaultauth.ids import secret_path
from vaultauth.keys import Scope
from vaultauth.settings import Settings

WRITERS_PER_FACADE = 4
PATCHES_PER_WRITER = 12

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_settings(settings: Settings) -> Iterator[Settings]:
    with postgres_schema("the two-facade test", required=False) as url:
        yield settings.model_copy(update={"index_url": SecretStr(url)})


@pytest.fixture
def two_facades(pg_settings: Settings, tmp_path: Path) -> Iterator[tuple[Facade, Facade]]:
    with two_running_facades(settings_env(pg_settings, tmp_path), tmp_path, "facade") as facades:
        yield facades


def test_concurrent_patches_from_two_processes_lose_no_update(
    pg_settings: Settings,
    two_facades: tuple[Facade, Facade],
    vault_client: hvac.Client,
    tmp_path: Path,
) -> None:
    key = create_key(pg_settings, "acme", [Scope.AUTH_READ, Scope.AUTH_WRITE])
    first, second = two_facades
    with first.client(key) as client:
        created = client.post(
            "/v1/integrations/intg_race/auth", json={"authType": "BEARER_TOKEN", "token": "v0"}
        )
    assert created.status_code == 200, created.text
    auth_id = created.json()["authId"]

    acked: list[tuple[int, str]] = []  # (version, value) of every 200
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(2 * WRITERS_PER_FACADE)

    def writer(facade: Facade, name: str) -> Callable[[], None]:
        def run() -> None:
            with facade.client(key) as client:
                start.wait()
                for n in range(PATCHES_PER_WRITER):
                    value = f"{name}-{n}"
                    response = client.patch(
                        f"/v1/integrations/intg_race/auth/{auth_id}",
                        json={"token": value, "headers": [{"key": "X-Value", "value": value}]},
                    )
                    with lock:
                        statuses.append(response.status_code)
                        if response.status_code == 200:
                            body = response.json()
                            assert body["headers"] == [{"key": "X-Value", "value": value}]
                            acked.append((body["version"], value))

        return run

    jobs = [
        writer(facade, f"{facade_name}.w{w}")
        for facade, facade_name in ((first, "a"), (second, "b"))
        for w in range(WRITERS_PER_FACADE)
    ]
    with ThreadPoolExecutor(len(jobs)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()

    assert set(statuses) <= {200, 409}, statuses
    assert acked, "no PATCH succeeded"
    versions = [version for version, _ in acked]
    assert len(versions) == len(set(versions)), "two acknowledged writes got the same version"
    both = {value.split(".")[0] for _, value in acked}
    assert both == {"a", "b"}, "both processes must have won some writes"
    last_version, last_value = max(acked)

    path = secret_path(pg_settings.vault_prefix, "acme", "intg_race", auth_id)
    kv = vault_client.secrets.kv.v2
    stored = kv.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)
    assert stored["data"]["metadata"]["version"] == last_version
    assert stored["data"]["data"]["token"] == last_value
    assert stored["data"]["data"]["headers"] == [{"key": "X-Value", "value": last_value}]
    # Every version Vault holds past v1 is one that some caller got a 200 for.
    assert sorted(versions) == list(range(2, last_version + 1))

    with second.client(key) as client:
        record = client.get(f"/v1/integrations/intg_race/auth/{auth_id}").json()
    assert record["version"] == last_version
    assert record["headers"] == [{"key": "X-Value", "value": last_value}]
    check = run_cli(settings_env(pg_settings, tmp_path), "reconcile", "--min-age", "0")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "consistent" in check.stdout
