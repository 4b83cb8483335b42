"""FacadeClient: the vaultauth facade's API, for services and operator scripts.

Services resolve credentials (`resolve`/`aresolve`: `POST .../auth/{authId}/resolve` with a
`credentials:read` key), sync or async. Operator scripts manage records with typed calls -
create, get, list, update, delete, due, versions, rollback - that raise the same error classes
(an `If-Match` mismatch is PreconditionFailed, a refused body InvalidRequest, ...). Each httpx
client is created on first use, with an injectable transport (tests pass the facade's ASGI app
or a `MockTransport`).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any

import httpx
from pydantic import SecretStr

from vaultauth.client.credentials import (
    HttpClients,
    ResolvedCredentials,
    check_id,
    error_for,
    parse_resolved,
)
from vaultauth.client.errors import UnexpectedResponse
from vaultauth.client.records import AuthRecordInfo, RecordPage, VersionInfo

DEFAULT_TIMEOUT = 5.0


def _headers(api_key: SecretStr) -> dict[str, str]:
    return {"X-API-Key": api_key.get_secret_value(), "Accept": "application/json"}


class FacadeClient:
    """A client of the facade at `base_url`, calling with `api_key`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | str | bool = True,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is empty")
        self.base_url = base_url.rstrip("/")
        self._api_key = SecretStr(api_key)
        self._http = HttpClients(
            "facade",
            self.base_url,
            headers=partial(_headers, self._api_key),  # no reference back to self
            timeout=timeout,
            transport=transport,
            async_transport=async_transport,
            verify=verify,
        )

    def __repr__(self) -> str:
        return f"FacadeClient(base_url={self.base_url!r})"

    @staticmethod
    def _path(integration_id: str, auth_id: str) -> str:
        check_id(integration_id, "integration_id")
        check_id(auth_id, "auth_id")
        return f"/v1/integrations/{integration_id}/auth/{auth_id}/resolve"

    def _answer(self, response: httpx.Response, what: str) -> ResolvedCredentials:
        if response.status_code != 200:
            raise error_for(response, "facade", what)
        try:
            return parse_resolved(response.json())
        except ValueError:
            raise UnexpectedResponse(
                f"the facade's answer for {what} is malformed", source="facade", status=200
            ) from None

    def resolve(self, integration_id: str, auth_id: str) -> ResolvedCredentials:
        """The headers and query parameters to send for this auth, fresh from the facade."""
        response = self._http.send("POST", self._path(integration_id, auth_id))
        return self._answer(response, f"{integration_id}/{auth_id}")

    async def aresolve(self, integration_id: str, auth_id: str) -> ResolvedCredentials:
        """`resolve`, without blocking the event loop."""
        response = await self._http.asend("POST", self._path(integration_id, auth_id))
        return self._answer(response, f"{integration_id}/{auth_id}")

    # --- records (operator scripts) ---------------------------------------------------------

    def create(
        self,
        integration_id: str,
        body: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> AuthRecordInfo:
        """Create a record; `body` as the API takes it (`{"authType": ..., "token": ...}`).
        With `idempotency_key`, a repeat (a lost answer) gets the same record."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        response = self._http.send("POST", _records(integration_id), headers, json=dict(body))
        return self._record(response, integration_id)

    def get(self, integration_id: str, auth_id: str) -> AuthRecordInfo:
        response = self._http.send("GET", _record(integration_id, auth_id))
        return self._record(response, f"{integration_id}/{auth_id}")

    def list(
        self, integration_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> RecordPage:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = self._http.send("GET", _records(integration_id), params=params)
        return self._page(response, integration_id)

    def update(
        self,
        integration_id: str,
        auth_id: str,
        changes: Mapping[str, Any],
        *,
        if_match: str | None = None,
    ) -> AuthRecordInfo:
        """PATCH: fields given change (null clears label, dates and allowedHosts), others stay.
        With `if_match` (a record's `etag`), a record changed since raises PreconditionFailed."""
        response = self._http.send(
            "PATCH", _record(integration_id, auth_id), _if_match(if_match), json=dict(changes)
        )
        return self._record(response, f"{integration_id}/{auth_id}")

    def delete(self, integration_id: str, auth_id: str, *, if_match: str | None = None) -> None:
        response = self._http.send("DELETE", _record(integration_id, auth_id), _if_match(if_match))
        if response.status_code != 204:
            raise error_for(response, "facade", f"{integration_id}/{auth_id}")

    def due(self, before: datetime, *, limit: int = 50, cursor: str | None = None) -> RecordPage:
        """The tenant's records whose expiresAt or rotateAfter is before `before`."""
        params: dict[str, Any] = {"before": before.isoformat(), "limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = self._http.send("GET", "/v1/auth/due", params=params)
        return self._page(response, "due")

    def versions(self, integration_id: str, auth_id: str) -> tuple[VersionInfo, ...]:
        """The record's versions in Vault, newest first (numbers and dates only)."""
        response = self._http.send("GET", f"{_record(integration_id, auth_id)}/versions")
        body = self._json(response, f"{integration_id}/{auth_id}")
        try:
            return tuple(
                VersionInfo(
                    version=int(v["version"]),
                    created_at=datetime.fromisoformat(str(v["createdAt"]).replace("Z", "+00:00")),
                    current=bool(v["current"]),
                    available=bool(v["available"]),
                )
                for v in body["data"]
            )
        except (KeyError, TypeError, ValueError):
            raise _malformed(f"{integration_id}/{auth_id}") from None

    def rollback(
        self, integration_id: str, auth_id: str, version: int, *, if_match: str | None = None
    ) -> AuthRecordInfo:
        """Make version `version`'s credential and static headers current again (a new
        version); the record keeps its label, dates and allowedHosts."""
        response = self._http.send(
            "POST",
            f"{_record(integration_id, auth_id)}/rollback",
            _if_match(if_match),
            json={"version": version},
        )
        return self._record(response, f"{integration_id}/{auth_id}")

    def _json(self, response: httpx.Response, what: str) -> Any:
        if response.status_code != 200:
            raise error_for(response, "facade", what)
        try:
            return response.json()
        except ValueError:
            raise _malformed(what) from None

    def _record(self, response: httpx.Response, what: str) -> AuthRecordInfo:
        body = self._json(response, what)
        try:
            return AuthRecordInfo.from_answer(body, response.headers.get("ETag"))
        except (KeyError, TypeError, ValueError):
            raise _malformed(what) from None

    def _page(self, response: httpx.Response, what: str) -> RecordPage:
        body = self._json(response, what)
        try:
            records = tuple(AuthRecordInfo.from_answer(r) for r in body["data"])
            return RecordPage(records=records, next_cursor=body.get("nextCursor"))
        except (KeyError, TypeError, ValueError):
            raise _malformed(what) from None

    def close(self) -> None:
        self._http.close()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __enter__(self) -> FacadeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _records(integration_id: str) -> str:
    check_id(integration_id, "integration_id")
    return f"/v1/integrations/{integration_id}/auth"


def _record(integration_id: str, auth_id: str) -> str:
    check_id(auth_id, "auth_id")
    return f"{_records(integration_id)}/{auth_id}"


def _if_match(etag: str | None) -> dict[str, str] | None:
    return {"If-Match": etag} if etag is not None else None


def _malformed(what: str) -> UnexpectedResponse:
    return UnexpectedResponse(
        f"the facade's answer for {what} is malformed", source="facade", status=200
    )
