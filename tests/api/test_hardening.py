"""Part C on the real OpenBao: forbidden header names, secret static headers, allowedHosts."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tests.support.kv import KvReader
from vaultauth.headers import FORBIDDEN_HEADER_NAMES
from vaultauth.settings import Settings

INTG = "intg_hardening"
BASE = f"/v1/integrations/{INTG}/auth"


def create(api: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(BASE, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def error_of(response: Any, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


# --- forbidden header names ---------------------------------------------------------------------


@pytest.mark.parametrize("name", [*sorted(FORBIDDEN_HEADER_NAMES), "HOST", "Transfer-encoding"])
def test_a_connection_or_framing_header_is_refused_as_a_static_header(
    api: TestClient, name: str
) -> None:
    body = {"authType": "NO_AUTH", "headers": [{"key": name, "value": "x"}]}
    error = error_of(api.post(BASE, json=body))
    assert error["code"] == "forbidden_header"
    assert error["field"] == "headers.0.key"
    record = create(api, {"authType": "NO_AUTH"})
    patched = api.patch(f"{BASE}/{record['authId']}", json={"headers": body["headers"]})
    assert error_of(patched)["code"] == "forbidden_header"


def test_a_connection_header_is_refused_as_an_api_key_header_but_not_as_a_query_name(
    api: TestClient,
) -> None:
    in_header = {"authType": "API_KEY", "apiKey": {"key": "Content-Length", "value": "v"}}
    assert error_of(api.post(BASE, json=in_header))["code"] == "forbidden_header"
    in_query = {
        "authType": "API_KEY",
        "apiKey": {"key": "host", "value": "v", "position": "query"},
    }
    record = create(api, in_query)
    moved = api.patch(
        f"{BASE}/{record['authId']}", json={"apiKey": {"key": "host", "position": "header"}}
    )
    assert error_of(moved)["code"] == "forbidden_header"


def test_a_record_stored_with_a_forbidden_name_stays_readable(
    api: TestClient, kv: KvReader, settings: Settings
) -> None:
    record = create(api, {"authType": "NO_AUTH", "headers": [{"key": "X-A", "value": "1"}]})
    # As an older release could have stored it: a framing header in Vault and in the index.
    stored = kv.data(INTG, record["authId"])
    stored["headers"] = [{"key": "Transfer-Encoding", "value": "chunked"}]
    kv.client.secrets.kv.v2.create_or_update_secret(
        path=kv.path(INTG, record["authId"]), secret=stored, mount_point=kv.mount, cas=1
    )
    engine = create_engine(settings.resolved_index_url())
    try:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE auth_records SET headers = :h, kv_version = 2 WHERE auth_id = :a"),
                {"h": '[{"key": "Transfer-Encoding", "value": "chunked"}]', "a": record["authId"]},
            )
    finally:
        engine.dispose()
    got = api.get(f"{BASE}/{record['authId']}")
    assert got.status_code == 200, got.text
    assert got.json()["headers"] == [{"key": "Transfer-Encoding", "value": "chunked"}]


# --- secret static headers ----------------------------------------------------------------------

SECRET = "hdr-s3cret-Qx81"


def test_a_secret_header_is_sent_by_resolve_and_shown_nowhere_else(
    api: TestClient, kv: KvReader
) -> None:
    headers = [
        {"key": "Accept", "value": "application/json"},
        {"key": "X-Client-Secret", "value": SECRET, "secret": True},
    ]
    record = create(api, {"authType": "BEARER_TOKEN", "token": "t", "headers": headers})
    shown = [
        {"key": "Accept", "value": "application/json"},
        {"key": "X-Client-Secret", "secret": True},
    ]
    assert record["headers"] == shown
    assert api.get(f"{BASE}/{record['authId']}").json()["headers"] == shown
    assert SECRET not in api.get(BASE).text
    stored = kv.data(INTG, record["authId"])["headers"]
    assert {"key": "X-Client-Secret", "value": SECRET, "secret": True} in stored
    resolved = api.post(f"{BASE}/{record['authId']}/resolve").json()
    assert resolved["headers"]["X-Client-Secret"] == SECRET


def test_a_patch_keeps_a_secret_header_given_by_name_and_replaces_one_given_a_value(
    api: TestClient, kv: KvReader
) -> None:
    secret = {"key": "X-Client-Secret", "value": SECRET, "secret": True}
    record = create(api, {"authType": "NO_AUTH", "headers": [secret]})
    path = f"{BASE}/{record['authId']}"
    kept = api.patch(
        path,
        json={"headers": [{"key": "x-client-secret", "secret": True}, {"key": "A", "value": "b"}]},
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["version"] == 2
    assert api.post(f"{path}/resolve").json()["headers"] == {"x-client-secret": SECRET, "A": "b"}
    replaced = api.patch(
        path, json={"headers": [{"key": "X-Client-Secret", "value": "new-one", "secret": True}]}
    )
    assert replaced.status_code == 200
    assert api.post(f"{path}/resolve").json()["headers"] == {"X-Client-Secret": "new-one"}
    assert kv.data(INTG, record["authId"])["headers"] == [
        {"key": "X-Client-Secret", "value": "new-one", "secret": True}
    ]


def test_a_secret_header_without_a_value_needs_a_stored_one(api: TestClient) -> None:
    nameless = {"authType": "NO_AUTH", "headers": [{"key": "X-New", "secret": True}]}
    error = error_of(api.post(BASE, json=nameless))
    assert error["code"] == "missing_field"
    assert error["field"] == "headers.0.value"
    record = create(api, {"authType": "NO_AUTH"})
    patched = api.patch(f"{BASE}/{record['authId']}", json={"headers": nameless["headers"]})
    assert error_of(patched)["field"] == "headers.0.value"
    plain_without_value = {"authType": "NO_AUTH", "headers": [{"key": "X-Plain"}]}
    assert api.post(BASE, json=plain_without_value).status_code == 422


def test_records_with_plain_headers_only_answer_as_before(api: TestClient) -> None:
    record = create(api, {"authType": "NO_AUTH", "headers": {"Accept": "application/json"}})
    assert record["headers"] == [{"key": "Accept", "value": "application/json"}]


# --- allowedHosts ---------------------------------------------------------------------------------


def test_allowed_hosts_are_normalised_stored_with_the_secret_and_returned_by_resolve(
    api: TestClient, kv: KvReader
) -> None:
    hosts = ["API.Example.com", "*.stripe.com", "api.example.com"]
    record = create(api, {"authType": "BEARER_TOKEN", "token": "t", "allowedHosts": hosts})
    assert record["allowedHosts"] == ["api.example.com", "*.stripe.com"]
    assert kv.data(INTG, record["authId"])["allowedHosts"] == ["api.example.com", "*.stripe.com"]
    resolved = api.post(f"{BASE}/{record['authId']}/resolve").json()
    assert resolved["allowedHosts"] == ["api.example.com", "*.stripe.com"]
    unrestricted = create(api, {"authType": "NO_AUTH"})
    assert unrestricted["allowedHosts"] is None


@pytest.mark.parametrize(
    ("hosts", "code"),
    [
        ([], "invalid_allowed_hosts"),
        ("api.example.com", "invalid_allowed_hosts"),
        (["https://api.example.com"], "invalid_allowed_hosts"),
        (["api.example.com:443"], "invalid_allowed_hosts"),
        (["api.example.com/v1"], "invalid_allowed_hosts"),
        (["*"], "invalid_allowed_hosts"),
        (["a.*.com"], "invalid_allowed_hosts"),
        ([""], "invalid_allowed_hosts"),
        ([7], "invalid_allowed_hosts"),
        ([f"h{n}.example.com" for n in range(33)], "too_many_allowed_hosts"),
    ],
)
def test_bad_allowed_hosts_are_refused(api: TestClient, hosts: Any, code: str) -> None:
    error = error_of(api.post(BASE, json={"authType": "NO_AUTH", "allowedHosts": hosts}))
    assert error["code"] == code
    assert error["field"].startswith("allowedHosts")


def test_a_patch_changes_clears_or_keeps_allowed_hosts(api: TestClient, kv: KvReader) -> None:
    record = create(api, {"authType": "NO_AUTH", "allowedHosts": ["a.example.com"]})
    path = f"{BASE}/{record['authId']}"
    kept = api.patch(path, json={"headers": [{"key": "X", "value": "1"}]}).json()
    assert kept["allowedHosts"] == ["a.example.com"]
    changed = api.patch(path, json={"allowedHosts": ["b.example.com"]}).json()
    assert changed["allowedHosts"] == ["b.example.com"]
    assert changed["version"] == kept["version"] + 1  # Vault holds it too: a new version
    assert kv.data(INTG, record["authId"])["allowedHosts"] == ["b.example.com"]
    cleared = api.patch(path, json={"allowedHosts": None}).json()
    assert cleared["allowedHosts"] is None
    assert "allowedHosts" not in kv.data(INTG, record["authId"])
    same = api.patch(path, json={"allowedHosts": None}).json()
    assert same["version"] == cleared["version"]  # nothing changed: no new version
