"""/readyz follows the backends: 503 + Retry-After while Vault is sealed or the index is down."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from tests.conftest import index_backend
from tests.support.processes import free_port
from tests.support.proxy import TcpProxy
from tests.support.sealing import seal, unseal
from vaultauth.api import create_app
from vaultauth.embedded import EmbeddedOpenBao
from vaultauth.settings import Settings


@pytest.fixture
def sealable_bao(tmp_path: Path) -> Iterator[EmbeddedOpenBao]:
    """A persistent single-node OpenBao of this test's own, which it may seal and unseal."""
    bao = EmbeddedOpenBao(tmp_path / "bao", port=free_port())
    bao.start()
    try:
        yield bao
    finally:
        bao.stop()


def _ready(client: TestClient) -> tuple[int, dict[str, str], str | None]:
    response = client.get("/readyz")
    return response.status_code, response.json()["checks"], response.headers.get("Retry-After")


def test_readyz_is_503_while_vault_is_sealed_and_200_once_unsealed(
    sealable_bao: EmbeddedOpenBao, settings: Settings
) -> None:
    settings = settings.model_copy(
        update={"vault_addr": sealable_bao.addr, "vault_token": SecretStr(sealable_bao.root_token)}
    )
    with TestClient(create_app(settings)) as client:
        assert _ready(client) == (200, {"vault": "ok", "vault_login": "ok", "index": "ok"}, None)
        seal(sealable_bao)
        assert _ready(client) == (
            503,
            {"vault": "vault_sealed", "vault_login": "ok", "index": "ok"},
            "3",
        )
        assert client.get("/healthz").status_code == 200  # alive all the same
        unseal(sealable_bao)
        assert _ready(client) == (200, {"vault": "ok", "vault_login": "ok", "index": "ok"}, None)


def test_readyz_is_503_while_the_index_is_down_and_200_once_back(
    settings: Settings, index_url: str
) -> None:
    if index_backend() == "sqlite":
        # The file moved away (a volume gone): pooled connections would not notice.
        database = Path(make_url(index_url).database or "")
        with TestClient(create_app(settings)) as client:
            assert _ready(client)[0] == 200
            moved = database.with_name("moved.sqlite3")
            os.rename(database, moved)
            assert _ready(client) == (
                503,
                {"vault": "ok", "vault_login": "ok", "index": "index_unavailable"},
                "3",
            )
            os.rename(moved, database)
            assert _ready(client) == (
                200,
                {"vault": "ok", "vault_login": "ok", "index": "ok"},
                None,
            )
        return
    # PostgreSQL behind a proxy that the test closes (connections dropped, new ones refused).
    url = make_url(index_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        through_proxy = url.set(host="127.0.0.1", port=proxy.port)
        settings = settings.model_copy(
            update={"index_url": SecretStr(through_proxy.render_as_string(hide_password=False))}
        )
        with TestClient(create_app(settings)) as client:
            assert _ready(client)[0] == 200
            proxy.close()
            assert _ready(client) == (
                503,
                {"vault": "ok", "vault_login": "ok", "index": "index_unavailable"},
                "3",
            )
            proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432, port=proxy.port).start()
            assert _ready(client) == (
                200,
                {"vault": "ok", "vault_login": "ok", "index": "ok"},
                None,
            )
    finally:
        proxy.close()
