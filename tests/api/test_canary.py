"""A planted secret never leaves Vault except through resolve: not in responses, logs, errors,
nor the index database's bytes."""

from __future__ import annotations

import base64
from typing import Any

import httpx2
from fastapi.testclient import TestClient

from tests.support.capture import Everything, index_bytes
from tests.support.kv import KvReader
from vaultauth.admin import create_key
from vaultauth.api import create_app
from vaultauth.keys import Scope
from vaultauth.settings import Settings

MARK = "zq7CANARYq9x"  # in every planted value; found nowhere by chance
TOKEN = f"tok-{MARK}-0001"
PASSWORD = f"pw-{MARK}-0002"
API_KEY = f"key-{MARK}-0003"
NEW_TOKEN = f"tok-{MARK}-0004"
NEW_PASSWORD = f"pw-{MARK}-0005"
NEW_API_KEY = f"key-{MARK}-0006"
SECRET_HEADER = f"hdr-{MARK}-0007"
INTG = "intg_canary"
BASE = f"/v1/integrations/{INTG}/auth"


def _requests(client: TestClient) -> tuple[list[httpx2.Response], list[httpx2.Response]]:
    """Every kind of call, valid and not, with planted values. Returns (others, resolves)."""
    seen: list[httpx2.Response] = []
    resolves: list[httpx2.Response] = []

    def call(method: str, path: str, **kwargs: Any) -> httpx2.Response:
        response = client.request(method, path, **kwargs)
        seen.append(response)
        return response

    headers = [
        {"key": "X-Static", "value": "not-secret"},
        {"key": "X-Client-Secret", "value": SECRET_HEADER, "secret": True},
    ]
    created = [
        call("POST", BASE, json={"authType": "BEARER_TOKEN", "token": TOKEN, "headers": headers}),
        call("POST", BASE, json={"authType": "BASIC_AUTH", "username": "u", "password": PASSWORD}),
        call(
            "POST", BASE, json={"authType": "API_KEY", "apiKey": {"key": "X-K", "value": API_KEY}}
        ),
        call(
            "POST",
            BASE,
            json={
                "authType": "api_key",
                "apiKey": {"key": "k", "value": API_KEY, "position": "query"},
            },
        ),
        # Planted values of another authType are ignored, not stored.
        call("POST", BASE, json={"authType": "NO_AUTH", "token": TOKEN, "password": PASSWORD}),
    ]
    assert [r.status_code for r in created] == [200] * 5, [r.text for r in created]
    ids = [r.json()["authId"] for r in created]
    for auth_id in ids:
        call("GET", f"{BASE}/{auth_id}")
    call("GET", BASE)
    call("GET", BASE, params={"limit": 1})
    patches = [
        call("PATCH", f"{BASE}/{ids[0]}", json={"token": NEW_TOKEN}),
        call("PATCH", f"{BASE}/{ids[1]}", json={"password": NEW_PASSWORD}),
        call("PATCH", f"{BASE}/{ids[2]}", json={"apiKey": {"key": "X-K", "value": NEW_API_KEY}}),
        call("PATCH", f"{BASE}/{ids[3]}", json={"apiKey": {"key": "k2", "position": "query"}}),
        # The secret header kept by name while the plain one changes.
        call(
            "PATCH",
            f"{BASE}/{ids[0]}",
            json={"headers": [{"key": "X-Client-Secret", "secret": True}, headers[0]]},
        ),
    ]
    assert [r.status_code for r in patches] == [200] * 5, [r.text for r in patches]

    # Rejected inputs that carry a planted value.
    rejected = [
        call(
            "POST",
            BASE,
            json={"authType": "BASIC_AUTH", "username": "u", "password": PASSWORD * 40},
        ),
        call(
            "POST",
            BASE,
            json={"authType": "BASIC_AUTH", "username": PASSWORD * 20, "password": "p"},
        ),
        call("POST", BASE, json={"authType": "BEARER_TOKEN", "token": TOKEN * 1000}),
        call("POST", BASE, json={"authType": "BEARER_TOKEN", "token": [TOKEN]}),
        call("POST", BASE, json={"authType": "BEARER_TOKEN", "token": f"{TOKEN}\r\nX: 1"}),
        call("POST", BASE, json={"authType": "BEARER_TOKEN", "token": {"t": TOKEN}}),
        call("POST", BASE, json={"authType": TOKEN, "token": TOKEN}),
        call("POST", BASE, json={"authType": "API_KEY", "apiKey": API_KEY}),
        call(
            "POST",
            BASE,
            json={"authType": "API_KEY", "apiKey": {"key": "k", "value": API_KEY * 300}},
        ),
        call(
            "POST",
            BASE,
            json={
                "authType": "API_KEY",
                "apiKey": {"key": "k", "value": API_KEY, "position": API_KEY},
            },
        ),
        call(
            "POST",
            BASE,
            json={"authType": "API_KEY", "apiKey": {"key": API_KEY + " x", "value": "v"}},
        ),
        call(
            "POST",
            BASE,
            json={
                "authType": "BEARER_TOKEN",
                "token": TOKEN,
                "headers": {"X-A": f"{TOKEN}\r\nX: y"},
            },
        ),
        call(
            "POST",
            BASE,
            json={"authType": "BEARER_TOKEN", "token": TOKEN, "headers": {f"{TOKEN} bad": "v"}},
        ),
        call(
            "POST",
            BASE,
            json={"authType": "BEARER_TOKEN", "token": TOKEN, "headers": [{"key": TOKEN}]},
        ),
        call(
            "POST",
            BASE,
            json={"authType": "BEARER_TOKEN", "token": TOKEN, "headers": {"Authorization": TOKEN}},
        ),
        call(
            "POST",
            BASE,
            json={"authType": "BEARER_TOKEN", "token": TOKEN, "headers": f"Authorization: {TOKEN}"},
        ),
        call(
            "POST",
            BASE,
            content=f'{{"authType": "BEARER_TOKEN", "token": "{TOKEN}'.encode(),
            headers={"Content-Type": "application/json"},
        ),
        call(
            "POST",
            BASE,
            content=f'["{TOKEN}"]'.encode(),
            headers={"Content-Type": "application/json"},
        ),
        call("POST", BASE, json={"authType": "BEARER_TOKEN", "token": TOKEN * 10000}),  # 413
        call("PATCH", f"{BASE}/{ids[0]}", json={"authType": "BASIC_AUTH", "password": PASSWORD}),
        call("PATCH", f"{BASE}/{ids[0]}", json={"token": TOKEN * 1000}),
        call("PATCH", f"{BASE}/{ids[1]}", json={"password": PASSWORD * 40}),
        call("PATCH", f"{BASE}/{ids[2]}", json={"apiKey": {"value": API_KEY}}),
        call(
            "PATCH",
            f"{BASE}/{ids[0]}",
            json={"headers": [{"key": "Authorization", "value": TOKEN}]},
        ),
        call("PATCH", f"{BASE}/auth_missing0000", json={"token": TOKEN}),
        call("PATCH", f"/v1/integrations/{INTG}%2E/auth/{ids[0]}", json={"token": TOKEN}),
        call("GET", BASE, headers={"X-API-Key": TOKEN}),
        call("GET", BASE, headers={"X-API-Key": f"vak_ABCDEFGHIJKL_{TOKEN}"}),
    ]
    assert all(400 <= r.status_code < 500 for r in rejected), [
        (r.status_code, r.text) for r in rejected
    ]
    assert {r.status_code for r in rejected} >= {400, 401, 404, 413, 422}

    for auth_id in ids:
        resolves.append(client.post(f"{BASE}/{auth_id}/resolve"))
    for auth_id in ids:
        call("DELETE", f"{BASE}/{auth_id}")
    return seen, resolves


def test_a_planted_secret_appears_only_in_vault_and_resolve(
    settings: Settings, kv: KvReader, every_log: Everything
) -> None:
    key = create_key(settings, "acme", [Scope.AUTH_READ, Scope.AUTH_WRITE, Scope.CREDENTIALS_READ])
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = key
        # Positive control: the planted values really are stored, and resolve hands them out.
        probe = client.post(BASE, json={"authType": "BEARER_TOKEN", "token": TOKEN})
        probe_id = probe.json()["authId"]
        assert kv.data(INTG, probe_id)["token"] == TOKEN
        assert probe_id.encode() in index_bytes(settings)

        responses, resolves = _requests(client)
        responses.append(probe)

        index_while_running = index_bytes(settings)
        assert MARK.encode() not in index_while_running

    for response in responses:
        assert MARK not in response.text, (response.request.method, response.request.url)
        assert MARK not in str(response.headers.multi_items())
    resolved = " ".join(r.text for r in resolves)
    basic = base64.b64encode(f"u:{NEW_PASSWORD}".encode()).decode()
    for value in (NEW_TOKEN, basic, NEW_API_KEY, API_KEY, SECRET_HEADER):
        assert value in resolved  # the secret header is sent, and kept across the PATCH
    assert all(r.headers["cache-control"] == "no-store" for r in resolves)

    # After shutdown SQLite has checkpointed its WAL into the main file: scan it again.
    assert MARK.encode() not in index_bytes(settings)
    # A plain-text or UTF-16 copy would be caught too.
    assert MARK.encode("utf-16-le") not in index_bytes(settings)

    assert every_log.texts, "no log record was captured: the scan proves nothing"
    for entry in every_log.texts:
        assert MARK not in entry
