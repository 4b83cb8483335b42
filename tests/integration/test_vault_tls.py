"""Vault over TLS with a private CA: VAULTAUTH_VAULT_CACERT makes it trusted, nothing else does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.support.bao import DevBao, start_dev_bao
from vaultauth.api import create_app
from vaultauth.settings import Settings


@pytest.fixture
def tls_vault() -> Iterator[DevBao]:
    """A `bao server -dev -dev-tls` whose certificate is signed by a CA generated for it."""
    server = start_dev_bao(tls=True)
    try:
        yield server
    finally:
        server.stop()


def _settings(settings: Settings, vault: DevBao, cacert: Path | None) -> Settings:
    return settings.model_copy(
        update={
            "vault_addr": vault.addr,
            "vault_token": SecretStr(vault.token),
            "vault_cacert": cacert,
        }
    )


def test_vault_signed_by_the_configured_ca_is_trusted(
    tls_vault: DevBao, settings: Settings, make_key: Callable[..., str]
) -> None:
    with TestClient(create_app(_settings(settings, tls_vault, tls_vault.ca_cert))) as client:
        client.headers["X-API-Key"] = make_key()
        created = client.post(
            "/v1/integrations/intg_tls/auth", json={"authType": "BEARER_TOKEN", "token": "t"}
        )
        assert created.status_code == 200, created.text
        resolved = client.post(f"/v1/integrations/intg_tls/auth/{created.json()['authId']}/resolve")
        assert resolved.json()["headers"] == {"Authorization": "Bearer t"}
        assert client.get("/readyz").status_code == 200


def test_without_the_ca_the_certificate_is_refused_with_a_503(
    tls_vault: DevBao, settings: Settings, make_key: Callable[..., str]
) -> None:
    app = create_app(_settings(settings, tls_vault, None))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = make_key()
        refused = client.post("/v1/integrations/intg_tls/auth", json={"authType": "NO_AUTH"})
        assert refused.status_code == 503
        assert refused.json()["error"]["code"].startswith("vault_")
        assert client.get("/readyz").status_code == 503
