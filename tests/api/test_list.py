"""List: newest first, limit and an opaque cursor that stays valid while records arrive."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

BASE = "/v1/integrations/intg_list/auth"


def _create(api: TestClient, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        response = api.post(BASE, json={"authType": "NO_AUTH"})
        assert response.status_code == 200, response.text
        ids.append(response.json()["authId"])
    return ids


def _page(api: TestClient, **params: Any) -> tuple[list[str], str | None]:
    response = api.get(BASE, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data", "nextCursor"}
    return [r["authId"] for r in body["data"]], body["nextCursor"]


def _all_pages(api: TestClient, limit: int) -> list[list[str]]:
    pages = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        ids, cursor = _page(api, **params)
        pages.append(ids)
        if cursor is None:
            return pages


def test_empty_integration(api: TestClient) -> None:
    assert api.get(BASE).json() == {"data": [], "nextCursor": None}


def test_newest_first_with_default_limit(api: TestClient) -> None:
    created = _create(api, 3)
    ids, cursor = _page(api)
    assert ids == created[::-1]
    assert cursor is None
    records = api.get(BASE).json()["data"]
    assert records[0] == api.get(f"{BASE}/{created[-1]}").json()


def test_pages_of_limit(api: TestClient) -> None:
    created = _create(api, 5)
    assert _all_pages(api, 2) == [created[4:2:-1], created[2:0:-1], created[0:1]]
    assert _all_pages(api, 5) == [created[::-1]]
    assert _all_pages(api, 200) == [created[::-1]]


def test_cursor_is_stable_while_records_are_inserted(api: TestClient) -> None:
    older = _create(api, 5)
    first, cursor = _page(api, limit=2)
    assert first == older[4:2:-1]
    newer = _create(api, 3)  # arrive between the pages
    second, cursor = _page(api, limit=2, cursor=cursor)
    assert second == older[2:0:-1]
    api.post(BASE, json={"authType": "NO_AUTH"})
    third, cursor = _page(api, limit=2, cursor=cursor)
    assert third == older[0:1]
    assert cursor is None
    # A fresh listing starts with the new ones.
    ids, _ = _page(api, limit=3)
    assert ids[1:] == newer[:0:-1]


def test_cursor_survives_deletion_of_its_record(api: TestClient) -> None:
    created = _create(api, 4)
    first, cursor = _page(api, limit=2)
    assert first == created[3:1:-1]
    assert api.delete(f"{BASE}/{created[2]}").status_code == 204
    second, cursor = _page(api, limit=2, cursor=cursor)
    assert second == created[1::-1]


def test_deleted_records_are_not_listed(api: TestClient) -> None:
    created = _create(api, 3)
    api.delete(f"{BASE}/{created[1]}")
    assert _page(api) == ([created[2], created[0]], None)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": 0}, "invalid_field"),
        ({"limit": 201}, "invalid_field"),
        ({"limit": -1}, "invalid_field"),
        ({"limit": "ten"}, "invalid_field"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"cursor": "e30"}, "invalid_cursor"),  # base64 of "{}"
        ({"cursor": "WyJ4IiwiYSJd"}, "invalid_cursor"),  # ["x","a"]
        ({"cursor": "WzEsMiwzXQ"}, "invalid_cursor"),  # [1,2,3]
        ({"cursor": "x" * 600}, "field_too_long"),
        # Dates that cannot be converted to UTC: 9999-12-31T23:59:59-01:00, 0001-01-01T00:00+01:00
        ({"cursor": "WyI5OTk5LTEyLTMxVDIzOjU5OjU5LTAxOjAwIiwgImEiXQ"}, "invalid_cursor"),
        ({"cursor": "WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzAxOjAwIiwgImEiXQ"}, "invalid_cursor"),
        # A date without a zone (2024-01-01T00:00:00): ours always carry one.
        ({"cursor": "WyIyMDI0LTAxLTAxVDAwOjAwOjAwIiwgImEiXQ"}, "invalid_cursor"),
        # An auth id that no record can have: "a\u0000b" (a 500 on PostgreSQL), "a/../b".
        ({"cursor": "WyIyMDI0LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgImFcdTAwMDBiIl0"}, "invalid_cursor"),
        ({"cursor": "WyIyMDI0LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgImEvLi4vYiJd"}, "invalid_cursor"),
    ],
)
def test_bad_limit_or_cursor(api: TestClient, params: dict[str, Any], code: str) -> None:
    response = api.get(BASE, params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["field"] in ("limit", "cursor")
