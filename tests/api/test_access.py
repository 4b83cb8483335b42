"""Tenants see only their own records; each operation needs its scope."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.support.kv import KvReader
from vaultauth.keys import Scope

INTG = "intg_shared"
BASE = f"/v1/integrations/{INTG}/auth"


@pytest.fixture
def other(make_key: Callable[..., str]) -> dict[str, str]:
    """Headers of an all-scopes key of another tenant."""
    return {"X-API-Key": make_key(tenant="globex")}


def test_another_tenant_s_record_is_a_404(
    api: TestClient, other: dict[str, str], kv: KvReader
) -> None:
    created = api.post(BASE, json={"authType": "BEARER_TOKEN", "token": "acme-token"})
    auth_id = created.json()["authId"]
    path = f"{BASE}/{auth_id}"
    for method, body in [("GET", None), ("PATCH", {"token": "stolen"}), ("DELETE", None)]:
        response = api.request(method, path, json=body, headers=other)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["error"]["code"] == "not_found"
        # Indistinguishable from a record that does not exist.
        missing = api.request(method, f"{BASE}/auth_000000000000", json=body, headers=other)
        assert missing.json() == response.json()
    assert api.post(f"{path}/resolve", headers=other).status_code == 404
    assert api.get(BASE, headers=other).json() == {"data": [], "nextCursor": None}
    # Untouched for its owner, in the index and in Vault.
    assert api.get(path).json() == created.json()
    assert kv.current_version(INTG, auth_id) == 1
    assert kv.data(INTG, auth_id)["token"] == "acme-token"
    assert kv.paths("globex") == []


def test_tenants_keep_their_secrets_under_their_own_prefix(
    api: TestClient, other: dict[str, str], kv: KvReader
) -> None:
    mine = api.post(BASE, json={"authType": "NO_AUTH"}).json()
    theirs = api.post(BASE, json={"authType": "NO_AUTH"}, headers=other).json()
    assert kv.paths("acme") == [kv.path(INTG, mine["authId"], "acme")]
    assert kv.paths("globex") == [kv.path(INTG, theirs["authId"], "globex")]
    assert [r["authId"] for r in api.get(BASE).json()["data"]] == [mine["authId"]]
    assert [r["authId"] for r in api.get(BASE, headers=other).json()["data"]] == [theirs["authId"]]


@pytest.mark.parametrize(
    ("scopes", "allowed"),
    [
        ([Scope.AUTH_READ], {"list", "get"}),
        ([Scope.AUTH_WRITE], {"create", "patch", "delete"}),
        ([Scope.CREDENTIALS_READ], {"resolve"}),
        ([Scope.AUTH_READ, Scope.CREDENTIALS_READ], {"list", "get", "resolve"}),
        (
            [Scope.AUTH_READ, Scope.AUTH_WRITE, Scope.CREDENTIALS_READ],
            {"list", "get", "create", "patch", "delete", "resolve"},
        ),
    ],
    ids=["read", "write", "credentials", "read+credentials", "all"],
)
def test_scopes(
    api: TestClient,
    make_key: Callable[..., str],
    kv: KvReader,
    scopes: list[Scope],
    allowed: set[str],
) -> None:
    auth_id = api.post(BASE, json={"authType": "BEARER_TOKEN", "token": "t"}).json()["authId"]
    headers = {"X-API-Key": make_key(scopes=scopes)}
    calls = {
        "list": ("GET", BASE, None),
        "get": ("GET", f"{BASE}/{auth_id}", None),
        "create": ("POST", BASE, {"authType": "NO_AUTH"}),
        "patch": ("PATCH", f"{BASE}/{auth_id}", {"token": "t2"}),
        "resolve": ("POST", f"{BASE}/{auth_id}/resolve", None),
        "delete": ("DELETE", f"{BASE}/{auth_id}", None),  # last: it removes the record
    }
    for name, (method, path, body) in calls.items():
        response = api.request(method, path, json=body, headers=headers)
        if name in allowed:
            assert response.status_code in (200, 204), (name, response.text)
        else:
            assert response.status_code == 403, (name, response.text)
            assert response.json()["error"]["code"] == "forbidden"
    expected_paths = [] if "delete" in allowed else [kv.path(INTG, auth_id)]
    created = 1 if "create" in allowed else 0
    assert len(kv.paths()) == len(expected_paths) + created
    if "delete" not in allowed:
        assert kv.current_version(INTG, auth_id) == (2 if "patch" in allowed else 1)
