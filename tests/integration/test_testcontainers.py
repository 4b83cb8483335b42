"""The facade on a Vault started by testcontainers; skipped where no Docker engine runs."""

from __future__ import annotations

import gc
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
from fastapi.testclient import TestClient

from vaultauth.admin import create_key
from vaultauth.api import create_app
from vaultauth.keys import Scope
from vaultauth.settings import Settings

pytestmark = pytest.mark.docker

VAULT_IMAGE = "hashicorp/vault:1.17"


def _vault_container_class() -> Any:
    try:
        with warnings.catch_warnings():
            # testcontainers 4.x warns about its own deprecated readiness decorator on import.
            warnings.simplefilter("ignore", DeprecationWarning)
            from testcontainers.community.vault import VaultContainer
    except ImportError:
        pytest.skip("testcontainers is not installed (pip install testcontainers)")
    return VaultContainer


def _require_docker_engine() -> None:
    try:
        import docker
        import docker.errors
    except ImportError:
        pytest.skip("the docker package (a testcontainers dependency) is not installed")
    reason = None
    with warnings.catch_warnings():
        # A failed probe leaves docker's HTTP connection to the garbage collector.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = docker.from_env()
            try:
                client.ping()
            finally:
                client.close()
        except docker.errors.DockerException as exc:
            reason = (
                f"no Docker engine is reachable ({type(exc).__name__}); testcontainers needs one"
            )
        gc.collect()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def vault_container() -> Iterator[Any]:
    vault_container_class = _vault_container_class()
    _require_docker_engine()
    container = vault_container_class(VAULT_IMAGE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        container.start()
    try:
        yield container
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            container.stop()


def test_create_and_get_on_a_testcontainers_vault(vault_container: Any, tmp_path: Path) -> None:
    addr = vault_container.get_connection_url()
    token = vault_container.root_token
    settings = Settings(
        vault_addr=addr,
        vault_token=token,
        vault_prefix=f"tc{secrets.token_hex(4)}",
        index_url=f"sqlite:///{tmp_path / 'index.sqlite3'}",
        data_dir=tmp_path / "data",
        vault_timeout=5.0,
    )
    key = create_key(settings, "acme", [Scope.AUTH_READ, Scope.AUTH_WRITE, Scope.CREDENTIALS_READ])
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = key
        created = client.post(
            "/v1/integrations/intg_tc/auth", json={"authType": "BEARER_TOKEN", "token": "tc-token"}
        )
        assert created.status_code == 200, created.text
        auth_id = created.json()["authId"]
        got = client.get(f"/v1/integrations/intg_tc/auth/{auth_id}")
        assert got.status_code == 200
        assert got.json() == created.json()

    vault = hvac.Client(url=addr, token=token, timeout=5)
    try:
        stored = vault.secrets.kv.v2.read_secret_version(
            path=f"{settings.vault_prefix}/acme/integrations/intg_tc/auth/{auth_id}",
            mount_point="secret",
            raise_on_deleted_version=True,
        )
    finally:
        vault.adapter.close()
    assert stored["data"]["data"]["token"] == "tc-token"
