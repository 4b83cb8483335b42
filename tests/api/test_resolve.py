"""POST .../resolve: the answer's exact shape, no-store, scopes, tenants, and the resolve cache."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from typing import Any

import hvac
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import CACHE_STALENESS_BOUND as STALENESS_BOUND
from tests.support.kv import KvReader
from tests.support.processes import seen_within
from vaultauth.api import create_app
from vaultauth.keys import Scope
from vaultauth.settings import Settings

INTG = "intg_resolve"
CANARY = "cnry-resolve-5Kd"
RESOLVE_KEYS = {
    "authId",
    "integrationId",
    "authType",
    "version",
    "headers",
    "query",
    "allowedHosts",
}


def create(api: TestClient, body: dict[str, Any], integration: str = INTG) -> str:
    response = api.post(f"/v1/integrations/{integration}/auth", json=body)
    assert response.status_code == 200, response.text
    auth_id: str = response.json()["authId"]
    return auth_id


def resolve_path(auth_id: str, integration: str = INTG) -> str:
    return f"/v1/integrations/{integration}/auth/{auth_id}/resolve"


@pytest.mark.parametrize(
    ("body", "headers", "query"),
    [
        (
            {"authType": "BEARER_TOKEN", "token": CANARY},
            {"Authorization": f"Bearer {CANARY}"},
            {},
        ),
        (
            {"authType": "basic_auth", "username": "u", "password": CANARY},
            {"Authorization": "Basic " + base64.b64encode(f"u:{CANARY}".encode()).decode()},
            {},
        ),
        (
            {"authType": "API_KEY", "apiKey": {"key": "X-Key", "value": CANARY}},
            {"X-Key": CANARY},
            {},
        ),
        (
            {"authType": "API_KEY", "apiKey": {"key": "k", "value": CANARY, "position": "query"}},
            {},
            {"k": CANARY},
        ),
        ({"authType": "NO_AUTH"}, {}, {}),
    ],
    ids=["bearer", "basic", "api_key_header", "api_key_query", "no_auth"],
)
def test_the_answer_has_exactly_the_documented_shape(
    api: TestClient, body: dict[str, Any], headers: dict[str, str], query: dict[str, str]
) -> None:
    static = [{"key": "Accept", "value": "application/json"}]
    auth_id = create(api, {**body, "headers": static})
    response = api.post(resolve_path(auth_id))
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert set(response.json()) == RESOLVE_KEYS
    assert response.json() == {
        "authId": auth_id,
        "integrationId": INTG,
        "authType": body["authType"].upper(),
        "version": 1,
        "headers": {"Accept": "application/json", **headers},
        "query": query,
        "allowedHosts": None,
    }


def test_credentials_read_is_required(api: TestClient, make_key: Callable[..., str]) -> None:
    auth_id = create(api, {"authType": "BEARER_TOKEN", "token": CANARY})
    for scopes in ([Scope.AUTH_READ], [Scope.AUTH_READ, Scope.AUTH_WRITE]):
        response = api.post(resolve_path(auth_id), headers={"X-API-Key": make_key("acme", scopes)})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
        assert CANARY not in response.text
    assert api.post(resolve_path(auth_id), headers={"X-API-Key": ""}).status_code == 401
    only_credentials = make_key("acme", [Scope.CREDENTIALS_READ])
    response = api.post(resolve_path(auth_id), headers={"X-API-Key": only_credentials})
    assert response.status_code == 200
    # ... and credentials:read alone does not reach the metadata API
    got = api.get(
        f"/v1/integrations/{INTG}/auth/{auth_id}", headers={"X-API-Key": only_credentials}
    )
    assert got.status_code == 403


def test_another_tenant_gets_404(api: TestClient, make_key: Callable[..., str]) -> None:
    auth_id = create(api, {"authType": "BEARER_TOKEN", "token": CANARY})
    other = {"X-API-Key": make_key("globex")}
    response = api.post(resolve_path(auth_id), headers=other)
    assert response.status_code == 404
    assert CANARY not in response.text
    # the same integration id in the other tenant is a different, empty namespace
    theirs = api.post(
        f"/v1/integrations/{INTG}/auth", json={"authType": "NO_AUTH"}, headers=other
    ).json()["authId"]
    assert api.post(resolve_path(theirs)).status_code == 404
    assert api.post(resolve_path(theirs), headers=other).status_code == 200


def test_missing_and_bad_ids(api: TestClient) -> None:
    assert api.post(resolve_path("auth_doesnotexist")).status_code == 404
    assert api.post(resolve_path("auth_x", integration="bad.id")).status_code == 422


def test_the_body_never_reaches_the_logs(api: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    auth_id = create(api, {"authType": "BEARER_TOKEN", "token": CANARY})
    for _ in range(2):
        assert api.post(resolve_path(auth_id)).status_code == 200
    assert caplog.records  # the facade does log, just never the secret
    assert CANARY not in "\n".join(record.getMessage() for record in caplog.records)


# --- the resolve cache ------------------------------------------------------------------


@pytest.fixture
def replicas(settings: Settings, make_key: Callable[..., str]) -> Iterator[list[TestClient]]:
    """Two facades on the same Vault and index, each with its own resolve cache."""
    key = make_key()
    with (
        TestClient(create_app(settings), raise_server_exceptions=False) as first,
        TestClient(create_app(settings), raise_server_exceptions=False) as second,
    ):
        for client in (first, second):
            client.headers["X-API-Key"] = key
        yield [first, second]


def test_a_cached_resolve_does_not_read_vault(
    api: TestClient, vault_client: hvac.Client, kv: KvReader
) -> None:
    auth_id = create(api, {"authType": "BEARER_TOKEN", "token": CANARY})
    assert api.post(resolve_path(auth_id)).status_code == 200
    # Remove the secret behind the facade's back: only the cache can still answer.
    vault_client.secrets.kv.v2.delete_metadata_and_all_versions(
        path=kv.path(INTG, auth_id), mount_point=kv.mount
    )
    response = api.post(resolve_path(auth_id))
    assert response.status_code == 200
    assert response.json()["headers"]["Authorization"] == f"Bearer {CANARY}"


def test_with_the_cache_off_every_resolve_reads_vault(
    settings: Settings, make_key: Callable[..., str], vault_client: hvac.Client, kv: KvReader
) -> None:
    uncached = settings.model_copy(update={"resolve_cache_ttl": 0})
    with TestClient(create_app(uncached), raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = make_key()
        auth_id = create(client, {"authType": "BEARER_TOKEN", "token": CANARY})
        assert client.post(resolve_path(auth_id)).status_code == 200
        vault_client.secrets.kv.v2.delete_metadata_and_all_versions(
            path=kv.path(INTG, auth_id), mount_point=kv.mount
        )
        assert client.post(resolve_path(auth_id)).status_code == 404


def _within_bound(replica: TestClient, auth_id: str, seen: Callable[[Response], bool]) -> None:
    """`replica` answers resolve in a way `seen` accepts within the staleness bound."""
    seen_within(
        lambda: seen(replica.post(resolve_path(auth_id))),
        STALENESS_BOUND,
        "another replica's change",
    )


def test_an_update_or_delete_through_another_replica_is_seen_within_the_bound(
    replicas: list[TestClient],
) -> None:
    first, second = replicas
    auth_id = create(first, {"authType": "BEARER_TOKEN", "token": "cnry-old-1"})
    for replica in replicas:  # both have it cached now
        assert replica.post(resolve_path(auth_id)).json()["version"] == 1

    patched = second.patch(f"/v1/integrations/{INTG}/auth/{auth_id}", json={"token": "cnry-new-2"})
    assert patched.status_code == 200
    _within_bound(first, auth_id, lambda r: r.json()["version"] == 2)
    seen_by_first = first.post(resolve_path(auth_id)).json()
    assert seen_by_first["headers"]["Authorization"] == "Bearer cnry-new-2"

    assert second.delete(f"/v1/integrations/{INTG}/auth/{auth_id}").status_code == 204
    _within_bound(first, auth_id, lambda r: r.status_code == 404)


def test_the_replica_that_made_a_change_sees_it_at_once(replicas: list[TestClient]) -> None:
    first, _ = replicas
    auth_id = create(first, {"authType": "BEARER_TOKEN", "token": "cnry-old-1"})
    assert first.post(resolve_path(auth_id)).json()["version"] == 1
    first.patch(f"/v1/integrations/{INTG}/auth/{auth_id}", json={"token": "cnry-new-2"})
    assert first.post(resolve_path(auth_id)).json()["version"] == 2
    assert first.delete(f"/v1/integrations/{INTG}/auth/{auth_id}").status_code == 204
    assert first.post(resolve_path(auth_id)).status_code == 404
