"""FacadeClient: resolve an integration's credentials through the vaultauth facade.

`POST /v1/integrations/{integrationId}/auth/{authId}/resolve` with `X-API-Key` (a key with the
`credentials:read` scope). Sync and async; each httpx client is created on first use, with an
injectable transport (tests pass the facade's ASGI app or a `MockTransport`).
"""

from __future__ import annotations

import ssl
from functools import partial
from types import TracebackType

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
