"""The adapters end to end: facade (uvicorn, real HTTP) -> adapter -> a real upstream server.

For each authType and each adapter (httpx sync, httpx async, requests) the upstream must see
exactly the credential header or query parameter, plus the static headers; the canary secrets
must be absent from every log record and every repr along the way.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import requests

from tests.support.upstream import Seen, Upstream
from vaultauth.client import (
    AccessDenied,
    FacadeClient,
    IntegrationAuth,
    RequestsIntegrationAuth,
    VaultResolver,
)
from vaultauth.settings import Settings

INTG = "intg_billing"
STATIC = [{"key": "X-Static", "value": "static-1"}]


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# name: (create body, headers the upstream must see, query it must see, canaries)
CASES: dict[str, tuple[dict[str, Any], dict[str, str], dict[str, str], list[str]]] = {
    "bearer": (
        {"authType": "BEARER_TOKEN", "token": "cnry-bearer-7Qx"},
        {"authorization": "Bearer cnry-bearer-7Qx"},
        {},
        ["cnry-bearer-7Qx"],
    ),
    "basic": (
        {"authType": "BASIC_AUTH", "username": "svc-user", "password": "cnry-pass-8Rw"},
        {"authorization": _basic("svc-user", "cnry-pass-8Rw")},
        {},
        ["cnry-pass-8Rw", _basic("svc-user", "cnry-pass-8Rw")[6:]],
    ),
    "api_key_header": (
        {
            "authType": "API_KEY",
            "apiKey": {"key": "X-Api-Key", "value": "cnry-hkey-9Sv", "position": "header"},
        },
        {"x-api-key": "cnry-hkey-9Sv"},
        {},
        ["cnry-hkey-9Sv"],
    ),
    "api_key_query": (
        {
            "authType": "API_KEY",
            "apiKey": {"key": "api_key", "value": "cnry-qkey-1Tu", "position": "query"},
        },
        {},
        {"api_key": "cnry-qkey-1Tu"},
        ["cnry-qkey-1Tu"],
    ),
    "no_auth": ({"authType": "NO_AUTH"}, {}, {}, []),
}
ALL_CANARIES = [c for case in CASES.values() for c in case[3]]
ADAPTERS = ["httpx-sync", "httpx-async", "requests"]


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every log record of the test, at DEBUG, from every logger: no canary in any of them."""
    caplog.set_level(logging.DEBUG)
    yield
    text = "\n".join(record.getMessage() for record in caplog.records)
    leaked = [canary for canary in ALL_CANARIES if canary in text]
    assert not leaked, f"secrets in the logs: {leaked}"


def create(admin: httpx.Client, body: dict[str, Any]) -> str:
    response = admin.post(f"/v1/integrations/{INTG}/auth", json={**body, "headers": STATIC})
    assert response.status_code == 200, response.text
    auth_id: str = response.json()["authId"]
    return auth_id


class Caller:
    """Sends requests through one adapter kind; async ones share one event loop per test."""

    def __init__(self, adapter: str) -> None:
        self.adapter = adapter
        self.loop = asyncio.new_event_loop()
        self.auths: list[Any] = []

    def __call__(self, auth: Any, url: str, *, method: str = "GET", **kwargs: Any) -> int:
        """Send one request through the adapter; return the status the caller sees."""
        if auth not in self.auths:
            self.auths.append(auth)
        if self.adapter == "httpx-sync":
            with httpx.Client(auth=auth) as client:
                return client.request(method, url, **kwargs).status_code
        if self.adapter == "httpx-async":

            async def go() -> int:
                async with httpx.AsyncClient(auth=auth) as client:
                    return (await client.request(method, url, **kwargs)).status_code

            return self.loop.run_until_complete(go())
        with requests.Session() as session:
            return session.request(method, url, auth=auth, timeout=10, **kwargs).status_code

    def close(self) -> None:
        for auth in self.auths:
            if isinstance(auth, IntegrationAuth):
                self.loop.run_until_complete(auth.aclose())
            else:
                auth.close()
        self.loop.close()


@pytest.fixture(params=ADAPTERS)
def call(request: pytest.FixtureRequest) -> Iterator[Caller]:
    caller = Caller(request.param)
    yield caller
    caller.close()


def make_auth(
    adapter: str, facade_url: str, key: str, auth_id: str, **options: Any
) -> IntegrationAuth | RequestsIntegrationAuth:
    if adapter == "requests":
        return RequestsIntegrationAuth.from_facade(facade_url, key, INTG, auth_id, **options)
    return IntegrationAuth.from_facade(facade_url, key, INTG, auth_id, **options)


def check_seen(seen: Seen, headers: dict[str, str], query: dict[str, str]) -> None:
    assert seen.headers["x-static"] == "static-1"
    for name, value in headers.items():
        assert seen.headers[name] == value
    if "authorization" not in headers:
        assert "authorization" not in seen.headers
    assert seen.query == {"page": "2", **query}


@pytest.mark.parametrize("case", list(CASES))
def test_the_upstream_receives_exactly_the_credential(
    case: str,
    call: Caller,
    admin: httpx.Client,
    facade_url: str,
    reader_key: str,
    upstream: Upstream,
) -> None:
    body, headers, query, canaries = CASES[case]
    auth_id = create(admin, body)
    auth = make_auth(call.adapter, facade_url, reader_key, auth_id)

    assert call(auth, f"{upstream.url}/v1/invoices?page=2") == 200
    assert call(auth, f"{upstream.url}/v1/invoices?page=2", method="POST", json={}) == 200

    assert [s.method for s in upstream.seen] == ["GET", "POST"]
    for seen in upstream.seen:
        assert seen.path == "/v1/invoices"
        check_seen(seen, headers, query)
    assert auth.cache.fetches == 1  # the second request used the cached credentials
    for text in (repr(auth), str(auth), repr(auth.cache), repr(auth.cache.get())):
        assert not [c for c in canaries if c in text]
        assert reader_key not in text


@pytest.mark.parametrize("case", list(CASES))
def test_vault_resolver_builds_what_the_facade_resolves(
    case: str, admin: httpx.Client, facade_url: str, reader_key: str, settings: Settings
) -> None:
    auth_id = create(admin, CASES[case][0])
    with FacadeClient(facade_url, reader_key) as facade:
        via_facade = facade.resolve(INTG, auth_id)
    direct = VaultResolver(
        settings.vault_addr,
        settings.vault_token.get_secret_value() if settings.vault_token else "",
        tenant="acme",
        mount=settings.vault_mount,
        prefix=settings.vault_prefix,
    )
    via_vault = direct.resolve(INTG, auth_id)
    direct.close()
    assert via_vault == via_facade
    assert via_facade.auth_type == CASES[case][0]["authType"]
    assert via_facade.version == 1


def test_a_query_credential_keeps_the_callers_own_parameters_and_replaces_a_spoofed_one(
    admin: httpx.Client, facade_url: str, reader_key: str, upstream: Upstream
) -> None:
    auth_id = create(admin, CASES["api_key_query"][0])
    auth = IntegrationAuth.from_facade(facade_url, reader_key, INTG, auth_id)
    url = f"{upstream.url}/search?q=a+b&api_key=spoofed&tag=x&tag=y"
    with httpx.Client(auth=auth) as client:
        assert client.get(url).status_code == 200
    auth.close()
    assert upstream.last.query == {"q": "a b", "api_key": "cnry-qkey-1Tu", "tag": "y"}


# --- rotation ---------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def patch_token(admin: httpx.Client, auth_id: str, token: str) -> None:
    response = admin.patch(f"/v1/integrations/{INTG}/auth/{auth_id}", json={"token": token})
    assert response.status_code == 200, response.text


def test_after_a_patch_the_next_resolve_has_the_new_token(
    admin: httpx.Client, facade_url: str, reader_key: str
) -> None:
    auth_id = create(admin, {"authType": "BEARER_TOKEN", "token": "cnry-bearer-7Qx"})
    with FacadeClient(facade_url, reader_key) as facade:
        before = facade.resolve(INTG, auth_id)
        again = facade.resolve(INTG, auth_id)  # the facade's cache serves this one
        patch_token(admin, auth_id, "cnry-pass-8Rw")
        after = facade.resolve(INTG, auth_id)
    assert before == again
    assert before.headers == {"Authorization": "Bearer cnry-bearer-7Qx", "X-Static": "static-1"}
    assert after.headers == {"Authorization": "Bearer cnry-pass-8Rw", "X-Static": "static-1"}
    assert (before.version, after.version) == (1, 2)


def test_the_adapter_picks_up_a_rotation_after_its_ttl(
    call: Caller, admin: httpx.Client, facade_url: str, reader_key: str, upstream: Upstream
) -> None:
    auth_id = create(admin, {"authType": "BEARER_TOKEN", "token": "cnry-bearer-7Qx"})
    clock = FakeClock()
    source = FacadeClient(facade_url, reader_key)
    auth: IntegrationAuth | RequestsIntegrationAuth
    if call.adapter == "requests":
        auth = RequestsIntegrationAuth(source, INTG, auth_id, ttl=30, clock=clock)
    else:
        auth = IntegrationAuth(source, INTG, auth_id, ttl=30, clock=clock)

    call(auth, upstream.url)
    patch_token(admin, auth_id, "cnry-pass-8Rw")
    clock.now += 29
    call(auth, upstream.url)  # still within the TTL: the old token
    clock.now += 2
    call(auth, upstream.url)  # past it: fetched again

    tokens = [s.headers["authorization"] for s in upstream.seen]
    assert tokens == ["Bearer cnry-bearer-7Qx"] * 2 + ["Bearer cnry-pass-8Rw"]


def test_a_401_refetches_once_and_resends_with_the_rotated_token(
    call: Caller, admin: httpx.Client, facade_url: str, reader_key: str, upstream: Upstream
) -> None:
    auth_id = create(admin, {"authType": "BEARER_TOKEN", "token": "cnry-bearer-7Qx"})
    valid = {"Bearer cnry-bearer-7Qx"}
    upstream.accept = lambda seen: seen.headers.get("authorization") in valid
    auth = make_auth(call.adapter, facade_url, reader_key, auth_id, ttl=3600)

    assert call(auth, upstream.url) == 200
    patch_token(admin, auth_id, "cnry-pass-8Rw")
    valid.clear()
    valid.add("Bearer cnry-pass-8Rw")  # the third party now refuses the old token
    status = call(auth, f"{upstream.url}/orders", method="POST", json={"n": 1})

    assert status == 200
    old, refused, resent = upstream.seen
    assert old.headers["authorization"] == refused.headers["authorization"]
    assert resent.headers["authorization"] == "Bearer cnry-pass-8Rw"
    assert resent.body == refused.body
    assert json.loads(resent.body) == {"n": 1}
    assert resent.method == "POST"
    assert auth.cache.fetches == 2


def test_a_401_with_unchanged_credentials_is_returned_without_a_resend(
    call: Caller, admin: httpx.Client, facade_url: str, reader_key: str, upstream: Upstream
) -> None:
    auth_id = create(admin, {"authType": "BEARER_TOKEN", "token": "cnry-bearer-7Qx"})
    upstream.accept = lambda _seen: False
    auth = make_auth(call.adapter, facade_url, reader_key, auth_id)

    assert call(auth, upstream.url) == 401
    assert len(upstream.seen) == 1
    assert auth.cache.fetches == 2  # fetched again after the 401, found unchanged


# --- the facade's refusals, as the adapter reports them -----------------------------------


def test_a_key_without_credentials_read_is_access_denied_without_secrets(
    admin: httpx.Client,
    facade_url: str,
    make_key: Callable[..., str],
    upstream: Upstream,
) -> None:
    from vaultauth.keys import Scope

    auth_id = create(admin, CASES["bearer"][0])
    reading_only = make_key("acme", [Scope.AUTH_READ])
    auth = IntegrationAuth.from_facade(facade_url, reading_only, INTG, auth_id)
    with pytest.raises(AccessDenied) as caught, httpx.Client(auth=auth) as client:
        client.get(upstream.url)
    auth.close()
    assert caught.value.status == 403
    assert caught.value.code == "forbidden"
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    assert reading_only not in str(caught.value)
    assert reading_only not in repr(caught.value)
    assert upstream.seen == []
