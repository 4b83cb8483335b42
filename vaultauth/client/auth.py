"""IntegrationAuth: an `httpx.Auth` (sync and async) that applies an integration's credentials.

    auth = IntegrationAuth.from_facade(FACADE_URL, API_KEY, "intg_billing", "auth_P3kNz7Yv1Qm9")
    httpx.get("https://api.example.com/v1/invoices", auth=auth)

Credentials are fetched from a `CredentialSource` (the facade, or Vault directly) and kept for
`ttl` seconds, and never past an OAuth 2.0 access token's `expiresAt`. When the third party
answers 401, they are fetched again at once and, if they changed (a rotation, a refreshed
access token), the request is sent once more with them; otherwise the 401 is returned.
A request whose body is a stream that cannot be replayed is not resent (its 401 is returned,
and the next request uses the new credentials).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Protocol, Self

import httpx

from vaultauth.client.credentials import ResolvedCredentials, check_id, redact_query_in_logs
from vaultauth.client.facade import DEFAULT_TIMEOUT, FacadeClient
from vaultauth.client.guards import async_hop_guard, check_destination, sync_hop_guard
from vaultauth.client.vault import VaultResolver
from vaultauth.headers import origin_of

DEFAULT_TTL = 60.0
MAX_TTL = 3600.0


class CredentialSource(Protocol):
    """Where credentials come from: `FacadeClient` or `VaultResolver` (or a test double)."""

    def resolve(self, integration_id: str, auth_id: str) -> ResolvedCredentials: ...

    async def aresolve(self, integration_id: str, auth_id: str) -> ResolvedCredentials: ...


def _changed(fresh: ResolvedCredentials, stale: ResolvedCredentials) -> bool:
    return (
        fresh.version != stale.version
        or dict(fresh.headers) != dict(stale.headers)
        or dict(fresh.query) != dict(stale.query)
    )


class CredentialCache:
    """One auth's credentials from `source`, kept `ttl` seconds (0: fetched for every request)."""

    def __init__(
        self,
        source: CredentialSource,
        integration_id: str,
        auth_id: str,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= ttl <= MAX_TTL:
            raise ValueError(f"ttl must be between 0 and {MAX_TTL:g} seconds")
        self.source = source
        self.integration_id = check_id(integration_id, "integration_id")
        self.auth_id = check_id(auth_id, "auth_id")
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()  # one fetch at a time from sync callers
        self._async_lock: asyncio.Lock | None = None  # ... and from the event loop's tasks
        self._current: ResolvedCredentials | None = None
        self._expires_at = 0.0
        self.fetches = 0

    def __repr__(self) -> str:
        return (
            f"CredentialCache(source={self.source!r}, integration_id={self.integration_id!r}, "
            f"auth_id={self.auth_id!r}, ttl={self.ttl})"
        )

    def _fresh(self) -> ResolvedCredentials | None:
        current = self._current
        if current is not None and self._clock() < self._expires_at:
            return current
        return None

    def _store(self, credentials: ResolvedCredentials) -> ResolvedCredentials:
        redact_query_in_logs(credentials)
        self.fetches += 1
        self._current = credentials
        # Never past an OAuth 2.0 access token's expiry, whatever the ttl.
        left = credentials.seconds_left()
        self._expires_at = self._clock() + (self.ttl if left is None else min(self.ttl, left))
        return credentials

    def invalidate(self) -> None:
        """Forget the credentials; the next request fetches them again."""
        self._current = None

    def get(self) -> ResolvedCredentials:
        cached = self._fresh()
        if cached is not None:
            return cached
        with self._lock:
            cached = self._fresh()
            if cached is not None:
                return cached
            return self._store(self.source.resolve(self.integration_id, self.auth_id))

    def _one_fetch_at_a_time(self) -> asyncio.Lock:
        # Made on first use, inside the event loop that uses this object (one per loop).
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        return self._async_lock

    async def aget(self) -> ResolvedCredentials:
        cached = self._fresh()
        if cached is not None:
            return cached
        async with self._one_fetch_at_a_time():
            cached = self._fresh()
            if cached is not None:
                return cached  # another task fetched them while this one waited
            return self._store(await self.source.aresolve(self.integration_id, self.auth_id))

    def refresh(self, stale: ResolvedCredentials) -> ResolvedCredentials | None:
        """After a 401 with `stale`: the new credentials, or None if they did not change."""
        with self._lock:
            current = self._current
            if current is not None and current is not stale and _changed(current, stale):
                return current  # another request already fetched the new ones
            fresh = self._store(self.source.resolve(self.integration_id, self.auth_id))
        return fresh if _changed(fresh, stale) else None

    async def arefresh(self, stale: ResolvedCredentials) -> ResolvedCredentials | None:
        async with self._one_fetch_at_a_time():
            current = self._current
            if current is not None and current is not stale and _changed(current, stale):
                return current
            fresh = self._store(await self.source.aresolve(self.integration_id, self.auth_id))
        return fresh if _changed(fresh, stale) else None


def apply_to_httpx(
    request: httpx.Request,
    credentials: ResolvedCredentials,
    previous: ResolvedCredentials | None = None,
) -> None:
    """Set the headers and query parameters on `request` (removing `previous` ones first).

    Raises CredentialWithheld (nothing set) when the request's host is not allowed or the
    credential names a forbidden header (guards.py)."""
    check_destination(credentials, str(request.url))
    url = request.url
    if previous is not None:
        for name in previous.headers:
            request.headers.pop(name, None)
        for name in previous.query:
            url = url.copy_remove_param(name)
    for name, value in credentials.headers.items():
        request.headers[name] = value
    for name, value in credentials.query.items():
        url = url.copy_set_param(name, value)
    request.url = url


def guard(request: httpx.Request, trace: object) -> None:
    """Install the redirect-hop guard as the request's `trace` extension (see guards.py)."""
    request.extensions = {**request.extensions, "trace": trace}


def _replayable(request: httpx.Request) -> bool:
    return isinstance(request.stream, httpx.ByteStream)


class CachedCredentialsAuth:
    """What both adapters share: a `CredentialCache` over a source, the constructors that build
    that source, and `invalidate`/`close`. Each adapter adds how it puts credentials on a request
    of its HTTP library."""

    def __init__(
        self,
        source: CredentialSource,
        integration_id: str,
        auth_id: str,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache = CredentialCache(source, integration_id, auth_id, ttl=ttl, clock=clock)

    @classmethod
    def from_facade(
        cls,
        base_url: str,
        api_key: str,
        integration_id: str,
        auth_id: str,
        *,
        ttl: float = DEFAULT_TTL,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> Self:
        """Credentials resolved by the facade at `base_url` with a `credentials:read` key."""
        source = FacadeClient(base_url, api_key, timeout=timeout, transport=transport)
        return cls(source, integration_id, auth_id, ttl=ttl)

    @classmethod
    def from_vault(
        cls,
        addr: str,
        token: str | Callable[[], str],
        integration_id: str,
        auth_id: str,
        *,
        tenant: str,
        mount: str = "secret",
        prefix: str = "vaultauth",
        namespace: str | None = None,
        ttl: float = DEFAULT_TTL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Self:
        """Credentials read straight from Vault with the service's own token."""
        source = VaultResolver(
            addr,
            token,
            tenant=tenant,
            mount=mount,
            prefix=prefix,
            namespace=namespace,
            timeout=timeout,
        )
        return cls(source, integration_id, auth_id, ttl=ttl)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cache!r})"

    def invalidate(self) -> None:
        """Forget the cached credentials; the next request fetches them again."""
        self.cache.invalidate()

    def close(self) -> None:
        """Close the source's connections (the facade or Vault client)."""
        close = getattr(self.cache.source, "close", None)
        if callable(close):
            close()


class IntegrationAuth(CachedCredentialsAuth, httpx.Auth):
    """Applies one integration auth's credentials to httpx requests (httpx.Client and
    httpx.AsyncClient alike). Thread-safe; share one per (integration, auth)."""

    @classmethod
    def from_facade(
        cls,
        base_url: str,
        api_key: str,
        integration_id: str,
        auth_id: str,
        *,
        ttl: float = DEFAULT_TTL,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> Self:
        """Credentials resolved by the facade at `base_url` with a `credentials:read` key."""
        source = FacadeClient(
            base_url,
            api_key,
            timeout=timeout,
            transport=transport,
            async_transport=async_transport,
        )
        return cls(source, integration_id, auth_id, ttl=ttl)

    async def aclose(self) -> None:
        """`close`, awaiting the source's `aclose` (its async connections too)."""
        aclose = getattr(self.cache.source, "aclose", None)
        if callable(aclose):
            await aclose()

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        callers_trace = request.extensions.get("trace")
        credentials = self.cache.get()
        apply_to_httpx(request, credentials)
        guard(request, sync_hop_guard(credentials, origin_of(str(request.url)), callers_trace))
        response = yield request
        if response.status_code != 401:
            return
        fresh = self.cache.refresh(credentials)
        if fresh is None or not _replayable(request):
            return
        apply_to_httpx(request, fresh, previous=credentials)
        guard(request, sync_hop_guard(fresh, origin_of(str(request.url)), callers_trace))
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        callers_trace = request.extensions.get("trace")
        credentials = await self.cache.aget()
        apply_to_httpx(request, credentials)
        guard(request, async_hop_guard(credentials, origin_of(str(request.url)), callers_trace))
        response = yield request
        if response.status_code != 401:
            return
        fresh = await self.cache.arefresh(credentials)
        if fresh is None or not _replayable(request):
            return
        apply_to_httpx(request, fresh, previous=credentials)
        guard(request, async_hop_guard(fresh, origin_of(str(request.url)), callers_trace))
        yield request
