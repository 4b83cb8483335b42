"""The client library against scripted answers (httpx.MockTransport): errors, reprs, ids,
log redaction, and that importing it pulls in nothing of the server."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from vaultauth.client import (
    AccessDenied,
    ClientError,
    Conflict,
    CredentialCache,
    CredentialNotFound,
    FacadeClient,
    IntegrationAuth,
    InvalidRequest,
    PreconditionFailed,
    ResolvedCredentials,
    ServiceUnavailable,
    UnexpectedResponse,
    VaultResolver,
)
from vaultauth.client.credentials import redact_query_in_logs

API_KEY = "vak_cnryKEYid0001_cnry-api-key-secret"
SECRET = "cnry-unit-6Wm"
RESOLVED = {
    "authId": "auth_1",
    "integrationId": "intg_1",
    "authType": "BEARER_TOKEN",
    "version": 3,
    "headers": {"Authorization": f"Bearer {SECRET}"},
    "query": {},
}


def facade_answering(status: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers=headers)

    client = FacadeClient("http://facade.test/", API_KEY, transport=httpx.MockTransport(handle))
    return client, seen


def test_resolve_posts_with_the_key_and_parses_the_answer() -> None:
    client, seen = facade_answering(200, RESOLVED)
    credentials = client.resolve("intg_1", "auth_1")
    assert credentials == ResolvedCredentials(
        integration_id="intg_1",
        auth_id="auth_1",
        auth_type="BEARER_TOKEN",
        version=3,
        headers={"Authorization": f"Bearer {SECRET}"},
        query={},
    )
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "http://facade.test/v1/integrations/intg_1/auth/auth_1/resolve"
    assert request.headers["X-API-Key"] == API_KEY
    for text in (repr(client), repr(credentials), str(credentials)):
        assert SECRET not in text
        assert API_KEY not in text
    assert "Authorization" in repr(credentials)
    client.close()


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (
            401,
            {"code": "unauthenticated", "message": "a valid X-API-Key header is required"},
            AccessDenied,
        ),
        (403, {"code": "forbidden", "message": "this API key lacks the scope"}, AccessDenied),
        (404, {"code": "not_found", "message": "no such auth record"}, CredentialNotFound),
        (503, {"code": "vault_sealed", "message": "Vault is sealed"}, ServiceUnavailable),
        (500, {"code": "internal_error", "message": "unexpected"}, ServiceUnavailable),
        (422, {"code": "invalid_id", "message": "bad id"}, InvalidRequest),
        (409, {"code": "conflict", "message": "a concurrent change won"}, Conflict),
        (412, {"code": "precondition_failed", "message": "changed"}, PreconditionFailed),
        (418, {"code": "teapot", "message": "?"}, UnexpectedResponse),
    ],
)
def test_each_refusal_maps_to_one_error(
    status: int, error: dict[str, str], kind: type[ClientError]
) -> None:
    client, _ = facade_answering(status, {"error": error}, {"Retry-After": "7"})
    with pytest.raises(kind) as caught:
        client.resolve("intg_1", "auth_1")
    assert caught.value.status == status
    assert caught.value.code == error["code"]
    assert caught.value.source == "facade"
    assert error["message"] in str(caught.value)
    assert API_KEY not in str(caught.value)
    if isinstance(caught.value, ServiceUnavailable):
        assert caught.value.retry_after == 7
    client.close()


@pytest.mark.parametrize(
    "body",
    [
        b"not json " + SECRET.encode(),
        {**RESOLVED, "headers": [SECRET]},
        {**RESOLVED, "query": {"k": 1}},
        {k: v for k, v in RESOLVED.items() if k != "version"},
    ],
)
def test_a_malformed_answer_is_unexpected_and_quotes_nothing(body: Any) -> None:
    client, _ = facade_answering(200, body)
    with pytest.raises(UnexpectedResponse) as caught:
        client.resolve("intg_1", "auth_1")
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert caught.value.__cause__ is None
    client.close()


def test_an_unreachable_facade_is_unavailable_without_the_httpx_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = FacadeClient("http://facade.test", API_KEY, transport=httpx.MockTransport(refuse))
    with pytest.raises(ServiceUnavailable) as caught:
        client.resolve("intg_1", "auth_1")
    assert "unreachable" in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    client.close()


@pytest.mark.parametrize("bad", ["", "a/b", "..", "x" * 65, "a b", "é"])
def test_ids_are_checked_before_any_request(bad: str) -> None:
    client, seen = facade_answering(200, RESOLVED)
    with pytest.raises(ValueError, match="must be 1-64"):
        client.resolve(bad, "auth_1")
    with pytest.raises(ValueError, match="must be 1-64"):
        client.resolve("intg_1", bad)
    with pytest.raises(ValueError, match="must be 1-64"):
        IntegrationAuth(client, "intg_1", bad)
    assert seen == []
    client.close()


def test_the_async_client_answers_the_same() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=RESOLVED)

    async def go() -> ResolvedCredentials:
        client = FacadeClient(
            "http://facade.test", API_KEY, async_transport=httpx.MockTransport(handle)
        )
        try:
            return await client.aresolve("intg_1", "auth_1")
        finally:
            await client.aclose()

    assert asyncio.run(go()).version == 3


@pytest.mark.parametrize("ttl", [-1, 3601])
def test_the_adapter_ttl_is_bounded(ttl: float) -> None:
    client, _ = facade_answering(200, RESOLVED)
    with pytest.raises(ValueError, match="ttl"):
        CredentialCache(client, "intg_1", "auth_1", ttl=ttl)
    client.close()


def test_a_ttl_of_zero_fetches_for_every_request() -> None:
    client, seen = facade_answering(200, RESOLVED)
    auth = IntegrationAuth(client, "intg_1", "auth_1", ttl=0)
    upstream = httpx.MockTransport(lambda request: httpx.Response(200))
    with httpx.Client(auth=auth, transport=upstream) as http:
        http.get("http://api.test/")
        http.get("http://api.test/")
    assert len(seen) == 2
    client.close()


def test_an_oauth_answer_is_cached_no_longer_than_its_expiry() -> None:
    """A ttl of a minute, an access token that expires in two seconds: fetched again after
    two seconds (the monotonic clock is the cache's; the expiry is a wall-clock moment)."""
    expires = datetime.now(UTC) + timedelta(seconds=2)
    answer = {
        **RESOLVED,
        "authType": "OAUTH2_CLIENT_CREDENTIALS",
        "expiresAt": expires.isoformat().replace("+00:00", "Z"),
    }
    client, seen = facade_answering(200, answer)
    now = [100.0]
    cache = CredentialCache(client, "intg_1", "auth_1", ttl=60, clock=lambda: now[0])
    first = cache.get()
    assert first.expires_at is not None
    assert abs((first.expires_at - expires).total_seconds()) < 0.001
    now[0] += 1.5
    cache.get()
    assert len(seen) == 1
    now[0] += 1.0  # past the expiry, well within the ttl
    cache.get()
    assert len(seen) == 2
    client.close()


def test_a_plain_answer_has_no_expiry() -> None:
    client, _ = facade_answering(200, RESOLVED)
    assert client.resolve("intg_1", "auth_1").expires_at is None
    client.close()


# --- the direct-Vault resolver -----------------------------------------------------------


def vault_answering(status: int, body: Any) -> tuple[VaultResolver, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    resolver = VaultResolver(
        "http://vault.test",
        lambda: "cnry-vault-token",
        tenant="acme",
        mount="kv",
        prefix="team/vaultauth",
        namespace="team-a",
        transport=httpx.MockTransport(handle),
    )
    return resolver, seen


def test_the_resolver_reads_the_documented_path_with_token_and_namespace() -> None:
    document = {
        "format": "1",
        "authType": "API_KEY",
        "headers": [{"key": "Accept", "value": "application/json"}],
        "apiKey": {"key": "key", "value": SECRET, "position": "query"},
    }
    resolver, seen = vault_answering(200, {"data": {"data": document, "metadata": {"version": 4}}})
    credentials = resolver.resolve("intg_1", "auth_1")
    assert credentials.headers == {"Accept": "application/json"}
    assert credentials.query == {"key": SECRET}
    assert (credentials.auth_type, credentials.version) == ("API_KEY", 4)
    (request,) = seen
    assert request.method == "GET"
    assert request.url.path == "/v1/kv/data/team/vaultauth/acme/integrations/intg_1/auth/auth_1"
    assert request.headers["X-Vault-Token"] == "cnry-vault-token"
    assert request.headers["X-Vault-Namespace"] == "team-a"
    assert "cnry-vault-token" not in repr(resolver)
    resolver.close()


@pytest.mark.parametrize(
    ("status", "kind"),
    [(403, AccessDenied), (404, CredentialNotFound), (503, ServiceUnavailable)],
)
def test_vaults_refusals(status: int, kind: type[ClientError]) -> None:
    resolver, _ = vault_answering(status, {"errors": ["permission denied"]})
    with pytest.raises(kind) as caught:
        resolver.resolve("intg_1", "auth_1")
    assert caught.value.source == "vault"
    assert "cnry-vault-token" not in str(caught.value)
    resolver.close()


def test_a_malformed_document_is_unexpected_and_quotes_nothing() -> None:
    document = {"authType": "BEARER_TOKEN", "tokn": SECRET}
    resolver, _ = vault_answering(200, {"data": {"data": document, "metadata": {"version": 1}}})
    with pytest.raises(UnexpectedResponse) as caught:
        resolver.resolve("intg_1", "auth_1")
    assert SECRET not in str(caught.value)
    resolver.close()


@pytest.mark.parametrize(
    "kwargs",
    [{"tenant": "a/b"}, {"tenant": "acme", "mount": "kv/*"}, {"tenant": "acme", "prefix": ".."}],
)
def test_the_resolver_refuses_paths_that_could_escape(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="must be 1-64"):
        VaultResolver("http://vault.test", "t", **kwargs)  # type: ignore[arg-type]


# --- logs and imports --------------------------------------------------------------------


def test_query_credentials_are_masked_in_the_http_libraries_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    redact_query_in_logs(
        ResolvedCredentials("i", "a", "API_KEY", 1, headers={}, query={"api key": "x"})
    )
    url = httpx.URL("http://api.test/v1", params={"api key": SECRET, "page": "2"})
    logging.getLogger("httpx").info('HTTP Request: %s %s "%s"', "GET", url, "HTTP/1.1 200 OK")
    logging.getLogger("urllib3.connectionpool").debug(
        '%s://%s:%s "%s %s %s" %s',
        "http",
        "api.test",
        80,
        "GET",
        f"/v1?page=2&api%20key={SECRET}",
        "HTTP/1.1",
        200,
    )
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert all(SECRET not in message for message in messages)
    assert "page=2" in messages[0]
    assert "[redacted]" in messages[0]
    assert "api%20key=[redacted]" in messages[1]


def test_importing_the_client_pulls_in_nothing_of_the_server() -> None:
    probe = (
        "import sys, vaultauth.client as c; print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    for heavy in ("fastapi", "starlette", "hvac", "sqlalchemy", "alembic", "uvicorn", "requests"):
        assert f"'{heavy}'" not in loaded, heavy
    assert "'httpx'" in loaded
    assert "'pydantic'" in loaded


def test_concurrent_async_misses_share_one_fetch() -> None:
    class SlowSource:
        def __init__(self) -> None:
            self.calls = 0

        def resolve(self, integration_id: str, auth_id: str) -> ResolvedCredentials:
            raise AssertionError("the async path must not call the sync source")

        async def aresolve(self, integration_id: str, auth_id: str) -> ResolvedCredentials:
            self.calls += 1
            await asyncio.sleep(0.05)
            return ResolvedCredentials(
                integration_id=integration_id,
                auth_id=auth_id,
                auth_type="BEARER_TOKEN",
                version=1,
                headers={"Authorization": "Bearer t"},
                query={},
            )

    source = SlowSource()
    cache = CredentialCache(source, "intg_1", "auth_1", ttl=60)

    async def many() -> None:
        await asyncio.gather(*(cache.aget() for _ in range(10)))

    asyncio.run(many())
    assert source.calls == 1
