"""Every error status of the contract, the one error shape, and ids that try to leave their path."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from tests.conftest import CACHE_STALENESS_BOUND
from tests.support.kv import KvReader
from tests.support.processes import seen_within
from vaultauth.api import create_app
from vaultauth.keys import Scope
from vaultauth.models import MAX_HEADER_VALUE, MAX_HEADERS, MAX_PASSWORD, MAX_TOKEN, MAX_USERNAME
from vaultauth.settings import Settings
from vaultauth.wiring import build_index

INTG = "intg_errors"
BASE = f"/v1/integrations/{INTG}/auth"
CODE = re.compile(r"[a-z][a-z0-9_]*")


def error_of(response: httpx2.Response, status: int) -> dict[str, Any]:
    """The `error` object of a response, after checking the status and the one error shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) in ({"code", "message"}, {"code", "message", "field"})
    assert CODE.fullmatch(error["code"])
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


def _create(api: TestClient, **body: Any) -> str:
    response = api.post(BASE, json={"authType": "BEARER_TOKEN", "token": "t", **body})
    assert response.status_code == 200, response.text
    auth_id: str = response.json()["authId"]
    return auth_id


# -- 400 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{", b'{"authType": }', b"not json", b'{"a": 1,}'])
def test_malformed_json_is_400(api: TestClient, body: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    error = error_of(api.post(BASE, content=body, headers=headers), 400)
    assert error["code"] == "malformed_json"
    auth_id = _create(api)
    error = error_of(api.patch(f"{BASE}/{auth_id}", content=body, headers=headers), 400)
    assert error["code"] == "malformed_json"


def test_absurdly_nested_json_is_not_a_500(api: TestClient) -> None:
    body = b"[" * 30000 + b"]" * 30000
    response = api.post(BASE, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422)
    error_of(response, response.status_code)


# -- 401 / 403 ----------------------------------------------------------------------------------


def test_missing_key_is_401(app_client: TestClient) -> None:
    for method, path in [("GET", BASE), ("POST", BASE), ("GET", f"{BASE}/auth_x")]:
        error = error_of(app_client.request(method, path, json={"authType": "NO_AUTH"}), 401)
        assert error["code"] == "unauthenticated"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "nonsense",
        "vak_",
        "vak_ABCDEFGHIJKL_unknownsecret",
        "Bearer vak_ABCDEFGHIJKL_x",
    ],
)
def test_unknown_or_malformed_key_is_401(app_client: TestClient, key: str) -> None:
    error = error_of(app_client.get(BASE, headers={"X-API-Key": key}), 401)
    assert error["code"] == "unauthenticated"
    if key:
        assert key not in error["message"]


def test_right_id_wrong_secret_is_401(app_client: TestClient, make_key: Callable[..., str]) -> None:
    key = make_key()
    assert app_client.get(BASE, headers={"X-API-Key": key}).status_code == 200
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    error = error_of(app_client.get(BASE, headers={"X-API-Key": wrong}), 401)
    assert error["code"] == "unauthenticated"


@pytest.mark.parametrize("cache_ttl", [0.0, 60.0])
def test_a_key_revoked_by_another_process_is_401_within_the_staleness_bound(
    make_key: Callable[..., str], settings: Settings, cache_ttl: float
) -> None:
    """The key is cached for 60 s, yet the index's change feed evicts it within the bound."""
    from datetime import UTC, datetime

    app = create_app(settings.model_copy(update={"api_key_cache_ttl": cache_ttl}))
    with TestClient(app) as client:
        key = make_key()
        for _ in range(3):  # the second and third are answered from the cache
            assert client.get(BASE, headers={"X-API-Key": key}).status_code == 200
        engine, index = build_index(settings)  # as `vaultauth keys revoke` does
        try:
            assert index.revoke_key(key.split("_")[1], datetime.now(UTC))
        finally:
            engine.dispose()
        seen_within(
            lambda: client.get(BASE, headers={"X-API-Key": key}).status_code == 401,
            CACHE_STALENESS_BOUND,
            "the revocation",
        )
        error = error_of(client.get(BASE, headers={"X-API-Key": key}), 401)
    assert error["code"] == "unauthenticated"


def test_key_without_the_scope_is_403(
    app_client: TestClient, make_key: Callable[..., str], kv: KvReader
) -> None:
    writer = {"X-API-Key": make_key(scopes=[Scope.AUTH_WRITE])}
    created = app_client.post(BASE, json={"authType": "NO_AUTH"}, headers=writer)
    auth_id = created.json()["authId"]
    reader = {"X-API-Key": make_key(scopes=[Scope.AUTH_READ])}
    for method, path, body in [
        ("POST", BASE, {"authType": "BEARER_TOKEN", "token": "t"}),
        ("PATCH", f"{BASE}/{auth_id}", {"headers": [{"key": "A", "value": "b"}]}),
        ("DELETE", f"{BASE}/{auth_id}", None),
        ("POST", f"{BASE}/{auth_id}/resolve", None),
    ]:
        error = error_of(app_client.request(method, path, json=body, headers=reader), 403)
        assert error["code"] == "forbidden"
    assert kv.paths() == [kv.path(INTG, auth_id)]
    assert kv.current_version(INTG, auth_id) == 1
    for method, path in [("GET", BASE), ("GET", f"{BASE}/{auth_id}")]:
        error = error_of(app_client.request(method, path, headers=writer), 403)
        assert error["code"] == "forbidden"
        assert app_client.request(method, path, headers=reader).status_code == 200


# -- 404 / 409 ----------------------------------------------------------------------------------


def test_unknown_record_is_404(api: TestClient) -> None:
    for method, body in [("GET", None), ("PATCH", {"token": "x"}), ("DELETE", None)]:
        error = error_of(api.request(method, f"{BASE}/auth_doesNotExist", json=body), 404)
        assert error["code"] == "not_found"
    error = error_of(api.post(f"{BASE}/auth_doesNotExist/resolve"), 404)
    assert error["code"] == "not_found"


def test_unknown_route_is_404_in_the_same_shape(api: TestClient) -> None:
    error = error_of(api.get("/v1/nothing-here"), 404)
    assert error["code"] == "not_found"
    error = error_of(api.put(f"{BASE}/auth_x", json={}), 405)
    assert error["code"] == "method_not_allowed"


def test_a_change_made_behind_the_facade_s_back_is_409(api: TestClient, kv: KvReader) -> None:
    auth_id = _create(api)
    document = kv.data(INTG, auth_id)
    kv.client.secrets.kv.v2.create_or_update_secret(
        path=kv.path(INTG, auth_id),
        secret={**document, "token": "out-of-band"},
        mount_point="secret",
    )
    error = error_of(api.patch(f"{BASE}/{auth_id}", json={"token": "mine"}), 409)
    assert error["code"] == "conflict"
    assert "mine" not in error["message"]
    # Nothing of the losing write was applied.
    assert kv.current_version(INTG, auth_id) == 2
    assert kv.data(INTG, auth_id)["token"] == "out-of-band"
    assert api.get(f"{BASE}/{auth_id}").json()["version"] == 1


# -- 413 ----------------------------------------------------------------------------------------


def test_body_over_64_kib_is_413(api: TestClient, kv: KvReader) -> None:
    big = {"authType": "BEARER_TOKEN", "token": "t", "pad": "x" * (64 * 1024)}
    error = error_of(api.post(BASE, json=big), 413)
    assert error["code"] == "payload_too_large"
    auth_id = _create(api)
    error = error_of(api.patch(f"{BASE}/{auth_id}", json=big), 413)
    assert error["code"] == "payload_too_large"
    assert kv.current_version(INTG, auth_id) == 1


def test_streamed_body_over_64_kib_is_413(api: TestClient) -> None:
    def chunks() -> Any:
        yield b'{"authType": "NO_AUTH", "pad": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    response = api.post(BASE, content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert error_of(response, 413)["code"] == "payload_too_large"


def test_body_just_under_the_limit_is_accepted(api: TestClient) -> None:
    headers = [{"key": f"X-H{i}", "value": "v" * MAX_HEADER_VALUE} for i in range(15)]
    body = {"authType": "NO_AUTH", "headers": headers}
    response = api.post(BASE, json=body)
    assert 60 * 1024 < len(response.request.content) < 64 * 1024
    assert response.status_code == 200, response.text


# -- 422 ----------------------------------------------------------------------------------------

INVALID_CREATES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"authType": "OAUTH2", "token": "t"}, "invalid_auth_type", "authType"),
    ({"authType": "", "token": "t"}, "invalid_auth_type", "authType"),
    ({"authType": 3}, "invalid_auth_type", "authType"),
    ({"token": "t"}, "missing_field", "authType"),
    ({"authType": "BEARER_TOKEN"}, "missing_credential", "token"),
    ({"authType": "BEARER_TOKEN", "username": "u", "password": "p"}, "missing_credential", "token"),
    ({"authType": "BASIC_AUTH", "username": "u"}, "missing_credential", "password"),
    ({"authType": "BASIC_AUTH", "password": "p"}, "missing_credential", "username"),
    ({"authType": "API_KEY", "token": "t"}, "missing_field", "apiKey"),
    ({"authType": "API_KEY", "apiKey": {"key": "k"}}, "missing_credential", "apiKey.value"),
    (
        {"authType": "BASIC_AUTH", "username": "u" * (MAX_USERNAME + 1), "password": "p"},
        "field_too_long",
        "username",
    ),
    (
        {"authType": "BASIC_AUTH", "username": "u", "password": "p" * (MAX_PASSWORD + 1)},
        "field_too_long",
        "password",
    ),
    ({"authType": "BEARER_TOKEN", "token": "t" * (MAX_TOKEN + 1)}, "field_too_long", "token"),
    ({"authType": "BEARER_TOKEN", "token": 42}, "invalid_field", "token"),
    ({"authType": "BEARER_TOKEN", "token": "t\r\nX-Injected: 1"}, "invalid_field", "token"),
    (
        {"authType": "API_KEY", "apiKey": {"key": "X-K", "value": "v\nX-Injected: 1"}},
        "invalid_field",
        "apiKey.value",
    ),
    (
        {"authType": "API_KEY", "apiKey": {"key": "k", "value": "v", "position": "body"}},
        "invalid_field",
        "apiKey.position",
    ),
    (
        {"authType": "API_KEY", "apiKey": {"key": "bad name", "value": "v"}},
        "invalid_field",
        "apiKey.key",
    ),
    (
        {
            "authType": "BEARER_TOKEN",
            "token": "t",
            "headers": [{"key": "authorization", "value": "x"}],
        },
        "header_conflict",
        "headers",
    ),
    (
        {
            "authType": "BASIC_AUTH",
            "username": "u",
            "password": "p",
            "headers": {"AUTHORIZATION": "x"},
        },
        "header_conflict",
        "headers",
    ),
    (
        {
            "authType": "API_KEY",
            "apiKey": {"key": "X-Key", "value": "v"},
            "headers": [{"key": "x-key", "value": "x"}],
        },
        "header_conflict",
        "headers",
    ),
    (
        {
            "authType": "NO_AUTH",
            "headers": [{"key": "A", "value": "1"}, {"key": "a", "value": "2"}],
        },
        "duplicate_header",
        "headers",
    ),
    (
        {"authType": "NO_AUTH", "headers": {f"X-H{i}": "v" for i in range(MAX_HEADERS + 1)}},
        "too_many_headers",
        "headers",
    ),
    (
        {"authType": "NO_AUTH", "headers": [{"key": "Bad Name", "value": "x"}]},
        "invalid_field",
        "headers.0.key",
    ),
    (
        {"authType": "NO_AUTH", "headers": [{"key": "X-A", "value": "a\r\nB: c"}]},
        "invalid_field",
        "headers.0.value",
    ),
    ({"authType": "NO_AUTH", "headers": {"X-A": "a\nb"}}, "invalid_field", "headers.0.value"),
    ({"authType": "NO_AUTH", "headers": "Accept: */*"}, "invalid_field", "headers"),
]


@pytest.mark.parametrize(("body", "code", "field"), INVALID_CREATES)
def test_invalid_create_is_422_and_touches_nothing(
    api: TestClient, kv: KvReader, body: dict[str, Any], code: str, field: str | None
) -> None:
    error = error_of(api.post(BASE, json=body), 422)
    assert error["code"] == code
    assert error.get("field") == field
    assert kv.paths() == []
    assert api.get(BASE).json()["data"] == []


def test_non_object_body_is_422(api: TestClient) -> None:
    for body in ([], "NO_AUTH", 5, None):
        response = api.post(BASE, json=body)
        assert error_of(response, 422)["code"] in ("invalid_field", "missing_field")


INVALID_PATCHES: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    ("BEARER_TOKEN", {"token": "t"}, {"authType": "API_KEY"}, "auth_type_immutable", "authType"),
    ("BEARER_TOKEN", {"token": "t"}, {"authType": "no_auth"}, "auth_type_immutable", "authType"),
    ("BEARER_TOKEN", {"token": "t"}, {"authType": "nonsense"}, "invalid_auth_type", "authType"),
    ("BEARER_TOKEN", {"token": "t"}, {"token": "t" * (MAX_TOKEN + 1)}, "field_too_long", "token"),
    ("BEARER_TOKEN", {"token": "t"}, {"token": ""}, "invalid_field", "token"),
    (
        "BASIC_AUTH",
        {"username": "u", "password": "p"},
        {"password": "p" * (MAX_PASSWORD + 1)},
        "field_too_long",
        "password",
    ),
    (
        "BASIC_AUTH",
        {"username": "u", "password": "p"},
        {"username": "u" * (MAX_USERNAME + 1)},
        "field_too_long",
        "username",
    ),
    (
        "BEARER_TOKEN",
        {"token": "t"},
        {"headers": [{"key": "Authorization", "value": "x"}]},
        "header_conflict",
        "headers",
    ),
    (
        # Moving the API key from the query to a header that a static header already uses.
        "API_KEY",
        {"apiKey": {"key": "X-Key", "value": "v", "position": "query"}, "headers": {"X-Key": "s"}},
        {"apiKey": {"key": "X-Key", "position": "header"}},
        "header_conflict",
        "headers",
    ),
    (
        "API_KEY",
        {"apiKey": {"key": "X-Key", "value": "v"}},
        {"apiKey": {"value": "v2"}},
        "missing_field",
        "apiKey.key",
    ),
]


@pytest.mark.parametrize(("auth_type", "create", "patch", "code", "field"), INVALID_PATCHES)
def test_invalid_patch_is_422_and_changes_nothing(
    api: TestClient,
    kv: KvReader,
    auth_type: str,
    create: dict[str, Any],
    patch: dict[str, Any],
    code: str,
    field: str,
) -> None:
    created = api.post(BASE, json={"authType": auth_type, **create})
    assert created.status_code == 200, created.text
    auth_id = created.json()["authId"]
    before = kv.data(INTG, auth_id)
    error = error_of(api.patch(f"{BASE}/{auth_id}", json=patch), 422)
    assert error["code"] == code
    assert error.get("field") == field
    assert kv.current_version(INTG, auth_id) == 1
    assert kv.data(INTG, auth_id) == before
    assert api.get(f"{BASE}/{auth_id}").json() == created.json()


# -- ids ----------------------------------------------------------------------------------------

# Path segments as sent on the wire (already percent-encoded where needed).
BAD_ID_SEGMENTS = [
    "%2E%2E",  # ..
    "%2e",  # .
    "a..b",
    "a%2Fb",  # a/b
    "a%2fb",
    "%2F",
    "..%2F..%2Fsys",
    "a%5Cb",  # a\b
    "intg.1",
    "a%20b",
    "%C3%A9",  # é
    "a%00",
    "a%252Fb",  # a%2Fb, after one decoding
    "x" * 65,
]


def _send_raw(client: TestClient, method: str, path: str, **kwargs: Any) -> httpx2.Response:
    """Send `path` exactly as written: httpx2 keeps an already-encoded path as it is."""
    url = httpx2.URL(f"http://testserver{path}")
    assert url.raw_path.decode() == path, "the client re-encoded or normalised the path"
    return client.request(method, url, **kwargs)


@pytest.mark.parametrize("segment", BAD_ID_SEGMENTS)
def test_bad_integration_id_is_422_on_every_endpoint(
    api: TestClient, kv: KvReader, segment: str
) -> None:
    auth_id = _create(api)
    base = f"/v1/integrations/{segment}/auth"
    for method, path, body in [
        ("POST", base, {"authType": "BEARER_TOKEN", "token": "t"}),
        ("GET", base, None),
        ("GET", f"{base}/{auth_id}", None),
        ("PATCH", f"{base}/{auth_id}", {"token": "x"}),
        ("DELETE", f"{base}/{auth_id}", None),
        ("POST", f"{base}/{auth_id}/resolve", None),
    ]:
        error = error_of(_send_raw(api, method, path, json=body), 422)
        assert error["code"] == "invalid_id", (method, path)
        assert error["field"] == "integrationId"
    assert kv.paths() == [kv.path(INTG, auth_id)]
    assert kv.current_version(INTG, auth_id) == 1


@pytest.mark.parametrize("segment", BAD_ID_SEGMENTS)
def test_bad_auth_id_is_422_on_every_endpoint(api: TestClient, kv: KvReader, segment: str) -> None:
    auth_id = _create(api)
    for method, path, body in [
        ("GET", f"{BASE}/{segment}", None),
        ("PATCH", f"{BASE}/{segment}", {"token": "x"}),
        ("DELETE", f"{BASE}/{segment}", None),
        ("POST", f"{BASE}/{segment}/resolve", None),
    ]:
        error = error_of(_send_raw(api, method, path, json=body), 422)
        assert error["code"] == "invalid_id", (method, path)
        assert error["field"] == "authId"
    assert kv.paths() == [kv.path(INTG, auth_id)]


def test_encoded_slash_cannot_reach_another_record(api: TestClient) -> None:
    """`<id>%2Fresolve` must not be routed as `<id>/resolve` (nor `x%2Fauth%2F<id>` as a get)."""
    auth_id = _create(api)
    response = _send_raw(api, "POST", f"{BASE}/{auth_id}%2Fresolve")
    assert error_of(response, 405)["code"] == "method_not_allowed"  # POST .../auth/{authId}
    assert "Bearer" not in response.text
    response = _send_raw(api, "GET", f"{BASE}/{auth_id}%2Fresolve")
    assert error_of(response, 422)["code"] == "invalid_id"
    response = _send_raw(api, "GET", f"/v1/integrations/{INTG}%2Fauth%2F{auth_id}/auth")
    assert error_of(response, 422)["code"] == "invalid_id"


def test_unencoded_slash_is_simply_another_url(api: TestClient, kv: KvReader) -> None:
    response = api.post("/v1/integrations/a/b/auth", json={"authType": "NO_AUTH"})
    assert error_of(response, 404)["code"] == "not_found"
    assert kv.paths() == []


def test_longest_valid_ids_work(api: TestClient) -> None:
    integration_id = "i" * 64
    created = api.post(f"/v1/integrations/{integration_id}/auth", json={"authType": "NO_AUTH"})
    assert created.status_code == 200, created.text
    assert created.json()["integrationId"] == integration_id
    for form in ("intg_AbC-123", "intg-AbC_123"):
        assert (
            api.post(f"/v1/integrations/{form}/auth", json={"authType": "NO_AUTH"}).status_code
            == 200
        )
