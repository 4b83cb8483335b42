"""Vault over TLS with a private CA: VAULTAUTH_VAULT_CACERT makes it trusted, nothing else does."""

from __future__ import annotations

import os
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.support.processes import free_port, stop_process, wait_until
from vaultauth.api import create_app
from vaultauth.embedded import bao_binary
from vaultauth.settings import Settings

ROOT = "tls-root-token"


@pytest.fixture
def tls_vault(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A `bao server -dev -dev-tls` whose certificate is signed by a CA generated for it."""
    port = free_port()
    certs = tmp_path / "certs"
    certs.mkdir()
    with (tmp_path / "bao.log").open("wb") as log:
        process = subprocess.Popen(
            [
                bao_binary(),
                "server",
                "-dev",
                "-dev-tls",
                f"-dev-tls-cert-dir={certs}",
                f"-dev-root-token-id={ROOT}",
                f"-dev-listen-address=127.0.0.1:{port}",
                "-dev-no-store-token",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
            start_new_session=True,
        )
    ca = certs / "vault-ca.pem"
    addr = f"https://127.0.0.1:{port}"

    def healthy() -> bool:
        if not ca.exists():
            return False
        trust = ssl.create_default_context(cafile=str(ca))
        return httpx.get(f"{addr}/v1/sys/health", verify=trust, timeout=1).status_code == 200

    try:
        wait_until(healthy, 30, "bao -dev-tls")
        yield addr, ca
    finally:
        stop_process(process)


def _settings(settings: Settings, addr: str, cacert: Path | None) -> Settings:
    return settings.model_copy(
        update={"vault_addr": addr, "vault_token": SecretStr(ROOT), "vault_cacert": cacert}
    )


def test_vault_signed_by_the_configured_ca_is_trusted(
    tls_vault: tuple[str, Path], settings: Settings, make_key: Callable[..., str]
) -> None:
    addr, ca = tls_vault
    with TestClient(create_app(_settings(settings, addr, ca))) as client:
        client.headers["X-API-Key"] = make_key()
        created = client.post(
            "/v1/integrations/intg_tls/auth", json={"authType": "BEARER_TOKEN", "token": "t"}
        )
        assert created.status_code == 200, created.text
        resolved = client.post(f"/v1/integrations/intg_tls/auth/{created.json()['authId']}/resolve")
        assert resolved.json()["headers"] == {"Authorization": "Bearer t"}
        assert client.get("/readyz").status_code == 200


def test_without_the_ca_the_certificate_is_refused_with_a_503(
    tls_vault: tuple[str, Path], settings: Settings, make_key: Callable[..., str]
) -> None:
    addr, _ = tls_vault
    app = create_app(_settings(settings, addr, None))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = make_key()
        refused = client.post("/v1/integrations/intg_tls/auth", json={"authType": "NO_AUTH"})
        assert refused.status_code == 503
        assert refused.json()["error"]["code"].startswith("vault_")
        assert client.get("/readyz").status_code == 503
