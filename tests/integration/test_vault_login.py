"""How the facade logs in to Vault: AppRole with short-lived tokens on the real server, a
renewable token, a token file, a revoked token, Vault down at startup; Kubernetes against a
local fake (OpenBao's kubernetes auth needs a real Kubernetes API server to check the JWT)."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hvac
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.support.processes import free_port, wait_until
from tests.support.proxy import TcpProxy
from vaultauth.api import create_app
from vaultauth.policies import render_facade
from vaultauth.settings import Settings
from vaultauth.store.vault_login import VaultLogin
from vaultauth.wiring import Runtime, build_secret_store, build_vault_login

INTG = "intg_login"


def login_of(client: TestClient) -> VaultLogin:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert runtime.vault_login is not None
    return runtime.vault_login


@pytest.fixture
def facade_policy(vault_client: hvac.Client, settings: Settings) -> str:
    name = f"vaultauth-facade-{settings.vault_prefix}"
    hcl = render_facade(mount=settings.vault_mount, prefix=settings.vault_prefix)
    vault_client.sys.create_or_update_policy(name=name, policy=hcl)
    return name


@dataclass
class AppRole:
    mount: str
    role_id: str
    secret_id: str


@pytest.fixture
def approle(vault_client: hvac.Client, facade_policy: str) -> Iterator[AppRole]:
    """An AppRole whose tokens live 3 s and at most 6 s, with the facade policy."""
    mount = f"approle-{secrets.token_hex(4)}"
    vault_client.sys.enable_auth_method("approle", path=mount)
    vault_client.auth.approle.create_or_update_approle(
        role_name="facade",
        token_ttl="3s",
        token_max_ttl="6s",
        token_policies=[facade_policy],
        mount_point=mount,
    )
    role_id = vault_client.auth.approle.read_role_id("facade", mount_point=mount)["data"]["role_id"]
    secret_id = vault_client.auth.approle.generate_secret_id("facade", mount_point=mount)["data"][
        "secret_id"
    ]
    yield AppRole(mount=mount, role_id=role_id, secret_id=secret_id)
    vault_client.sys.disable_auth_method(path=mount)


def approle_settings(settings: Settings, approle: AppRole, tmp_path: Path) -> Settings:
    secret_id_file = tmp_path / "secret-id"
    secret_id_file.write_text(approle.secret_id + "\n")
    return settings.model_copy(
        update={
            "vault_token": None,
            "vault_auth_method": "approle",
            "vault_approle_role_id": SecretStr(approle.role_id),
            "vault_approle_secret_id_file": secret_id_file,
            "vault_approle_mount": approle.mount,
        }
    )


def work(client: TestClient, step: int, auth_id: str) -> int:
    """One request of a rotating mix that touches Vault (write, read, resolve) and the index."""
    base = f"/v1/integrations/{INTG}/auth"
    match step % 4:
        case 0:
            return client.patch(f"{base}/{auth_id}", json={"token": f"t{step}"}).status_code
        case 1:
            return client.post(f"{base}/{auth_id}/resolve").status_code
        case 2:
            response = client.post(base, json={"authType": "BEARER_TOKEN", "token": f"n{step}"})
            return response.status_code
        case _:
            return client.get(f"{base}/{auth_id}").status_code


def test_approle_with_short_tokens_keeps_serving_across_several_ttls(
    settings: Settings, approle: AppRole, tmp_path: Path, make_key: Callable[..., str]
) -> None:
    app = create_app(approle_settings(settings, approle, tmp_path))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = make_key()
        login = login_of(client)
        created = client.post(
            f"/v1/integrations/{INTG}/auth", json={"authType": "BEARER_TOKEN", "token": "t"}
        )
        auth_id = created.json()["authId"]
        statuses: list[int] = []
        tokens: set[str] = set()
        deadline = time.monotonic() + 15  # five TTLs, two and a half max TTLs
        step = 0
        while time.monotonic() < deadline:
            statuses.append(work(client, step, auth_id))
            tokens.add(login.current_token())
            step += 1
            time.sleep(0.05)
    failed = [s for s in statuses if not 200 <= s < 300]
    assert not failed, f"{len(failed)} of {len(statuses)} requests failed: {sorted(set(failed))}"
    assert len(statuses) > 50
    assert login.stats.logins >= 3, login.stats  # logged in again as each token neared max TTL
    assert login.stats.renewals >= 2, login.stats
    assert login.stats.forced_logins == 0, login.stats  # no request ever met a dead token
    assert len(tokens) >= 3


def test_a_token_revoked_out_of_band_is_replaced_within_the_request(
    settings: Settings,
    approle: AppRole,
    tmp_path: Path,
    make_key: Callable[..., str],
    vault_client: hvac.Client,
) -> None:
    app = create_app(approle_settings(settings, approle, tmp_path))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = make_key()
        login = login_of(client)
        body = {"authType": "BEARER_TOKEN", "token": "t"}
        auth_id = client.post(f"/v1/integrations/{INTG}/auth", json=body).json()["authId"]
        logins = login.stats.logins
        vault_client.auth.token.revoke(login.current_token())
        response = client.post(f"/v1/integrations/{INTG}/auth/{auth_id}/resolve")
        assert response.status_code == 200, response.text
        assert login.stats.logins == logins + 1
        assert login.stats.forced_logins == 1


def test_a_renewable_token_is_renewed_before_it_expires(
    settings: Settings,
    facade_policy: str,
    vault_client: hvac.Client,
    make_key: Callable[..., str],
) -> None:
    token = vault_client.auth.token.create(policies=[facade_policy], ttl="3s", renewable=True)[
        "auth"
    ]["client_token"]
    app = create_app(settings.model_copy(update={"vault_token": SecretStr(token)}))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = make_key()
        login = login_of(client)
        body = {"authType": "NO_AUTH"}
        statuses = []
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            statuses.append(client.post(f"/v1/integrations/{INTG}/auth", json=body).status_code)
            time.sleep(0.2)
    assert set(statuses) == {200}
    assert login.stats.renewals >= 3, login.stats
    assert login.stats.forced_logins == 0, login.stats
    assert login.stats.logins == 1  # the token itself, looked up once


def test_a_token_file_is_read_again_when_its_token_is_refused(
    settings: Settings,
    facade_policy: str,
    vault_client: hvac.Client,
    make_key: Callable[..., str],
    tmp_path: Path,
) -> None:
    def new_token() -> str:
        created = vault_client.auth.token.create(policies=[facade_policy], ttl="1h")
        token: str = created["auth"]["client_token"]
        return token

    first, second = new_token(), new_token()
    token_file = tmp_path / "vault-token"
    token_file.write_text(first)
    configured = settings.model_copy(update={"vault_token": None, "vault_token_file": token_file})
    with TestClient(create_app(configured), raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = make_key()
        base = f"/v1/integrations/{INTG}/auth"
        assert client.post(base, json={"authType": "NO_AUTH"}).status_code == 200
        token_file.write_text(second)  # e.g. Vault Agent wrote a new one ...
        vault_client.auth.token.revoke(first)  # ... and the old one is gone
        assert client.post(base, json={"authType": "NO_AUTH"}).status_code == 200
        assert login_of(client).current_token() == second


def test_the_facade_starts_while_vault_is_down_and_serves_once_it_is_up(
    settings: Settings,
    approle: AppRole,
    tmp_path: Path,
    make_key: Callable[..., str],
    vault: Any,
) -> None:
    port = free_port(1)
    vault_port = int(urlsplit(vault.addr).port or 0)
    configured = approle_settings(settings, approle, tmp_path).model_copy(
        update={"vault_addr": f"http://127.0.0.1:{port}"}
    )
    with TestClient(create_app(configured), raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = make_key()
        base = f"/v1/integrations/{INTG}/auth"
        down = client.post(base, json={"authType": "NO_AUTH"})
        assert down.status_code == 503
        assert "Retry-After" in down.headers
        proxy = TcpProxy("127.0.0.1", vault_port, port=port).start()
        try:
            up = client.post(base, json={"authType": "NO_AUTH"})
            assert up.status_code == 200, up.text
        finally:
            proxy.close()


def test_readyz_is_503_while_the_facade_cannot_log_in_to_a_healthy_vault(
    settings: Settings, approle: AppRole, tmp_path: Path
) -> None:
    wrong = AppRole(mount=approle.mount, role_id=approle.role_id, secret_id="not-the-secret-id")
    configured = approle_settings(settings, wrong, tmp_path)
    with TestClient(create_app(configured), raise_server_exceptions=False) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {
            "vault": "ok",
            "vault_login": "vault_login_failed",
            "index": "ok",
        }
        (tmp_path / "secret-id").write_text(approle.secret_id + "\n")  # the right one, now
        wait_until(lambda: client.get("/readyz").status_code == 200, 30, "a login")


# --- Kubernetes, against a fake Vault -------------------------------------------------------


@dataclass
class FakeVault:
    """Answers Kubernetes logins (2 s tokens), renewals (capped to 1 s) and KV reads."""

    url: str = ""
    logins: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def fake_vault() -> Iterator[FakeVault]:
    fake = FakeVault()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = urlsplit(self.path).path
            with lock:
                fake.requests.append((self.command, path, headers))
                if path == "/v1/auth/k8s-test/login":
                    fake.logins.append({"body": body, "headers": headers})
                    token = f"k8s-token-{len(fake.logins)}"
                    auth = {"client_token": token, "lease_duration": 2, "renewable": True}
                    return self._answer(200, {"auth": auth})
            if path == "/v1/auth/token/renew-self":
                auth = {"client_token": headers.get("x-vault-token"), "lease_duration": 1}
                return self._answer(200, {"auth": {**auth, "renewable": True}})
            if path.startswith("/v1/secret/data/"):
                data = {"data": {"authType": "NO_AUTH"}, "metadata": {"version": 1}}
                return self._answer(200, {"data": data})
            return self._answer(404, {"errors": []})

        do_GET = do_POST = do_PUT = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_kubernetes_login_renewal_and_namespace(
    fake_vault: FakeVault, settings: Settings, tmp_path: Path
) -> None:
    jwt_file = tmp_path / "token"
    jwt_file.write_text("jwt-one\n")
    configured = settings.model_copy(
        update={
            "vault_addr": fake_vault.url,
            "vault_token": None,
            "vault_kubernetes_role": "vaultauth",
            "vault_kubernetes_jwt_file": jwt_file,
            "vault_kubernetes_mount": "k8s-test",
            "vault_namespace": "team-a",
        }
    )
    login = build_vault_login(configured)
    store = build_secret_store(configured, login)
    login.start()

    async def reads() -> None:
        try:
            assert await store.read("p/acme/integrations/i/auth/a", 1) == {"authType": "NO_AUTH"}
            jwt_file.write_text("jwt-two\n")  # the kubelet rotated the projected token
            deadline = time.monotonic() + 10
            while len(fake_vault.logins) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert await store.read("p/acme/integrations/i/auth/a", 1) == {"authType": "NO_AUTH"}
        finally:
            await store.close()

    try:
        asyncio.run(reads())
    finally:
        login.close()

    first, second = fake_vault.logins[:2]
    assert first["body"] == {"role": "vaultauth", "jwt": "jwt-one"}
    assert second["body"] == {"role": "vaultauth", "jwt": "jwt-two"}
    assert first["headers"].get("x-vault-namespace") == "team-a"
    assert "x-vault-token" not in first["headers"]
    renewals = [r for r in fake_vault.requests if r[1] == "/v1/auth/token/renew-self"]
    assert renewals
    assert renewals[0][2]["x-vault-token"] == "k8s-token-1"
    reads = [r for r in fake_vault.requests if r[1].startswith("/v1/secret/data/")]
    assert [r[2]["x-vault-token"] for r in reads] == ["k8s-token-1", "k8s-token-2"]
    assert all(r[2]["x-vault-namespace"] == "team-a" for r in reads)
    assert login.stats.failures == 0
