"""Rules at the edges: characters HTTP cannot carry, no-op patches, documents damaged in Vault."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.kv import KvReader

URL = "/v1/integrations/intg_edges/auth"


def test_a_missing_auth_type_is_a_missing_field(api: TestClient) -> None:
    response = api.post(URL, json={"token": "t"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "missing_field"
    assert response.json()["error"]["field"] == "authType"


@pytest.mark.parametrize(
    "body",
    [
        {"authType": "BASIC_AUTH", "username": "a:b", "password": "p"},
        {"authType": "BEARER_TOKEN", "token": "caf\u00e9"},
        {"authType": "BEARER_TOKEN", "token": "tab\x07bell"},
        {"authType": "NO_AUTH", "headers": [{"key": "X-Name", "value": "na\u00efve"}]},
    ],
    ids=["colon-in-username", "non-ascii-token", "control-char-token", "non-ascii-header"],
)
def test_values_http_cannot_carry_are_refused(api: TestClient, body: dict[str, object]) -> None:
    response = api.post(URL, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_field"


def test_a_password_with_a_lone_surrogate_is_refused(api: TestClient) -> None:
    raw = b'{"authType": "BASIC_AUTH", "username": "u", "password": "ab\\ud800cd"}'
    response = api.post(URL, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "password"


def test_an_empty_patch_writes_no_new_version(api: TestClient, kv: KvReader) -> None:
    created = api.post(URL, json={"authType": "BEARER_TOKEN", "token": "t1"}).json()
    patched = api.patch(f"{URL}/{created['authId']}", json={})
    assert patched.status_code == 200
    assert patched.json()["version"] == created["version"]
    assert kv.current_version("intg_edges", created["authId"]) == 1


def test_a_document_damaged_in_vault_is_a_502_not_a_client_error(
    api: TestClient, kv: KvReader
) -> None:
    created = api.post(URL, json={"authType": "BEARER_TOKEN", "token": "t1"}).json()
    # Replace version 1, the one the index names, with a document vaultauth did not write.
    kv.client.secrets.kv.v2.delete_metadata_and_all_versions(
        path=kv.path("intg_edges", created["authId"]), mount_point=kv.mount
    )
    kv.client.secrets.kv.v2.create_or_update_secret(
        path=kv.path("intg_edges", created["authId"]),
        secret={"authType": "BEARER_TOKEN"},
        mount_point=kv.mount,
    )
    for response in (
        api.patch(f"{URL}/{created['authId']}", json={"token": "t2", "headers": []}),
        api.post(f"{URL}/{created['authId']}/resolve"),
    ):
        assert response.status_code == 502, response.text
        assert response.json()["error"]["code"] == "malformed_secret_document"
