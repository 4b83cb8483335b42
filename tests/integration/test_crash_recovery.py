"""Crash injection with real processes: SIGKILL the facade between its two writes, then repair.

The facade runs as `python -m vaultauth serve`. To kill it at an exact point of the write order
(service.py) without any hook in the product, the test makes it block there and kills it while
it waits: the index write is blocked by a lock the test holds on the index, the Vault call by a
proxy the test pauses. Then `vaultauth reconcile --repair --min-age 0` (a real CLI process) must
restore a consistent state in which every acknowledged write is still there.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import hvac
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support.facade import Facade, run_cli, settings_env, start_facade
from tests.support.processes import stop_process, wait_until
from tests.support.proxy import TcpProxy
from vaultauth.api import create_app
from vaultauth.ids import secret_path
from vaultauth.settings import Settings

CANARY = "CANARY-crash-5d1e-do-not-leak"
INTEGRATION = "intg_crash"

pytestmark = pytest.mark.slow


@contextmanager
def index_write_lock(index_url: str) -> Iterator[None]:
    """Hold the index's write lock: reads go on, every insert/update/delete waits."""
    url = make_url(index_url)
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(url.database or "", isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.rollback()
            connection.close()
        return
    engine = create_engine(index_url)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            connection.execute(text("LOCK TABLE auth_records IN EXCLUSIVE MODE"))
            try:
                yield
            finally:
                transaction.rollback()
    finally:
        engine.dispose()


def in_background(call: Callable[[], Any]) -> threading.Thread:
    """Send a request the facade will never answer (it is killed while handling it)."""

    def run() -> None:
        try:
            call()
        except httpx.HTTPError:
            pass  # the connection dies with the process

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return settings_env(settings, tmp_path, VAULTAUTH_VAULT_TIMEOUT="20")


@pytest.fixture
def facade(env: dict[str, str], tmp_path: Path) -> Iterator[Facade]:
    process = start_facade(env, tmp_path)
    try:
        yield process
    finally:
        stop_process(process.process)


def acknowledged_records(facade: Facade, key: str, count: int = 3) -> dict[str, str]:
    """Create `count` records through the facade; authId -> the token that was acknowledged."""
    acked: dict[str, str] = {}
    with facade.client(key) as client:
        for n in range(count):
            token = f"{CANARY}-{n}"
            response = client.post(
                f"/v1/integrations/{INTEGRATION}/auth",
                json={"authType": "BEARER_TOKEN", "token": token},
            )
            assert response.status_code == 200, response.text
            acked[response.json()["authId"]] = token
    return acked


def repair(env: dict[str, str]) -> str:
    """Run `vaultauth reconcile --repair --min-age 0`, then check a second run finds nothing."""
    repaired = run_cli(env, "reconcile", "--repair", "--min-age", "0")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    again = run_cli(env, "reconcile", "--min-age", "0")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "consistent: index and Vault agree" in again.stdout
    return repaired.stdout


def assert_all_there(settings: Settings, key: str, acked: dict[str, str]) -> None:
    """Every acknowledged record reads back, and resolves to the token that was acknowledged."""
    with TestClient(create_app(settings), headers={"X-API-Key": key}) as client:
        for auth_id, token in acked.items():
            resolved = client.post(f"/v1/integrations/{INTEGRATION}/auth/{auth_id}/resolve")
            assert resolved.status_code == 200, resolved.text
            assert resolved.json()["headers"]["Authorization"] == f"Bearer {token}"


def assert_json_log_without_secret(facade: Facade) -> None:
    lines = [line for line in facade.log().splitlines() if line.strip()]
    assert lines
    for line in lines:
        entry = json.loads(line)  # every line is one JSON object
        assert "request_id" in entry
    assert CANARY not in facade.log()
    requests = [json.loads(line) for line in lines if '"vaultauth.access"' in line]
    assert requests
    assert all(entry["request_id"] for entry in requests)


def stored_auth_ids(vault_client: hvac.Client, settings: Settings) -> set[str]:
    folder = f"{settings.vault_prefix}/acme/integrations/{INTEGRATION}/auth"
    try:
        listed = vault_client.secrets.kv.v2.list_secrets(path=folder, mount_point="secret")
    except hvac.exceptions.InvalidPath:
        return set()
    return set(listed["data"]["keys"])


def test_kill_between_the_vault_write_and_the_index_insert_of_a_create(
    settings: Settings,
    env: dict[str, str],
    facade: Facade,
    make_key: Callable[..., str],
    vault_client: hvac.Client,
) -> None:
    key = make_key()
    acked = acknowledged_records(facade, key)
    with index_write_lock(settings.resolved_index_url()):
        client = facade.client(key)
        in_background(
            lambda: client.post(
                f"/v1/integrations/{INTEGRATION}/auth",
                json={"authType": "BEARER_TOKEN", "token": f"{CANARY}-lost"},
            )
        )
        wait_until(lambda: len(stored_auth_ids(vault_client, settings)) == 4, 10, "Vault write")
        facade.kill()
        client.close()
    orphans = stored_auth_ids(vault_client, settings) - acked.keys()
    assert len(orphans) == 1  # in Vault, never acknowledged, never in the index

    report = repair(env)
    assert "repaired" in report
    assert "secret_without_record" in report
    assert stored_auth_ids(vault_client, settings) == set(acked)
    assert_all_there(settings, key, acked)
    assert_json_log_without_secret(facade)


def test_kill_between_the_vault_write_and_the_index_update_of_a_patch(
    settings: Settings,
    env: dict[str, str],
    facade: Facade,
    make_key: Callable[..., str],
    vault_client: hvac.Client,
) -> None:
    key = make_key()
    acked = acknowledged_records(facade, key)
    target = next(iter(acked))
    path = secret_path(settings.vault_prefix, "acme", INTEGRATION, target)
    kv = vault_client.secrets.kv.v2

    def vault_version() -> int:
        return int(
            kv.read_secret_metadata(path=path, mount_point="secret")["data"]["current_version"]
        )

    with index_write_lock(settings.resolved_index_url()):
        client = facade.client(key)
        in_background(
            lambda: client.patch(
                f"/v1/integrations/{INTEGRATION}/auth/{target}",
                json={"token": f"{CANARY}-v2", "headers": [{"key": "X-Rev", "value": "2"}]},
            )
        )
        wait_until(lambda: vault_version() == 2, 10, "Vault write of the PATCH")
        facade.kill()
        client.close()

    report = repair(env)
    assert "index_behind_vault" in report
    assert "v1 to v2" in report
    # The PATCH was never acknowledged but reached Vault: the index now follows Vault.
    acked[target] = f"{CANARY}-v2"
    assert_all_there(settings, key, acked)
    with TestClient(create_app(settings), headers={"X-API-Key": key}) as client:
        record = client.get(f"/v1/integrations/{INTEGRATION}/auth/{target}").json()
        assert record["version"] == 2
        assert record["headers"] == [{"key": "X-Rev", "value": "2"}]
        again = client.patch(f"/v1/integrations/{INTEGRATION}/auth/{target}", json={"token": "v3"})
        assert again.status_code == 200
        assert again.json()["version"] == 3
    assert_json_log_without_secret(facade)


def test_kill_between_marking_a_delete_and_destroying_the_secret(
    settings: Settings,
    env: dict[str, str],
    make_key: Callable[..., str],
    vault_client: hvac.Client,
    tmp_path: Path,
) -> None:
    key = make_key()
    vault = urlsplit(settings.vault_addr)
    proxy = TcpProxy(vault.hostname or "127.0.0.1", vault.port or 8200).start()
    facade = start_facade(
        {**env, "VAULTAUTH_VAULT_ADDR": f"http://{proxy.addr}"}, tmp_path, "facade-proxied"
    )
    try:
        acked = acknowledged_records(facade, key)
        doomed = next(iter(acked))
        engine = create_engine(settings.resolved_index_url())

        def state() -> str | None:
            with engine.connect() as connection:
                row = connection.execute(
                    text("SELECT state FROM auth_records WHERE auth_id = :id"), {"id": doomed}
                ).first()
            return None if row is None else str(row[0])

        proxy.pause()  # the facade's next Vault call (the destroy) blocks
        client = facade.client(key)
        in_background(lambda: client.delete(f"/v1/integrations/{INTEGRATION}/auth/{doomed}"))
        wait_until(lambda: state() == "deleting", 10, "the record marked deleting")
        facade.kill()
        client.close()
        proxy.close()  # drops the held DELETE: it never reaches Vault
        engine.dispose()
    finally:
        stop_process(facade.process)
        proxy.close()
    assert doomed in stored_auth_ids(vault_client, settings)

    report = repair(env)
    assert "delete_unfinished" in report
    assert "finished the delete" in report
    assert doomed not in stored_auth_ids(vault_client, settings)
    del acked[doomed]
    assert_all_there(settings, key, acked)
    with TestClient(create_app(settings), headers={"X-API-Key": key}) as client:
        gone = client.get(f"/v1/integrations/{INTEGRATION}/auth/{doomed}")
        assert gone.status_code == 404
    assert_json_log_without_secret(facade)
