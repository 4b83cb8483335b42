"""Each authType end to end: on the wire, and in Vault at the documented KV path."""

from __future__ import annotations

import re
from typing import Any

import hvac.exceptions
import pytest
from fastapi.testclient import TestClient

from tests.support.kv import KvReader

INTG = "intg_roundtrip"
BASE = f"/v1/integrations/{INTG}/auth"
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
AUTH_ID = re.compile(r"auth_[A-Za-z0-9]{12}")
RECORD_FIELDS = {
    "authId",
    "integrationId",
    "authType",
    "headers",
    "apiKey",
    "oauth2",
    "allowedHosts",
    "label",
    "expiresAt",
    "rotateAfter",
    "version",
    "createdAt",
    "updatedAt",
}

# Every credential field is sent every time: only the ones of the authType may be kept.
EVERY_FIELD: dict[str, Any] = {
    "token": "bearer-abc",
    "username": "basic-user",
    "password": "basic-pass",
    "apiKey": {"key": "X-Api-Key", "value": "apikey-123", "position": "header"},
}
HEADERS = [{"key": "Accept", "value": "application/json"}, {"key": "X-Trace", "value": "on"}]


def _check_record(body: dict[str, Any], auth_type: str, headers: list[dict[str, str]]) -> None:
    assert AUTH_ID.fullmatch(body["authId"])
    assert body["integrationId"] == INTG
    assert body["authType"] == auth_type
    assert body["headers"] == headers
    assert RFC3339_UTC.fullmatch(body["createdAt"])
    assert RFC3339_UTC.fullmatch(body["updatedAt"])
    assert set(body) <= RECORD_FIELDS, body
    assert body.get("apiKey") is None or set(body["apiKey"]) == {"key", "position"}
    for secret in ("bearer-abc", "basic-pass", "apikey-123", "new-token", "new-pass", "new-key"):
        assert secret not in str(body)


CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    # authType, stored on create, PATCH body, stored after PATCH, non-secret extras on the wire
    (
        "NO_AUTH",
        {},
        {"token": "new-token", "headers": [{"key": "Authorization", "value": "static"}]},
        {},
        {},
    ),
    (
        "BEARER_TOKEN",
        {"token": "bearer-abc"},
        {"token": "new-token", "password": "ignored"},
        {"token": "new-token"},
        {},
    ),
    (
        "BASIC_AUTH",
        {"username": "basic-user", "password": "basic-pass"},
        {"password": "new-pass", "token": "ignored"},
        {"username": "basic-user", "password": "new-pass"},
        {},
    ),
    (
        "API_KEY",
        {"apiKey": {"key": "X-Api-Key", "value": "apikey-123", "position": "header"}},
        {"apiKey": {"key": "api_key", "value": "new-key", "position": "query"}},
        {"apiKey": {"key": "api_key", "value": "new-key", "position": "query"}},
        {"apiKey": {"key": "X-Api-Key", "position": "header"}},
    ),
]


@pytest.mark.parametrize(
    ("auth_type", "stored", "patch", "stored_after", "extras"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_round_trip(
    api: TestClient,
    kv: KvReader,
    auth_type: str,
    stored: dict[str, Any],
    patch: dict[str, Any],
    stored_after: dict[str, Any],
    extras: dict[str, Any],
) -> None:
    # -- create: only the fields of the authType reach Vault ---------------------------------
    created = api.post(BASE, json={"authType": auth_type, **EVERY_FIELD, "headers": HEADERS})
    assert created.status_code == 200, created.text
    record = created.json()
    _check_record(record, auth_type, HEADERS)
    for name, value in extras.items():
        assert record[name] == value
    assert record["version"] == 1
    auth_id = record["authId"]

    document = kv.data(INTG, auth_id)
    assert document == {"format": "1", "authType": auth_type, "headers": HEADERS, **stored}
    assert kv.current_version(INTG, auth_id) == 1

    # -- get: the same record -----------------------------------------------------------------
    got = api.get(f"{BASE}/{auth_id}")
    assert got.status_code == 200
    assert got.json() == record

    # -- patch: a new KV version; the old one stays in the KV history -------------------------
    patched = api.patch(f"{BASE}/{auth_id}", json=patch)
    assert patched.status_code == 200, patched.text
    after = patched.json()
    new_headers = patch.get("headers", HEADERS)
    _check_record(after, auth_type, new_headers)
    assert after["authId"] == auth_id
    assert after["createdAt"] == record["createdAt"]
    assert after["version"] == 2
    assert kv.current_version(INTG, auth_id) == 2
    assert kv.data(INTG, auth_id) == {
        "format": "1",
        "authType": auth_type,
        "headers": new_headers,
        **stored_after,
    }
    assert kv.data(INTG, auth_id, version=1) == document
    assert api.get(f"{BASE}/{auth_id}").json() == after

    # -- delete: the record, every version and the KV metadata are gone ----------------------
    deleted = api.delete(f"{BASE}/{auth_id}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert api.get(f"{BASE}/{auth_id}").status_code == 404
    assert api.patch(f"{BASE}/{auth_id}", json={}).status_code == 404
    assert api.delete(f"{BASE}/{auth_id}").status_code == 404
    assert api.get(BASE).json() == {"data": [], "nextCursor": None}
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.client.secrets.kv.v2.read_secret_metadata(
            path=kv.path(INTG, auth_id), mount_point=kv.mount
        )
    for version in (1, 2):
        with pytest.raises(hvac.exceptions.InvalidPath):
            kv.client.secrets.kv.v2.read_secret_version(
                path=kv.path(INTG, auth_id),
                version=version,
                mount_point=kv.mount,
                raise_on_deleted_version=True,
            )
    assert kv.paths() == []


def test_lower_case_auth_type_is_answered_in_upper_case(api: TestClient, kv: KvReader) -> None:
    created = api.post(BASE, json={"authType": "bearer_token", "token": "t"})
    assert created.status_code == 200, created.text
    assert created.json()["authType"] == "BEARER_TOKEN"
    assert kv.data(INTG, created.json()["authId"])["authType"] == "BEARER_TOKEN"


@pytest.mark.parametrize(
    "headers",
    [
        HEADERS,
        {"Accept": "application/json", "X-Trace": "on"},
        [HEADERS],
    ],
    ids=["list", "object", "nested-list"],
)
def test_header_variants_are_answered_as_a_list(
    api: TestClient, kv: KvReader, headers: Any
) -> None:
    created = api.post(BASE, json={"authType": "NO_AUTH", "headers": headers})
    assert created.status_code == 200, created.text
    assert created.json()["headers"] == HEADERS
    auth_id = created.json()["authId"]
    assert kv.data(INTG, auth_id)["headers"] == HEADERS
    patched = api.patch(f"{BASE}/{auth_id}", json={"headers": headers})
    assert patched.status_code == 200, patched.text
    assert patched.json()["headers"] == HEADERS


def test_headers_omitted_keeps_them_and_empty_list_clears_them(
    api: TestClient, kv: KvReader
) -> None:
    created = api.post(BASE, json={"authType": "BEARER_TOKEN", "token": "t", "headers": HEADERS})
    auth_id = created.json()["authId"]
    kept = api.patch(f"{BASE}/{auth_id}", json={"token": "t2"})
    assert kept.json()["headers"] == HEADERS
    assert kv.data(INTG, auth_id)["headers"] == HEADERS
    cleared = api.patch(f"{BASE}/{auth_id}", json={"headers": []})
    assert cleared.status_code == 200
    assert cleared.json()["headers"] == []
    assert kv.data(INTG, auth_id) == {
        "format": "1",
        "authType": "BEARER_TOKEN",
        "headers": [],
        "token": "t2",
    }


def test_patch_with_same_auth_type_in_any_casing_is_harmless(api: TestClient, kv: KvReader) -> None:
    created = api.post(BASE, json={"authType": "BEARER_TOKEN", "token": "t"})
    auth_id = created.json()["authId"]
    patched = api.patch(f"{BASE}/{auth_id}", json={"authType": "bearer_token", "token": "t2"})
    assert patched.status_code == 200, patched.text
    assert kv.data(INTG, auth_id)["token"] == "t2"


def test_patch_basic_username_only_keeps_the_password(api: TestClient, kv: KvReader) -> None:
    created = api.post(BASE, json={"authType": "BASIC_AUTH", "username": "u", "password": "p"})
    auth_id = created.json()["authId"]
    assert api.patch(f"{BASE}/{auth_id}", json={"username": "u2"}).status_code == 200
    stored = kv.data(INTG, auth_id)
    assert (stored["username"], stored["password"]) == ("u2", "p")


def test_patch_api_key_without_value_keeps_the_stored_secret(api: TestClient, kv: KvReader) -> None:
    created = api.post(
        BASE,
        json={"authType": "API_KEY", "apiKey": {"key": "X-Old", "value": "keep-me"}},
    )
    auth_id = created.json()["authId"]
    patched = api.patch(
        f"{BASE}/{auth_id}", json={"apiKey": {"key": "api_key", "position": "query"}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["apiKey"] == {"key": "api_key", "position": "query"}
    assert kv.data(INTG, auth_id)["apiKey"] == {
        "key": "api_key",
        "value": "keep-me",
        "position": "query",
    }
    resolved = api.post(f"{BASE}/{auth_id}/resolve")
    assert resolved.json()["query"] == {"api_key": "keep-me"}


def test_resolve_gives_the_credential_and_is_not_cached(api: TestClient) -> None:
    created = api.post(
        BASE, json={"authType": "BEARER_TOKEN", "token": "tok-1", "headers": HEADERS}
    )
    auth_id = created.json()["authId"]
    resolved = api.post(f"{BASE}/{auth_id}/resolve")
    assert resolved.status_code == 200, resolved.text
    assert resolved.headers["cache-control"] == "no-store"
    assert resolved.json() == {
        "authId": auth_id,
        "integrationId": INTG,
        "authType": "BEARER_TOKEN",
        "version": 1,
        "headers": {"Accept": "application/json", "X-Trace": "on", "Authorization": "Bearer tok-1"},
        "query": {},
        "allowedHosts": None,
    }


def test_records_of_two_integrations_live_apart(api: TestClient, kv: KvReader) -> None:
    one = api.post("/v1/integrations/intg-a/auth", json={"authType": "NO_AUTH"}).json()
    two = api.post("/v1/integrations/intg-b/auth", json={"authType": "NO_AUTH"}).json()
    assert sorted(kv.paths()) == sorted(
        [kv.path("intg-a", one["authId"]), kv.path("intg-b", two["authId"])]
    )
    assert api.get(f"/v1/integrations/intg-b/auth/{one['authId']}").status_code == 404
    assert [r["authId"] for r in api.get("/v1/integrations/intg-a/auth").json()["data"]] == [
        one["authId"]
    ]
