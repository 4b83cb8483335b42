"""FacadeClient: resolve an integration's credentials through the vaultauth facade.

`POST /v1/integrations/{integrationId}/auth/{authId}/resolve` with `X-API-Key` (a key with the
`credentials:read` scope). Sync and async; each httpx client is created on first use, with an
injectable transport (tests pass the facade's ASGI app or a `MockTransport`).
"""

from __future__ import annotations

import ssl
import threading
from types import TracebackType

import httpx
from pydantic import SecretStr

from vaultauth.client.credentials import (
    ResolvedCredentials,
    check_id,
    error_for,
    parse_resolved,
    unreachable,
)
from vaultauth.client.errors import UnexpectedResponse

DEFAULT_TIMEOUT = 5.0


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
        self._timeout = timeout
        self._transport = transport
        self._async_transport = async_transport
        self._verify = verify
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._async_client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"FacadeClient(base_url={self.base_url!r})"

    def _headers(self) -> dict[str, str]:
        return {"X-API-Key": self._api_key.get_secret_value(), "Accept": "application/json"}

    def _sync(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    base_url=self.base_url,
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
                    base_url=self.base_url,
                    headers=self._headers(),
                    timeout=self._timeout,
                    transport=self._async_transport,
                    verify=self._verify,
                )
            return self._async_client

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
        path = self._path(integration_id, auth_id)
        what = f"{integration_id}/{auth_id}"
        try:
            response = self._sync().post(path)
        except httpx.TransportError as exc:
            raise unreachable(exc, "facade", self.base_url) from None
        return self._answer(response, what)

    async def aresolve(self, integration_id: str, auth_id: str) -> ResolvedCredentials:
        """`resolve`, without blocking the event loop."""
        path = self._path(integration_id, auth_id)
        what = f"{integration_id}/{auth_id}"
        try:
            response = await self._async().post(path)
        except httpx.TransportError as exc:
            raise unreachable(exc, "facade", self.base_url) from None
        return self._answer(response, what)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        with self._lock:
            client, self._async_client = self._async_client, None
        if client is not None:
            await client.aclose()
        self.close()

    def __enter__(self) -> FacadeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
