"""Vault stopped or sealed under a running facade: 503 with Retry-After, nothing half-written,
and the same app instance serves again once Vault is back."""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import hvac
import pytest
from fastapi.testclient import TestClient

from tests.support.kv import KvReader
from tests.support.processes import free_port
from tests.support.sealing import seal, unseal
from vaultauth.admin import create_key
from vaultauth.api import create_app
from vaultauth.embedded import EmbeddedOpenBao
from vaultauth.keys import Scope
from vaultauth.settings import Settings

INTG = "intg_outage"
BASE = f"/v1/integrations/{INTG}/auth"
RETRY_AFTER = 3


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedOpenBao]:
    """A persistent OpenBao of this module's own, which the tests stop, start and seal."""
    server = EmbeddedOpenBao(tmp_path_factory.mktemp("outage-bao"), port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def outage_settings(bao: EmbeddedOpenBao, tmp_path: Path) -> Settings:
    return Settings(
        vault_addr=bao.addr,
        vault_token=bao.root_token,
        vault_mount=bao.mount,
        vault_prefix=f"o{secrets.token_hex(4)}",
        index_url=f"sqlite:///{tmp_path / 'index.sqlite3'}",
        data_dir=tmp_path / "data",
        vault_timeout=2.0,
        retry_after_seconds=RETRY_AFTER,
        resolve_cache_ttl=0,  # every resolve reads Vault
    )


@pytest.fixture
def client(outage_settings: Settings, bao: EmbeddedOpenBao) -> Iterator[TestClient]:
    key = create_key(
        outage_settings, "acme", [Scope.AUTH_READ, Scope.AUTH_WRITE, Scope.CREDENTIALS_READ]
    )
    try:
        with TestClient(create_app(outage_settings), raise_server_exceptions=False) as test_client:
            test_client.headers["X-API-Key"] = key
            yield test_client
    finally:
        if bao.pid is None:  # a failed test may leave it stopped: later tests need it
            bao.start()


@pytest.fixture
def kv(bao: EmbeddedOpenBao, outage_settings: Settings) -> Iterator[KvReader]:
    vault_client = hvac.Client(url=bao.addr, token=bao.root_token, timeout=5)
    yield KvReader.of(vault_client, outage_settings)
    vault_client.adapter.close()


def _unavailable(response: httpx2.Response, codes: set[str]) -> str:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER)
    error = response.json()["error"]
    assert error["code"] in codes, error
    assert "127.0.0.1" not in error["message"]  # ours, not hvac's (which names the URL)
    code: str = error["code"]
    return code


def _index_rows(settings: Settings) -> list[tuple[Any, ...]]:
    database = settings.resolved_index_url().removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT auth_id, kv_version, state FROM auth_records ORDER BY auth_id"
        ).fetchall()


def _timed(call: Callable[[], httpx2.Response], limit: float = 10.0) -> httpx2.Response:
    started = time.monotonic()
    response = call()
    assert time.monotonic() - started < limit, "a 503 should come quickly, not after retries"
    return response


def test_vault_stopped_and_started_again(
    client: TestClient, bao: EmbeddedOpenBao, kv: KvReader, outage_settings: Settings
) -> None:
    kept = client.post(BASE, json={"authType": "BEARER_TOKEN", "token": "token-v1"}).json()
    doomed = client.post(
        BASE, json={"authType": "BASIC_AUTH", "username": "u", "password": "p"}
    ).json()
    rows_before = _index_rows(outage_settings)
    assert len(rows_before) == 2

    bao.stop()
    down = {"vault_unavailable", "vault_timeout"}
    _unavailable(
        _timed(lambda: client.post(BASE, json={"authType": "BEARER_TOKEN", "token": "t"})), down
    )
    _unavailable(_timed(lambda: client.post(f"{BASE}/{kept['authId']}/resolve")), down)
    _unavailable(
        _timed(lambda: client.patch(f"{BASE}/{kept['authId']}", json={"token": "token-v2"})), down
    )
    _unavailable(_timed(lambda: client.delete(f"{BASE}/{doomed['authId']}")), down)
    # Metadata comes from the index alone, so it still answers.
    assert client.get(f"{BASE}/{kept['authId']}").json() == kept

    # Nothing half-written: no row for the failed create, the failed patch left version 1.
    rows = _index_rows(outage_settings)
    assert [row[:2] for row in rows] == [row[:2] for row in rows_before]
    # The failed delete hid its record (state `deleting`) and must be repeated.
    assert {row[0]: row[2] for row in rows}[doomed["authId"]] == "deleting"
    assert [r["authId"] for r in client.get(BASE).json()["data"]] == [kept["authId"]]

    bao.start()
    # The same app instance, without a restart.
    resolved = client.post(f"{BASE}/{kept['authId']}/resolve")
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["headers"] == {"Authorization": "Bearer token-v1"}
    assert kv.current_version(INTG, kept["authId"]) == 1
    assert kv.paths() == sorted([kv.path(INTG, kept["authId"]), kv.path(INTG, doomed["authId"])])

    patched = client.patch(f"{BASE}/{kept['authId']}", json={"token": "token-v2"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["version"] == 2
    resolved = client.post(f"{BASE}/{kept['authId']}/resolve")
    assert resolved.json()["headers"] == {"Authorization": "Bearer token-v2"}

    created = client.post(BASE, json={"authType": "NO_AUTH"})
    assert created.status_code == 200, created.text

    # Repeating the DELETE finishes the job: the record and its secret are gone.
    assert client.get(f"{BASE}/{doomed['authId']}").status_code == 404
    assert client.delete(f"{BASE}/{doomed['authId']}").status_code == 204
    assert kv.is_gone(INTG, doomed["authId"])
    assert doomed["authId"] not in [row[0] for row in _index_rows(outage_settings)]


def test_vault_sealed_and_unsealed(client: TestClient, bao: EmbeddedOpenBao, kv: KvReader) -> None:
    kept = client.post(BASE, json={"authType": "BEARER_TOKEN", "token": "token-v1"}).json()
    seal(bao)
    try:
        sealed = {"vault_sealed"}
        _unavailable(client.post(BASE, json={"authType": "BEARER_TOKEN", "token": "t"}), sealed)
        _unavailable(client.post(f"{BASE}/{kept['authId']}/resolve"), sealed)
        _unavailable(client.patch(f"{BASE}/{kept['authId']}", json={"token": "token-v2"}), sealed)
        assert [r["authId"] for r in client.get(BASE).json()["data"]] == [kept["authId"]]
    finally:
        unseal(bao)

    resolved = client.post(f"{BASE}/{kept['authId']}/resolve")
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["headers"] == {"Authorization": "Bearer token-v1"}
    assert kv.current_version(INTG, kept["authId"]) == 1
    assert len(kv.paths()) == 1
    patched = client.patch(f"{BASE}/{kept['authId']}", json={"token": "token-v2"})
    assert patched.status_code == 200, patched.text
    created = client.post(BASE, json={"authType": "NO_AUTH"})
    assert created.status_code == 200, created.text
