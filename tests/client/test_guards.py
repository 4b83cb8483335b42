"""Where a credential may go: never to another origin on a redirect, only to allowedHosts, and
never as a header that controls the connection — with httpx (sync and async) and requests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests

from tests.support.upstream import Upstream, run_upstream
from vaultauth.client import (
    DestinationNotAllowed,
    ForbiddenHeader,
    IntegrationAuth,
    RedirectRefused,
    RequestsIntegrationAuth,
    ResolvedCredentials,
)
from vaultauth.headers import host_allowed, origin_of
from vaultauth.settings import Settings

KEY_VALUE = "k-guard-9Qz"


class Fixed:
    """A CredentialSource that always gives the same credentials (what Vault holds)."""

    def __init__(self, credentials: ResolvedCredentials) -> None:
        self.credentials = credentials

    def resolve(self, integration_id: str, auth_id: str) -> ResolvedCredentials:
        return self.credentials

    async def aresolve(self, integration_id: str, auth_id: str) -> ResolvedCredentials:
        return self.credentials


def credentials(
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    allowed_hosts: tuple[str, ...] | None = None,
) -> ResolvedCredentials:
    return ResolvedCredentials(
        integration_id="intg_g",
        auth_id="auth_g",
        auth_type="API_KEY",
        version=1,
        headers=headers or {},
        query=query or {},
        allowed_hosts=allowed_hosts,
    )


API_KEY_HEADER = credentials(headers={"X-Api-Key": KEY_VALUE, "Accept": "application/json"})
API_KEY_QUERY = credentials(query={"api_key": KEY_VALUE})
BEARER = credentials(headers={"Authorization": f"Bearer {KEY_VALUE}"})


@pytest.fixture
def elsewhere() -> Iterator[Upstream]:
    """Another origin (another port of 127.0.0.1)."""
    with run_upstream() as server:
        yield server


def send(client_kind: str, creds: ResolvedCredentials, url: str) -> int:
    """GET `url` following redirects, with `creds` applied by the adapter of `client_kind`."""
    if client_kind == "requests":
        auth = RequestsIntegrationAuth(Fixed(creds), "intg_g", "auth_g", ttl=0)
        return requests.get(url, auth=auth, timeout=5).status_code
    httpx_auth = IntegrationAuth(Fixed(creds), "intg_g", "auth_g", ttl=0)
    if client_kind == "httpx-async":

        async def go() -> int:
            async with httpx.AsyncClient(auth=httpx_auth, follow_redirects=True) as client:
                return (await client.get(url)).status_code

        return asyncio.run(go())
    with httpx.Client(auth=httpx_auth, follow_redirects=True) as client:
        return client.get(url).status_code


CLIENTS = ["httpx", "httpx-async", "requests"]


@pytest.mark.parametrize("client_kind", CLIENTS)
@pytest.mark.parametrize("creds", [API_KEY_HEADER, API_KEY_QUERY], ids=["header", "query"])
def test_a_redirect_to_another_origin_never_receives_the_credential(
    client_kind: str, creds: ResolvedCredentials, upstream: Upstream, elsewhere: Upstream
) -> None:
    # The third party sends the request elsewhere, query string and all.
    upstream.redirect = lambda seen: (
        f"{elsewhere.url}/landing?" + "&".join(f"{k}={v}" for k, v in seen.query.items())
    )
    with pytest.raises(RedirectRefused, match="another origin"):
        send(client_kind, creds, f"{upstream.url}/start")
    assert len(upstream.seen) == 1  # the credential went where it was meant to ...
    assert elsewhere.seen == []  # ... and nowhere else


def redirect_once(upstream: Upstream, location: str) -> None:
    """The next request is answered `302 Location: location`; the ones after it 200."""

    def once(_seen: Any) -> str:
        upstream.redirect = None
        return location

    upstream.redirect = once


@pytest.mark.parametrize("client_kind", CLIENTS)
def test_a_same_origin_redirect_keeps_the_credential(client_kind: str, upstream: Upstream) -> None:
    redirect_once(upstream, f"{upstream.url}/moved")
    assert send(client_kind, API_KEY_HEADER, f"{upstream.url}/start") == 200
    assert [s.path for s in upstream.seen] == ["/start", "/moved"]
    assert upstream.seen[1].headers["x-api-key"] == KEY_VALUE


@pytest.mark.parametrize("client_kind", CLIENTS)
def test_a_bearer_token_dropped_by_the_library_lets_a_cdn_redirect_through(
    client_kind: str, upstream: Upstream, elsewhere: Upstream
) -> None:
    """httpx and requests drop Authorization when the host changes: nothing of the credential
    reaches the other origin, so the redirect (a download from a CDN) is followed."""
    upstream.redirect = lambda seen: f"http://localhost:{elsewhere.url.rsplit(':', 1)[1]}/file"
    assert send(client_kind, BEARER, f"{upstream.url}/download") == 200
    assert "authorization" not in elsewhere.last.headers


@pytest.mark.parametrize("client_kind", CLIENTS)
def test_a_host_outside_allowed_hosts_gets_nothing(client_kind: str, upstream: Upstream) -> None:
    bound = credentials(headers={"X-Api-Key": KEY_VALUE}, allowed_hosts=("api.example.com",))
    with pytest.raises(DestinationNotAllowed, match=r"api\.example\.com, not to 127\.0\.0\.1"):
        send(client_kind, bound, f"{upstream.url}/x")
    assert upstream.seen == []
    allowed = credentials(headers={"X-Api-Key": KEY_VALUE}, allowed_hosts=("127.0.0.1",))
    assert send(client_kind, allowed, f"{upstream.url}/x") == 200
    assert upstream.last.headers["x-api-key"] == KEY_VALUE


@pytest.mark.parametrize("client_kind", CLIENTS)
@pytest.mark.parametrize("name", ["Host", "transfer-encoding", "Content-Length"])
def test_a_connection_header_from_vault_is_never_sent(
    client_kind: str, name: str, upstream: Upstream
) -> None:
    smuggling = credentials(headers={name: "evil.example"})
    with pytest.raises(ForbiddenHeader, match="controls the connection"):
        send(client_kind, smuggling, f"{upstream.url}/x")
    assert upstream.seen == []


@pytest.mark.parametrize(
    ("host", "patterns", "allowed"),
    [
        ("api.example.com", ("api.example.com",), True),
        ("API.Example.COM", ("api.example.com",), True),
        ("a.b.example.com", ("*.example.com",), True),
        ("example.com", ("*.example.com",), False),
        ("evil-example.com", ("*.example.com",), False),
        ("example.com.evil.net", ("example.com",), False),
        ("other.net", ("api.example.com", "*.example.com"), False),
        ("anything.net", None, True),
    ],
)
def test_host_patterns(host: str, patterns: tuple[str, ...] | None, allowed: bool) -> None:
    assert host_allowed(host, patterns) is allowed


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("https://a.example.com/x", "https://a.example.com:443/y?q=1", True),
        ("http://a.example.com/x", "https://a.example.com/x", False),
        ("https://a.example.com/x", "https://a.example.com:8443/x", False),
        ("https://a.example.com/x", "https://b.example.com/x", False),
    ],
)
def test_origins(first: str, second: str, same: bool) -> None:
    assert (origin_of(first) == origin_of(second)) is same


@pytest.mark.parametrize("source", ["facade", "vault"])
def test_a_records_allowed_hosts_are_enforced_through_the_facade_and_vault_directly(
    source: str,
    admin: httpx.Client,
    facade_url: str,
    reader_key: str,
    settings: Settings,
    upstream: Upstream,
) -> None:
    body = {
        "authType": "API_KEY",
        "apiKey": {"key": "X-Api-Key", "value": KEY_VALUE},
        "headers": [{"key": "X-Tenant-Secret", "value": "ts-9", "secret": True}],
        "allowedHosts": ["api.example.com"],
    }
    created = admin.post("/v1/integrations/intg_g/auth", json=body)
    assert created.status_code == 200, created.text
    auth_id = created.json()["authId"]
    if source == "facade":
        auth = IntegrationAuth.from_facade(facade_url, reader_key, "intg_g", auth_id)
    else:
        token = settings.vault_token.get_secret_value() if settings.vault_token else ""
        auth = IntegrationAuth.from_vault(
            settings.vault_addr,
            token,
            "intg_g",
            auth_id,
            tenant="acme",
            mount=settings.vault_mount,
            prefix=settings.vault_prefix,
        )
    with httpx.Client(auth=auth) as client, pytest.raises(DestinationNotAllowed):
        client.get(f"{upstream.url}/x")
    assert upstream.seen == []
    # Widened to the upstream's host, the credential (secret header included) is sent.
    admin.patch(f"/v1/integrations/intg_g/auth/{auth_id}", json={"allowedHosts": ["127.0.0.1"]})
    auth.invalidate()
    with httpx.Client(auth=auth) as client:
        assert client.get(f"{upstream.url}/x").status_code == 200
    auth.close()
    assert upstream.last.headers["x-api-key"] == KEY_VALUE
    assert upstream.last.headers["x-tenant-secret"] == "ts-9"
