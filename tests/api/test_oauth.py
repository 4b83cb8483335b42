"""Managed OAuth 2.0 records through the real facade, a real OpenBao and a real token endpoint
(tests/support/oauth.py) on loopback: create, the record, resolve with its expiry, refresh,
rotated refresh tokens, failures and back-off, PATCH, rollback, delete, and no secret in any
answer, log, metric or the index."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import hvac
import pytest
from fastapi.testclient import TestClient

from tests.api.test_errors import error_of
from tests.support.capture import Everything, index_bytes
from tests.support.kv import KvReader
from tests.support.oauth import TokenServer, run_token_server
from vaultauth.api import create_app
from vaultauth.settings import Settings

INTG = "intg_oauth"
BASE = f"/v1/integrations/{INTG}/auth"
CLIENT_SECRET = "cs-OAUTHCANARY-41"
REFRESH_TOKEN = "rt-OAUTHCANARY-42"


@pytest.fixture
def endpoint() -> Iterator[TokenServer]:
    with run_token_server(client_secret=CLIENT_SECRET) as server:
        yield server


def _client_credentials(endpoint: TokenServer, **more: Any) -> dict[str, Any]:
    oauth2 = {
        "tokenUrl": endpoint.url,
        "clientId": endpoint.client_id,
        "clientSecret": CLIENT_SECRET,
        "scopes": ["invoices.read", "invoices:write"],
        **more,
    }
    return {"authType": "OAUTH2_CLIENT_CREDENTIALS", "oauth2": oauth2}


def _refresh_token(endpoint: TokenServer, refresh_token: str, **more: Any) -> dict[str, Any]:
    oauth2 = {
        "tokenUrl": endpoint.url,
        "clientId": endpoint.client_id,
        "clientSecret": CLIENT_SECRET,
        "refreshToken": refresh_token,
        **more,
    }
    return {"authType": "oauth2_refresh_token", "oauth2": oauth2}


def _create(api: TestClient, body: dict[str, Any]) -> str:
    response = api.post(BASE, json=body)
    assert response.status_code == 200, response.text
    auth_id: str = response.json()["authId"]
    return auth_id


def _resolve(api: TestClient, auth_id: str) -> Any:
    return api.post(f"{BASE}/{auth_id}/resolve")


def _token_document(kv: KvReader, auth_id: str) -> dict[str, Any] | None:
    url = f"/v1/{kv.mount}/data/{kv.path(INTG, auth_id)}/oauth-token"
    try:
        response = kv.client.adapter.get(url)
    except hvac.exceptions.InvalidPath:
        return None
    data: dict[str, Any] = response["data"]["data"]
    return data


def _bearer(response: Any) -> str:
    assert response.status_code == 200, response.text
    authorization: str = response.json()["headers"]["Authorization"]
    assert authorization.startswith("Bearer ")
    return authorization.removeprefix("Bearer ")


def test_the_record_shows_the_configuration_without_its_secrets(
    api: TestClient, endpoint: TokenServer
) -> None:
    created = api.post(
        BASE, json={**_client_credentials(endpoint, audience="https://api.example.com")}
    )
    assert created.status_code == 200, created.text
    record = created.json()
    assert record["authType"] == "OAUTH2_CLIENT_CREDENTIALS"
    assert record["oauth2"] == {
        "tokenUrl": endpoint.url,
        "clientId": endpoint.client_id,
        "scopes": ["invoices.read", "invoices:write"],
        "audience": "https://api.example.com",
        "clientAuth": "basic",
    }
    assert record["apiKey"] is None
    fetched = api.get(f"{BASE}/{record['authId']}").json()
    assert fetched == record
    assert CLIENT_SECRET not in created.text
    assert endpoint.count() == 0  # nothing is asked before the first resolve


def test_resolve_obtains_one_token_and_answers_with_its_expiry(
    api: TestClient, endpoint: TokenServer
) -> None:
    auth_id = _create(api, _client_credentials(endpoint))
    before = datetime.now(UTC)
    first = _resolve(api, auth_id)
    token = _bearer(first)
    assert token == endpoint.issued[0]
    body = first.json()
    assert body["authType"] == "OAUTH2_CLIENT_CREDENTIALS"
    expires_at = datetime.fromisoformat(body["expiresAt"])
    assert 3590 <= (expires_at - before).total_seconds() <= 3601
    assert first.headers["cache-control"] == "no-store"
    for _ in range(5):
        assert _bearer(_resolve(api, auth_id)) == token
    assert endpoint.count() == 1
    sent = endpoint.requests[0]
    # RFC 6749 §2.3.1: HTTP Basic with the form-encoded id and secret (the endpoint decoded
    # them back and accepted them), the scopes space-separated.
    assert sent.via_basic
    assert (sent.client_id, sent.client_secret) == (endpoint.client_id, CLIENT_SECRET)
    assert sent.form == {
        "grant_type": "client_credentials",
        "scope": "invoices.read invoices:write",
    }


def test_client_authentication_in_the_body(api: TestClient, endpoint: TokenServer) -> None:
    auth_id = _create(api, _client_credentials(endpoint, clientAuth="body"))
    _bearer(_resolve(api, auth_id))
    sent = endpoint.requests[0]
    assert not sent.via_basic
    assert "authorization" not in sent.headers
    assert sent.form["client_secret"] == CLIENT_SECRET


def test_a_token_is_refreshed_before_it_expires(api: TestClient, endpoint: TokenServer) -> None:
    endpoint.expires_in = 2  # not longer than the margin: used for half its life
    auth_id = _create(api, _client_credentials(endpoint))
    first = _bearer(_resolve(api, auth_id))
    assert _bearer(_resolve(api, auth_id)) == first
    time.sleep(1.1)
    second = _bearer(_resolve(api, auth_id))
    assert second != first
    assert endpoint.count() == 2


def test_a_rotated_refresh_token_is_kept_in_vault_beside_the_record(
    api: TestClient, endpoint: TokenServer, kv: KvReader
) -> None:
    endpoint.rotate = True
    endpoint.expires_in = 2
    original = endpoint.add_refresh_token(REFRESH_TOKEN)
    auth_id = _create(api, _refresh_token(endpoint, original))
    _bearer(_resolve(api, auth_id))
    (rotated,) = endpoint.refresh_tokens
    assert rotated != original
    stored = _token_document(kv, auth_id)
    assert stored is not None
    assert stored["refreshToken"] == rotated
    # The record itself is untouched: same version, same refresh token in its document.
    assert kv.current_version(INTG, auth_id) == 1
    assert kv.data(INTG, auth_id)["oauth2"]["refreshToken"] == original
    assert api.get(f"{BASE}/{auth_id}").json()["version"] == 1
    time.sleep(1.1)
    _bearer(_resolve(api, auth_id))
    assert [r.form["refresh_token"] for r in endpoint.requests] == [original, rotated]
    assert endpoint.reused == []


def test_a_refused_refresh_token_is_502_and_stays_stored(
    api: TestClient, endpoint: TokenServer, kv: KvReader
) -> None:
    auth_id = _create(api, _refresh_token(endpoint, REFRESH_TOKEN))  # unknown to the endpoint
    response = _resolve(api, auth_id)
    error = error_of(response, 502)
    assert error["code"] == "oauth_refresh_rejected"
    assert int(response.headers["retry-after"]) >= 1
    assert REFRESH_TOKEN not in response.text  # the endpoint's description echoed it
    assert kv.data(INTG, auth_id)["oauth2"]["refreshToken"] == REFRESH_TOKEN
    stored = _token_document(kv, auth_id)
    assert stored is not None
    assert "refreshToken" not in stored
    assert stored["lastError"] == "oauth_refresh_rejected"
    # Backing off: the endpoint is not asked again at once.
    assert error_of(_resolve(api, auth_id), 502)["code"] == "oauth_refresh_rejected"
    assert endpoint.count() == 1


def _answer_with(status: int, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return lambda _request: (status, body, headers or {})


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (_answer_with(500, f"oops {CLIENT_SECRET}".encode()), "HTTP 500"),
        (_answer_with(401, b'{"error": "invalid_client"}'), "invalid_client"),
        (_answer_with(200, b'{"token_type": "Bearer"}'), "without access_token"),
        (_answer_with(302, b"", {"Location": "http://127.0.0.1:9/steal"}), "redirect"),
        (_answer_with(200, b"x" * 70_000), "larger than"),
        (_answer_with(503, b"busy", {"Retry-After": "42"}), "HTTP 503"),
    ],
)
def test_a_failing_endpoint_is_502_without_its_answer(
    api: TestClient, endpoint: TokenServer, answer: Any, words: str
) -> None:
    endpoint.respond = answer
    auth_id = _create(api, _client_credentials(endpoint))
    response = _resolve(api, auth_id)
    error = error_of(response, 502)
    assert error["code"] == "oauth_token_failed"
    assert words in error["message"]
    assert CLIENT_SECRET not in response.text
    assert "oops" not in response.text
    if "Retry-After" in str(answer(None)[2]):
        assert response.headers["retry-after"] == "42"


def test_a_slow_endpoint_times_out(settings: Settings, make_key: Callable[..., str]) -> None:
    with run_token_server(client_secret=CLIENT_SECRET, delay=2.0) as endpoint:
        fast = settings.model_copy(update={"oauth_timeout": 0.5})
        with TestClient(create_app(fast), raise_server_exceptions=False) as api:
            api.headers["X-API-Key"] = make_key()
            auth_id = _create(api, _client_credentials(endpoint))
            started = time.monotonic()
            error = error_of(_resolve(api, auth_id), 502)
            assert time.monotonic() - started < 1.5
    assert error["code"] == "oauth_token_failed"
    assert "did not answer within 0.5 s" in error["message"]


@pytest.mark.parametrize(
    "url",
    ["https://auth.example.com/token", "http://localhost:8080/token", "https://127.0.0.2/t"],
)
def test_token_urls_outside_the_deployment_policy_are_422(
    api: TestClient, endpoint: TokenServer, url: str
) -> None:
    error = error_of(api.post(BASE, json=_client_credentials(endpoint, tokenUrl=url)), 422)
    assert (error["code"], error["field"]) == ("token_url_not_allowed", "oauth2.tokenUrl")


def test_a_static_authorization_header_is_a_conflict(
    api: TestClient, endpoint: TokenServer
) -> None:
    body = {**_client_credentials(endpoint), "headers": {"authorization": "Basic x"}}
    assert error_of(api.post(BASE, json=body), 422)["code"] == "header_conflict"


def test_missing_fields_are_named(api: TestClient, endpoint: TokenServer) -> None:
    body = {"authType": "OAUTH2_REFRESH_TOKEN", "oauth2": {"tokenUrl": endpoint.url}}
    error = error_of(api.post(BASE, json=body), 422)
    assert (error["code"], error["field"]) == ("missing_field", "oauth2.clientId")
    no_refresh = _refresh_token(endpoint, REFRESH_TOKEN)
    del no_refresh["oauth2"]["refreshToken"]
    error = error_of(api.post(BASE, json=no_refresh), 422)
    assert (error["code"], error["field"]) == ("missing_credential", "oauth2.refreshToken")


def test_patch_keeps_omitted_secrets_and_discards_the_token_when_it_matters(
    api: TestClient, endpoint: TokenServer, kv: KvReader
) -> None:
    auth_id = _create(api, _client_credentials(endpoint))
    first = _bearer(_resolve(api, auth_id))
    # clientAuth alone does not change the token: no new request.
    scopes = ["invoices.read", "invoices:write"]
    same = {
        "tokenUrl": endpoint.url,
        "clientId": endpoint.client_id,
        "scopes": scopes,
        "clientAuth": "body",
    }
    patched = api.patch(f"{BASE}/{auth_id}", json={"oauth2": same})
    assert patched.status_code == 200, patched.text
    assert patched.json()["oauth2"]["clientAuth"] == "body"
    assert kv.data(INTG, auth_id)["oauth2"]["clientSecret"] == CLIENT_SECRET  # kept
    assert _bearer(_resolve(api, auth_id)) == first
    assert endpoint.count() == 1
    # Scopes omitted take their default (none), which changes the token.
    unscoped = {k: v for k, v in same.items() if k != "scopes"}
    patched = api.patch(f"{BASE}/{auth_id}", json={"oauth2": unscoped})
    assert patched.json()["oauth2"]["scopes"] == []
    unscoped_token = _bearer(_resolve(api, auth_id))
    assert unscoped_token != first
    assert "scope" not in endpoint.requests[-1].form
    same = unscoped
    # A new client secret discards it: the next resolve asks with the new one.
    endpoint.client_secret = "cs-rotated"
    rotated = {**same, "clientSecret": "cs-rotated"}
    assert api.patch(f"{BASE}/{auth_id}", json={"oauth2": rotated}).status_code == 200
    assert _token_document(kv, auth_id) is None
    second = _bearer(_resolve(api, auth_id))
    assert second not in (first, unscoped_token)
    assert endpoint.requests[-1].client_secret == "cs-rotated"
    # Back to the first secret with a rollback: that configuration's token is obtained anew.
    endpoint.client_secret = CLIENT_SECRET
    assert api.post(f"{BASE}/{auth_id}/rollback", json={"version": 1}).status_code == 200
    third = _bearer(_resolve(api, auth_id))
    assert third not in (first, second)
    assert endpoint.count() == 4


def test_a_patch_to_a_disallowed_token_url_is_422(api: TestClient, endpoint: TokenServer) -> None:
    auth_id = _create(api, _client_credentials(endpoint))
    moved = {"tokenUrl": "http://10.0.0.1/token", "clientId": endpoint.client_id}
    error = error_of(api.patch(f"{BASE}/{auth_id}", json={"oauth2": moved}), 422)
    assert error["code"] == "token_url_not_allowed"


def test_delete_destroys_the_token_document(
    api: TestClient, endpoint: TokenServer, kv: KvReader
) -> None:
    auth_id = _create(api, _client_credentials(endpoint))
    _bearer(_resolve(api, auth_id))
    assert _token_document(kv, auth_id) is not None
    assert api.delete(f"{BASE}/{auth_id}").status_code == 204
    assert _token_document(kv, auth_id) is None
    assert kv.paths() == []


def test_token_requests_are_counted_by_grant_and_outcome(
    api: TestClient, endpoint: TokenServer
) -> None:
    ok = _create(api, _client_credentials(endpoint))
    refused = _create(api, _refresh_token(endpoint, "rt-nobody-knows"))
    _bearer(_resolve(api, ok))
    error_of(_resolve(api, refused), 502)
    metrics = api.get("/metrics").text
    assert (
        'vaultauth_oauth_token_requests_total{grant="client_credentials",outcome="success"} 1.0'
        in metrics
    )
    assert (
        'vaultauth_oauth_token_requests_total{grant="refresh_token",outcome="rejected"} 1.0'
        in metrics
    )
    assert ok not in metrics
    assert refused not in metrics


def test_no_secret_or_token_in_answers_logs_metrics_or_the_index(
    api: TestClient, endpoint: TokenServer, settings: Settings, every_log: Everything
) -> None:
    endpoint.rotate = True
    refresh = endpoint.add_refresh_token(REFRESH_TOKEN)
    texts: list[str] = []
    cc = _create(api, _client_credentials(endpoint))
    rt = _create(api, _refresh_token(endpoint, refresh))
    for auth_id in (cc, rt):
        texts.append(api.get(f"{BASE}/{auth_id}").text)
        texts.append(api.get(f"{BASE}/{auth_id}/versions").text)
        resolved = _resolve(api, auth_id)
        assert resolved.status_code == 200
    texts.append(api.get(BASE).text)
    texts.append(api.get("/metrics").text)
    endpoint.respond = _answer_with(400, f'{{"error": "x {CLIENT_SECRET}"}}'.encode())
    bad = _create(api, _client_credentials(endpoint, clientId="other"))
    texts.append(_resolve(api, bad).text)
    secrets = [CLIENT_SECRET, REFRESH_TOKEN, *endpoint.refresh_tokens, *endpoint.issued]
    index = index_bytes(settings)
    for secret in secrets:
        for text in texts:
            assert secret not in text
        for logged in every_log.texts:
            assert secret not in logged
        assert secret.encode() not in index
