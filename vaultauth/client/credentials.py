"""Resolved credentials, what every source produces, and the helpers the sources share.

`ResolvedCredentials` is the client-side twin of the facade's resolve answer. Its `repr()`
names the headers and query parameters but never shows a value. Because an API key in the
query would otherwise be written to the logs with the URL (httpx logs every request URL at
INFO, urllib3 at DEBUG), applying such a credential installs `QueryRedactingFilter` on those
loggers, which masks the values of the query parameters credentials have set.
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from vaultauth.client.errors import (
    AccessDenied,
    ClientError,
    Conflict,
    CredentialNotFound,
    InvalidRequest,
    PreconditionFailed,
    ServiceUnavailable,
    Source,
    UnexpectedResponse,
)
from vaultauth.ids import ID_PATTERN

_ID_RE = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class ResolvedCredentials:
    """What to put on an outbound request: `headers` to set and `query` parameters to add."""

    integration_id: str
    auth_id: str
    auth_type: str
    version: int
    headers: Mapping[str, str] = field(repr=False)
    query: Mapping[str, str] = field(repr=False)
    allowed_hosts: tuple[str, ...] | None = None  # None: any host
    expires_at: datetime | None = None  # OAuth 2.0 types: when the access token expires

    def __repr__(self) -> str:
        return (
            f"ResolvedCredentials(integration_id={self.integration_id!r}, "
            f"auth_id={self.auth_id!r}, auth_type={self.auth_type!r}, version={self.version}, "
            f"headers={sorted(self.headers)!r}, query={sorted(self.query)!r}, "
            f"allowed_hosts={self.allowed_hosts!r}, expires_at={self.expires_at!r})"
        )

    def seconds_left(self, now: datetime | None = None) -> float | None:
        """Seconds until `expires_at` (never below 0); None when they do not expire."""
        if self.expires_at is None:
            return None
        moment = now if now is not None else datetime.now(UTC)
        return max(0.0, (self.expires_at - moment).total_seconds())

    __str__ = __repr__


def check_id(value: str, what: str) -> str:
    """Refuse an id the facade would refuse, before it is put in a URL path."""
    if not isinstance(value, str) or _ID_RE.fullmatch(value) is None:
        raise ValueError(f"{what} must be 1-64 characters of letters, digits, '_' and '-'")
    return value


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return float(value)
    except ValueError:
        return None


def error_for(response: httpx.Response, source: Source, what: str) -> ClientError:
    """The ClientError for a non-2xx answer; the message is ours plus the facade's code."""
    status = response.status_code
    code: str | None = None
    detail = ""
    if source == "facade":
        try:
            error = response.json()["error"]
            code = str(error["code"])
            detail = f": {error['message']}"
        except (ValueError, KeyError, TypeError):
            pass
    message = f"{source} answered {status} for {what}{detail}"
    if status in (401, 403):
        return AccessDenied(message, source=source, status=status, code=code)
    if status == 404:
        return CredentialNotFound(message, source=source, status=status, code=code)
    if status in (400, 422):
        return InvalidRequest(message, source=source, status=status, code=code)
    if status == 409:
        return Conflict(message, source=source, status=status, code=code)
    if status == 412:
        return PreconditionFailed(message, source=source, status=status, code=code)
    if status == 429 or status >= 500:
        return ServiceUnavailable(
            message, source=source, status=status, code=code, retry_after=_retry_after(response)
        )
    return UnexpectedResponse(message, source=source, status=status, code=code)


def unreachable(exc: httpx.TransportError, source: Source, where: str) -> ServiceUnavailable:
    kind = "did not answer in time" if isinstance(exc, httpx.TimeoutException) else "unreachable"
    message = f"{source} at {where} is {kind} ({type(exc).__name__})"
    return ServiceUnavailable(message, source=source)


class HttpClients:
    """The httpx clients of one source at `base_url`: a sync and an async one, each built on
    first use (`headers()` is called then) and closed by `close`/`aclose`. A transport error
    becomes ServiceUnavailable, chaining nothing (the httpx error's request carries secrets)."""

    def __init__(
        self,
        source: Source,
        base_url: str,
        *,
        timeout: float,
        transport: httpx.BaseTransport | None,
        async_transport: httpx.AsyncBaseTransport | None,
        verify: ssl.SSLContext | str | bool,
        headers: Callable[[], dict[str, str]] = dict,
    ) -> None:
        self._source = source
        self._base_url = base_url
        self._timeout = timeout
        self._transport = transport
        self._async_transport = async_transport
        self._verify = verify
        self._headers = headers
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._async_client: httpx.AsyncClient | None = None

    def _sync(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    base_url=self._base_url,
                    headers=self._headers(),
                    timeout=self._timeout,
                    transport=self._transport,
                    verify=self._verify,
                )
            return self._client

    def _async(self) -> httpx.AsyncClient:
        with self._lock:
            if self._async_client is None:
                self._async_client = httpx.AsyncClient(
                    base_url=self._base_url,
                    headers=self._headers(),
                    timeout=self._timeout,
                    transport=self._async_transport,
                    verify=self._verify,
                )
            return self._async_client

    def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        try:
            return self._sync().request(method, url, headers=headers, json=json, params=params)
        except httpx.TransportError as exc:
            raise unreachable(exc, self._source, self._base_url) from None

    async def asend(
        self, method: str, url: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        try:
            return await self._async().request(method, url, headers=headers)
        except httpx.TransportError as exc:
            raise unreachable(exc, self._source, self._base_url) from None

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the async client, then the sync one."""
        with self._lock:
            client, self._async_client = self._async_client, None
        if client is not None:
            await client.aclose()
        self.close()


class QueryRedactingFilter(logging.Filter):
    """Masks, in log messages, the values of query parameters that credentials have set."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._names: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add_names(self, names: Iterable[str]) -> None:
        with self._lock:
            new = set(names) - self._names
            if not new:
                return
            self._names |= new
            spellings = {s for n in self._names for s in (n, quote(n, safe=""), quote_plus(n))}
            alternatives = "|".join(re.escape(s) for s in sorted(spellings, key=len, reverse=True))
            self._pattern = re.compile(rf"([?&](?:{alternatives}))=[^&#\s\"'>]*")

    def filter(self, record: logging.LogRecord) -> bool:
        pattern = self._pattern
        if pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's business, not ours
            return True
        redacted = pattern.sub(r"\1=[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACTOR = QueryRedactingFilter()
_REDACTED_LOGGERS = ("httpx", "urllib3.connectionpool")
_install_lock = threading.Lock()
_installed = False


def redact_query_in_logs(credentials: ResolvedCredentials) -> None:
    """Make sure the values of `credentials.query` never reach the HTTP libraries' logs."""
    global _installed
    if not credentials.query:
        return
    _REDACTOR.add_names(credentials.query)
    if not _installed:
        with _install_lock:
            if not _installed:
                for name in _REDACTED_LOGGERS:
                    logging.getLogger(name).addFilter(_REDACTOR)
                _installed = True


def parse_resolved(payload: Any) -> ResolvedCredentials:
    """The facade's resolve answer as ResolvedCredentials; ValueError (without values) if bad."""
    try:
        headers = payload["headers"]
        query = payload["query"]
        allowed_hosts = payload.get("allowedHosts")  # absent from facades before 0.2
        expires_at = payload.get("expiresAt")  # OAuth 2.0 types only
        if not _is_str_map(headers) or not _is_str_map(query):
            raise ValueError
        if allowed_hosts is not None and not (
            isinstance(allowed_hosts, list) and all(isinstance(h, str) for h in allowed_hosts)
        ):
            raise ValueError
        return ResolvedCredentials(
            integration_id=str(payload["integrationId"]),
            auth_id=str(payload["authId"]),
            auth_type=str(payload["authType"]),
            version=int(payload["version"]),
            headers=dict(headers),
            query=dict(query),
            allowed_hosts=(
                tuple(h.lower() for h in allowed_hosts) if allowed_hosts is not None else None
            ),
            expires_at=_moment(expires_at) if expires_at is not None else None,
        )
    except (KeyError, TypeError, ValueError):
        raise ValueError("the resolve answer is malformed") from None


def _moment(value: object) -> datetime:
    if not isinstance(value, str):
        raise TypeError("not a date-time")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    return moment.astimezone(UTC)


def _is_str_map(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )
