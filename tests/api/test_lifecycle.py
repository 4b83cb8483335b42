"""Part A of the contract on the real OpenBao: label and dates with the due list, ETag with
If-Match / If-None-Match, versions and rollback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.kv import KvReader
from vaultauth.api import create_app
from vaultauth.keys import Scope
from vaultauth.settings import Settings

INTG = "intg_life"
BASE = f"/v1/integrations/{INTG}/auth"


def create(api: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(BASE, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


# --- A1: label, expiresAt, rotateAfter ------------------------------------------------------


def test_label_and_dates_are_kept_in_utc_and_change_no_vault_version(
    api: TestClient, kv: KvReader
) -> None:
    record = create(
        api,
        {
            "authType": "BEARER_TOKEN",
            "token": "t1",
            "label": "Stripe live key, finance team",
            "expiresAt": "2027-03-01T12:00:00+02:00",
            "rotateAfter": "2027-01-15T00:00:00Z",
        },
    )
    assert record["label"] == "Stripe live key, finance team"
    assert record["expiresAt"] == "2027-03-01T10:00:00Z"
    assert record["rotateAfter"] == "2027-01-15T00:00:00Z"
    path = f"{BASE}/{record['authId']}"
    patched = api.patch(path, json={"label": "renamed", "rotateAfter": None})
    assert patched.status_code == 200, patched.text
    assert patched.json()["label"] == "renamed"
    assert patched.json()["rotateAfter"] is None
    assert patched.json()["expiresAt"] == "2027-03-01T10:00:00Z"  # omitted: kept
    assert patched.json()["version"] == 1
    assert kv.current_version(INTG, record["authId"]) == 1  # Vault untouched
    assert "label" not in kv.data(INTG, record["authId"])  # metadata lives in the index


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("expiresAt", "2027-03-01T12:00:00", "invalid_datetime"),
        ("expiresAt", "2027-03-01", "invalid_datetime"),
        ("rotateAfter", "soon", "invalid_datetime"),
        ("rotateAfter", 1700000000, "invalid_datetime"),
        ("label", "", "invalid_label"),
        ("label", "x" * 129, "invalid_label"),
        ("label", "two\nlines", "invalid_label"),
    ],
)
def test_bad_metadata_is_refused(api: TestClient, field: str, value: Any, code: str) -> None:
    error = error_of(api.post(BASE, json={"authType": "NO_AUTH", field: value}), 422)
    assert (error["code"], error["field"]) == (code, field)


def test_the_due_list_orders_by_the_earlier_date_across_integrations_and_pages(
    api: TestClient, make_key: Callable[..., str]
) -> None:
    dates = [
        ("intg_a", {"expiresAt": "2027-01-05T00:00:00Z"}),
        ("intg_b", {"rotateAfter": "2027-01-02T00:00:00Z", "expiresAt": "2027-06-01T00:00:00Z"}),
        ("intg_a", {"rotateAfter": "2027-01-03T00:00:00Z"}),
        ("intg_c", {"expiresAt": "2028-01-01T00:00:00Z"}),  # after `before`
        ("intg_c", {}),  # no dates
    ]
    ids = []
    for integration, fields in dates:
        response = api.post(
            f"/v1/integrations/{integration}/auth", json={"authType": "NO_AUTH", **fields}
        )
        ids.append(response.json()["authId"])
    other = {"X-API-Key": make_key("other")}
    api.post(
        "/v1/integrations/intg_a/auth",
        json={"authType": "NO_AUTH", "expiresAt": "2027-01-01T00:00:00Z"},
        headers=other,
    )
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"before": "2027-12-31T00:00:00Z", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/v1/auth/due", params=params)
        assert page.status_code == 200, page.text
        seen += [r["authId"] for r in page.json()["data"]]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            break
    assert seen == [ids[1], ids[2], ids[0]]  # Jan 2, Jan 3, Jan 5; not the other tenant's


@pytest.mark.parametrize(
    ("before", "code"),
    [
        (None, "invalid_datetime"),  # contract A1: missing or malformed
        ("tomorrow", "invalid_datetime"),
        ("2027-01-01T00:00:00", "invalid_datetime"),
    ],
)
def test_the_due_list_needs_a_zoned_before(api: TestClient, before: str | None, code: str) -> None:
    params = {"before": before} if before is not None else {}
    error = error_of(api.get("/v1/auth/due", params=params), 422)
    assert (error["code"], error["field"]) == (code, "before")


def test_the_due_list_needs_auth_read(api: TestClient, make_key: Callable[..., str]) -> None:
    writer = {"X-API-Key": make_key("acme", [Scope.AUTH_WRITE])}
    params = {"before": "2027-01-01T00:00:00Z"}
    assert api.get("/v1/auth/due", params=params, headers=writer).status_code == 403


def test_gauges_count_the_records_past_their_dates(api: TestClient) -> None:
    for fields in (
        {"expiresAt": "2001-01-01T00:00:00Z"},
        {"expiresAt": "2001-01-01T00:00:00Z", "rotateAfter": "2001-01-01T00:00:00Z"},
        {"rotateAfter": "2999-01-01T00:00:00Z"},
    ):
        create(api, {"authType": "NO_AUTH", **fields})
    text = api.get("/metrics").text
    assert "vaultauth_records_past_expiry 2.0" in text
    assert "vaultauth_records_past_rotation 1.0" in text


# --- A2: ETag, If-Match, If-None-Match -------------------------------------------------------


def test_the_etag_changes_with_every_change_metadata_included(api: TestClient) -> None:
    created = api.post(BASE, json={"authType": "BEARER_TOKEN", "token": "t1"})
    first = created.headers["ETag"]
    assert first.startswith('"')
    assert first.endswith('"')
    path = f"{BASE}/{created.json()['authId']}"
    assert api.get(path).headers["ETag"] == first
    assert api.get(path).headers["ETag"] == first  # the cached answer (fast path) too
    labelled = api.patch(path, json={"label": "x"}).headers["ETag"]
    rotated = api.patch(path, json={"token": "t2"}).headers["ETag"]
    assert len({first, labelled, rotated}) == 3
    unchanged = api.patch(path, json={"label": "x"})
    assert unchanged.headers["ETag"] == rotated  # nothing changed, nothing moves


def test_if_none_match_answers_304_without_a_body(api: TestClient) -> None:
    created = api.post(BASE, json={"authType": "NO_AUTH"})
    path = f"{BASE}/{created.json()['authId']}"
    etag = created.headers["ETag"]
    for _ in range(2):  # from the index, then from memory
        answer = api.get(path, headers={"If-None-Match": etag})
        assert answer.status_code == 304
        assert answer.content == b""
        assert answer.headers["ETag"] == etag
    assert api.get(path, headers={"If-None-Match": '"r999"'}).status_code == 200


def test_if_match_guards_patch_delete_and_rollback(api: TestClient, kv: KvReader) -> None:
    created = api.post(BASE, json={"authType": "BEARER_TOKEN", "token": "t1"})
    auth_id = created.json()["authId"]
    path = f"{BASE}/{auth_id}"
    stale = created.headers["ETag"]
    current = api.patch(path, json={"token": "t2"}, headers={"If-Match": stale}).headers["ETag"]
    # The first writer's ETag is spent: every guarded change with it fails, changing nothing.
    refused = api.patch(path, json={"token": "t3"}, headers={"If-Match": stale})
    assert error_of(refused, 412)["code"] == "precondition_failed"
    assert error_of(api.delete(path, headers={"If-Match": stale}), 412)
    rollback = api.post(f"{path}/rollback", json={"version": 1}, headers={"If-Match": stale})
    assert error_of(rollback, 412)
    assert kv.current_version(INTG, auth_id) == 2
    # 412 comes before 422: an invalid body with a stale ETag is still 412.
    assert api.patch(path, json={"token": ""}, headers={"If-Match": stale}).status_code == 412
    assert api.patch(path, json={"label": "ok"}, headers={"If-Match": "*"}).status_code == 200
    fresh = api.get(path).headers["ETag"]
    assert fresh != current
    assert api.delete(path, headers={"If-Match": fresh}).status_code == 204


def test_if_match_on_a_missing_or_foreign_record_is_404(
    api: TestClient, make_key: Callable[..., str]
) -> None:
    created = api.post(BASE, json={"authType": "NO_AUTH"})
    path = f"{BASE}/{created.json()['authId']}"
    other = {"X-API-Key": make_key("other"), "If-Match": '"r1"'}
    assert api.patch(path, json={"label": "x"}, headers=other).status_code == 404
    assert api.delete(f"{BASE}/auth_nothere00000", headers={"If-Match": '"r1"'}).status_code == 404


# --- A4: versions and rollback -----------------------------------------------------------------


def test_versions_list_numbers_and_dates_and_rollback_restores_the_content(
    api: TestClient, kv: KvReader
) -> None:
    secret = {"key": "X-Client-Secret", "value": "s-v1", "secret": True}
    record = create(
        api,
        {
            "authType": "BEARER_TOKEN",
            "token": "tok-v1",
            "headers": [secret],
            "allowedHosts": ["a.example.com"],
        },
    )
    path = f"{BASE}/{record['authId']}"
    api.patch(
        path,
        json={
            "token": "tok-v2",
            "headers": [{"key": "X-Client-Secret", "value": "s-v2", "secret": True}],
        },
    )
    api.patch(path, json={"label": "kept", "allowedHosts": ["b.example.com"]})
    versions = api.get(f"{path}/versions").json()["data"]
    assert [(v["version"], v["current"], v["available"]) for v in versions] == [
        (3, True, True),
        (2, False, True),
        (1, False, True),
    ]
    assert set(versions[0]) == {"version", "createdAt", "current", "available"}
    assert "tok-v" not in api.get(f"{path}/versions").text

    rolled = api.post(f"{path}/rollback", json={"version": 1})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["version"] == 4
    assert rolled.json()["label"] == "kept"
    assert rolled.json()["allowedHosts"] == ["b.example.com"]  # never widened back
    assert "tok-v" not in rolled.text
    resolved = api.post(f"{path}/resolve").json()
    assert resolved["headers"]["Authorization"] == "Bearer tok-v1"
    assert resolved["headers"]["X-Client-Secret"] == "s-v1"
    assert kv.data(INTG, record["authId"])["allowedHosts"] == ["b.example.com"]

    again = api.post(f"{path}/rollback", json={"version": 4})
    assert again.json()["version"] == 4  # already current: nothing written
    assert kv.current_version(INTG, record["authId"]) == 4


def test_rollback_to_a_version_that_never_existed_or_is_gone(api: TestClient, kv: KvReader) -> None:
    record = create(api, {"authType": "BEARER_TOKEN", "token": "a"})
    path = f"{BASE}/{record['authId']}"
    api.patch(path, json={"token": "b"})
    missing = error_of(api.post(f"{path}/rollback", json={"version": 9}), 404)
    assert missing["code"] == "version_not_found"
    kv.client.secrets.kv.v2.destroy_secret_versions(
        path=kv.path(INTG, record["authId"]), versions=[1], mount_point=kv.mount
    )
    gone = error_of(api.post(f"{path}/rollback", json={"version": 1}), 422)
    assert gone["code"] == "version_unavailable"
    listed = api.get(f"{path}/versions").json()["data"]
    assert [(v["version"], v["available"]) for v in listed] == [(2, True), (1, False)]
    assert error_of(api.post(f"{path}/rollback", json={"version": 0}), 422)


def test_retention_is_set_on_the_first_change_and_prunes_old_versions(
    settings: Settings, make_key: Callable[..., str], kv: KvReader
) -> None:
    kept = settings.model_copy(update={"max_versions": 3})
    with TestClient(create_app(kept)) as client:
        client.headers["X-API-Key"] = make_key()
        record = create(client, {"authType": "BEARER_TOKEN", "token": "t0"})
        assert kv.metadata(INTG, record["authId"])["max_versions"] == 0  # create: no extra call
        path = f"{BASE}/{record['authId']}"
        for n in range(1, 6):
            client.patch(path, json={"token": f"t{n}"})
        assert kv.metadata(INTG, record["authId"])["max_versions"] == 3
        numbers = [v["version"] for v in client.get(f"{path}/versions").json()["data"]]
        assert numbers == [6, 5, 4]
        assert error_of(client.post(f"{path}/rollback", json={"version": 2}), 422)


def test_versions_need_auth_read_and_rollback_auth_write(
    api: TestClient, make_key: Callable[..., str]
) -> None:
    record = create(api, {"authType": "BEARER_TOKEN", "token": "a"})
    path = f"{BASE}/{record['authId']}"
    reader = {"X-API-Key": make_key("acme", [Scope.AUTH_READ])}
    assert api.get(f"{path}/versions", headers=reader).status_code == 200
    assert api.post(f"{path}/rollback", json={"version": 1}, headers=reader).status_code == 403
    other = {"X-API-Key": make_key("other")}
    assert api.get(f"{path}/versions", headers=other).status_code == 404
