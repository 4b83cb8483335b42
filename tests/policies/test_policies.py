"""The shipped policies, loaded into the real OpenBao and proven with real tokens.

The facade runs its whole flow (create, get, patch, resolve, list, delete) with a token that has
the facade policy and nothing else, not even `default`; `vaultauth reconcile --repair` runs with
the reconcile policy alone. A consumer token reads
the integrations it was granted and gets 403 from Vault for everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import hvac
import hvac.exceptions
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from tests.support.bao import DevBao
from tests.support.facade import settings_env
from tests.support.oauth import run_token_server
from tests.support.upstream import run_upstream
from vaultauth.api import create_app
from vaultauth.cli import app
from vaultauth.client import AccessDenied, FacadeOnly, IntegrationAuth, VaultResolver
from vaultauth.policies import render_consumer, render_facade, render_reconcile
from vaultauth.settings import Settings
from vaultauth.wiring import Runtime


def token_with(vault_client: hvac.Client, name: str, hcl: str) -> str:
    """A new token whose only policy is `hcl` (no `default` policy either)."""
    vault_client.sys.create_or_update_policy(name=name, policy=hcl)
    created = vault_client.auth.token.create(policies=[name], no_default_policy=True, ttl="10m")
    token: str = created["auth"]["client_token"]
    return token


@pytest.fixture
def facade_token(vault_client: hvac.Client, settings: Settings) -> str:
    hcl = render_facade(mount=settings.vault_mount, prefix=settings.vault_prefix)
    return token_with(vault_client, f"vaultauth-facade-{settings.vault_prefix}", hcl)


@pytest.fixture
def facade(
    settings: Settings, facade_token: str, make_key: Callable[..., str]
) -> Iterator[TestClient]:
    """The facade with the facade-policy token instead of the root token."""
    restricted = settings.model_copy(update={"vault_token": SecretStr(facade_token)})
    with TestClient(create_app(restricted), raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = make_key()
        yield client


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def test_the_whole_facade_flow_needs_only_the_facade_policy(
    facade: TestClient, facade_token: str, vault_client: hvac.Client, settings: Settings
) -> None:
    runtime = runtime_of(facade)
    assert runtime.vault_login is not None
    assert runtime.vault_login.current_token() == facade_token

    base = "/v1/integrations/intg_flow/auth"
    bodies: list[dict[str, Any]] = [
        {"authType": "BEARER_TOKEN", "token": "t1"},
        {"authType": "BASIC_AUTH", "username": "u", "password": "p"},
        {"authType": "API_KEY", "apiKey": {"key": "k", "value": "v", "position": "query"}},
        {"authType": "NO_AUTH", "headers": {"Accept": "application/json"}},
    ]
    ids = [ok(facade.post(base, json=body))["authId"] for body in bodies]
    bearer = ids[0]
    assert ok(facade.get(f"{base}/{bearer}"))["version"] == 1
    ok(
        facade.patch(
            f"{base}/{bearer}", json={"token": "t2", "headers": [{"key": "A", "value": "b"}]}
        )
    )
    resolved = ok(facade.post(f"{base}/{bearer}/resolve"))
    assert resolved["headers"] == {"A": "b", "Authorization": "Bearer t2"}
    assert resolved["version"] == 2
    listed = ok(facade.get(base))
    assert sorted(r["authId"] for r in listed["data"]) == sorted(ids)
    ok(facade.delete(f"{base}/{ids[1]}"), 204)
    assert facade.get(f"{base}/{ids[1]}").status_code == 404


def test_reconcile_runs_under_the_reconcile_policy_alone(
    vault_client: hvac.Client,
    settings: Settings,
    facade_token: str,
    vault: DevBao,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hcl = render_reconcile(mount=settings.vault_mount, prefix=settings.vault_prefix)
    reconcile_token = token_with(vault_client, f"vaultauth-reconcile-{settings.vault_prefix}", hcl)
    # A secret without a record (planted by root) is found and destroyed ...
    orphan = f"{settings.vault_prefix}/acme/integrations/intg_flow/auth/auth_orphan0000001"
    vault_client.secrets.kv.v2.create_or_update_secret(
        path=orphan, secret={"authType": "NO_AUTH"}, mount_point=settings.vault_mount
    )
    for name, value in settings_env(settings, Path(vault.workdir or "/tmp")).items():
        if name.startswith("VAULTAUTH_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("VAULTAUTH_VAULT_TOKEN", reconcile_token)
    result = CliRunner().invoke(app, ["reconcile", "--repair", "--min-age", "0"])
    assert result.exit_code == 0, result.output
    assert "secret_without_record" in result.output
    with pytest.raises(hvac.exceptions.InvalidPath):
        vault_client.secrets.kv.v2.read_secret_metadata(
            path=orphan, mount_point=settings.vault_mount
        )
    # ... which the facade's own token could not have done: it may not list.
    restricted = hvac.Client(url=vault.addr, token=facade_token, timeout=5)
    with pytest.raises(hvac.exceptions.Forbidden):
        restricted.secrets.kv.v2.list_secrets(
            path=settings.vault_prefix, mount_point=settings.vault_mount
        )


def test_the_facade_token_reaches_nothing_outside_its_prefix(
    facade_token: str, vault: DevBao, vault_client: hvac.Client, settings: Settings
) -> None:
    vault_client.secrets.kv.v2.create_or_update_secret(
        path="elsewhere/secret", secret={"x": "y"}, mount_point=settings.vault_mount
    )
    restricted = hvac.Client(url=vault.addr, token=facade_token, timeout=5)
    kv = restricted.secrets.kv.v2
    mount = settings.vault_mount
    denied: list[Callable[[], object]] = [
        lambda: kv.read_secret_version(
            path="elsewhere/secret", mount_point=mount, raise_on_deleted_version=True
        ),
        lambda: kv.create_or_update_secret(path="elsewhere/new", secret={}, mount_point=mount),
        lambda: kv.list_secrets(path="", mount_point=mount),
        lambda: kv.read_secret_metadata(path="elsewhere/secret", mount_point=mount),
        lambda: kv.delete_metadata_and_all_versions(path="elsewhere/secret", mount_point=mount),
        lambda: restricted.sys.read_policy("default"),
        lambda: restricted.sys.list_mounted_secrets_engines(),
        lambda: restricted.auth.token.create(policies=["root"]),
    ]
    for call in denied:
        with pytest.raises(hvac.exceptions.Forbidden):
            call()
    # nor a plain DELETE of a data path (soft delete) inside its prefix
    inside = f"{settings.vault_prefix}/acme/integrations/i/auth/auth_x"
    kv.create_or_update_secret(path=inside, secret={"a": "b"}, mount_point=mount, cas=0)
    with pytest.raises(hvac.exceptions.Forbidden):
        kv.delete_latest_version_of_secret(path=inside, mount_point=mount)
    restricted.adapter.close()


# --- the consumer policy --------------------------------------------------------------------


@pytest.fixture
def records(api: TestClient, make_key: Callable[..., str]) -> dict[str, str]:
    """acme/intg_a (granted), acme/intg_b, globex/intg_a: one bearer auth each."""
    globex = {"X-API-Key": make_key("globex")}

    def create(integration: str, token: str, headers: dict[str, str] | None = None) -> str:
        body = {"authType": "BEARER_TOKEN", "token": token}
        response = api.post(f"/v1/integrations/{integration}/auth", json=body, headers=headers)
        assert response.status_code == 200, response.text
        auth_id: str = response.json()["authId"]
        return auth_id

    return {
        "granted": create("intg_a", "cnry-granted-1"),
        "other_integration": create("intg_b", "cnry-other-2"),
        "other_tenant": create("intg_a", "cnry-globex-3", globex),
    }


@pytest.fixture
def consumer_token(vault_client: hvac.Client, settings: Settings) -> str:
    hcl = render_consumer(
        tenant="acme",
        integrations=["intg_a"],
        mount=settings.vault_mount,
        prefix=settings.vault_prefix,
    )
    return token_with(vault_client, f"vaultauth-consumer-{settings.vault_prefix}", hcl)


def resolver(vault: DevBao, token: str, settings: Settings, tenant: str = "acme") -> VaultResolver:
    return VaultResolver(
        vault.addr,
        token,
        tenant=tenant,
        mount=settings.vault_mount,
        prefix=settings.vault_prefix,
    )


def test_a_consumer_reads_what_it_was_granted(
    records: dict[str, str], consumer_token: str, vault: DevBao, settings: Settings
) -> None:
    with run_upstream() as upstream:
        auth = IntegrationAuth.from_vault(
            vault.addr,
            consumer_token,
            "intg_a",
            records["granted"],
            tenant="acme",
            mount=settings.vault_mount,
            prefix=settings.vault_prefix,
        )
        with httpx.Client(auth=auth) as http:
            assert http.get(upstream.url).status_code == 200
        auth.close()
    assert upstream.last.headers["authorization"] == "Bearer cnry-granted-1"


def test_a_consumer_is_denied_everything_else(
    records: dict[str, str], consumer_token: str, vault: DevBao, settings: Settings
) -> None:
    acme = resolver(vault, consumer_token, settings)
    globex = resolver(vault, consumer_token, settings, tenant="globex")
    for resolve in (
        lambda: acme.resolve("intg_b", records["other_integration"]),
        lambda: globex.resolve("intg_a", records["other_tenant"]),
    ):
        with pytest.raises(AccessDenied) as caught:
            resolve()
        assert (caught.value.status, caught.value.source) == (403, "vault")
    acme.close()
    globex.close()

    mount, prefix = settings.vault_mount, settings.vault_prefix
    granted = f"{prefix}/acme/integrations/intg_a/auth/{records['granted']}"
    others = f"{prefix}/acme/integrations/intg_b/auth/{records['other_integration']}"
    attempts = [
        ("POST", f"{mount}/data/{granted}", {"data": {"token": "x"}}),  # write its own
        ("POST", f"{mount}/data/{prefix}/acme/integrations/intg_a/auth/auth_new", {"data": {}}),
        ("DELETE", f"{mount}/data/{granted}", None),
        ("LIST", f"{mount}/metadata/{prefix}/acme/integrations/intg_a/auth", None),
        ("LIST", f"{mount}/metadata/{prefix}/acme/integrations", None),
        ("LIST", f"{mount}/metadata/{prefix}", None),
        ("GET", f"{mount}/metadata/{granted}", None),
        ("GET", f"{mount}/metadata/{others}", None),
        ("DELETE", f"{mount}/metadata/{granted}", None),
        ("GET", f"{mount}/data/{others}", None),
        (
            "GET",
            f"{mount}/data/{prefix}/globex/integrations/intg_a/auth/{records['other_tenant']}",
            None,
        ),
        ("GET", "sys/policies/acl", None),
    ]
    with httpx.Client(
        base_url=f"{vault.addr}/v1", headers={"X-Vault-Token": consumer_token}
    ) as raw:
        for method, path, body in attempts:
            response = raw.request(method, f"/{path}", json=body)
            assert response.status_code == 403, (method, path, response.status_code)
        # and what it was granted, at any version
        assert raw.get(f"/{mount}/data/{granted}", params={"version": 1}).status_code == 200


# --- managed OAuth 2.0 records --------------------------------------------------------------


def test_oauth_tokens_need_only_the_facade_policy(
    facade: TestClient, vault_client: hvac.Client, settings: Settings
) -> None:
    """Create, resolve (the token document and its lease), PATCH (the token discarded),
    delete (the token document destroyed): all under the facade policy alone."""
    base = "/v1/integrations/intg_oauth/auth"
    with run_token_server(client_secret="cs-1") as endpoint:
        oauth2 = {"tokenUrl": endpoint.url, "clientId": endpoint.client_id, "clientSecret": "cs-1"}
        created = ok(
            facade.post(base, json={"authType": "OAUTH2_CLIENT_CREDENTIALS", "oauth2": oauth2})
        )
        item = f"{base}/{created['authId']}"
        assert ok(facade.post(f"{item}/resolve"))["headers"]["Authorization"].startswith("Bearer ")
        endpoint.client_secret = "cs-2"
        ok(facade.patch(item, json={"oauth2": {**oauth2, "clientSecret": "cs-2"}}))
        assert ok(facade.post(f"{item}/resolve"))["headers"]["Authorization"] == (
            f"Bearer {endpoint.issued[-1]}"
        )
        ok(facade.delete(item), 204)
    assert endpoint.count() == 2
    token_document = (
        f"{settings.vault_prefix}/acme/integrations/intg_oauth/auth/{created['authId']}/oauth-token"
    )
    with pytest.raises(hvac.exceptions.InvalidPath):
        vault_client.secrets.kv.v2.read_secret_metadata(
            path=token_document, mount_point=settings.vault_mount
        )


def test_a_consumer_can_read_neither_an_oauth_record_nor_its_token(
    api: TestClient, consumer_token: str, vault: DevBao, settings: Settings
) -> None:
    """The consumer policy reaches the record's document (`auth/+`), and VaultResolver refuses
    it with FacadeOnly; the token document beside it (`auth/<id>/oauth-token`) is out of reach."""
    with run_token_server(client_secret="cs-1") as endpoint:
        oauth2 = {"tokenUrl": endpoint.url, "clientId": endpoint.client_id, "clientSecret": "cs-1"}
        created = ok(
            api.post(
                "/v1/integrations/intg_a/auth",
                json={"authType": "OAUTH2_CLIENT_CREDENTIALS", "oauth2": oauth2},
            )
        )
        ok(api.post(f"/v1/integrations/intg_a/auth/{created['authId']}/resolve"))
    acme = resolver(vault, consumer_token, settings)
    with pytest.raises(FacadeOnly) as caught:
        acme.resolve("intg_a", created["authId"])
    assert "through the facade" in caught.value.message
    acme.close()
    path = f"{settings.vault_prefix}/acme/integrations/intg_a/auth/{created['authId']}/oauth-token"
    with httpx.Client(
        base_url=f"{vault.addr}/v1", headers={"X-Vault-Token": consumer_token}
    ) as raw:
        assert raw.get(f"/{settings.vault_mount}/data/{path}").status_code == 403
