"""VaultResolver: build an integration's credentials straight from Vault KV v2, no facade.

For services that hold their own Vault token (see `policies/vaultauth-consumer.hcl`). It reads
`GET /v1/<mount>/data/<prefix>/<tenant>/integrations/<integrationId>/auth/<authId>` over plain
httpx (no hvac) and turns the secret document into headers and query parameters with the very
functions the facade uses (`vaultauth.document`, `vaultauth.resolve`), so both agree exactly.

It reads the latest KV version: a write is visible here as soon as Vault has it, a moment
before the facade's index names it.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import httpx

from vaultauth.client.credentials import HttpClients, ResolvedCredentials, check_id, error_for
from vaultauth.client.errors import FacadeOnly, UnexpectedResponse
from vaultauth.document import SecretDocument
from vaultauth.errors import VaultauthError
from vaultauth.ids import secret_path
from vaultauth.resolve import resolve

DEFAULT_TIMEOUT = 5.0


def _check_segments(value: str, what: str) -> str:
    for segment in value.strip("/").split("/"):
        check_id(segment, f"each segment of {what}")
    return value.strip("/")


class VaultResolver:
    """Reads auth records of one `tenant` from the KV v2 `mount`, below `prefix`.

    `token` is the Vault token, or a function returning the current one (for a token file
    that Vault Agent keeps fresh, pass `lambda: path.read_text().strip()`).
    """

    def __init__(
        self,
        addr: str,
        token: str | Callable[[], str],
        *,
        tenant: str,
        mount: str = "secret",
        prefix: str = "vaultauth",
        namespace: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | str | bool = True,
    ) -> None:
        self.addr = addr.rstrip("/")
        self.tenant = check_id(tenant, "tenant")
        self.mount = _check_segments(mount, "mount")
        self.prefix = _check_segments(prefix, "prefix")
        self.namespace = namespace
        if isinstance(token, str):
            fixed = token
            self._token: Callable[[], str] = lambda: fixed
        else:
            self._token = token
        self._http = HttpClients(
            "vault",
            self.addr,
            timeout=timeout,
            transport=transport,
            async_transport=async_transport,
            verify=verify,
        )

    def __repr__(self) -> str:
        return (
            f"VaultResolver(addr={self.addr!r}, mount={self.mount!r}, prefix={self.prefix!r}, "
            f"tenant={self.tenant!r})"
        )

    def _request(self, integration_id: str, auth_id: str) -> tuple[str, dict[str, str]]:
        check_id(integration_id, "integration_id")
        check_id(auth_id, "auth_id")
        path = secret_path(self.prefix, self.tenant, integration_id, auth_id)
        headers = {"X-Vault-Token": self._token(), "X-Vault-Request": "true"}
        if self.namespace:
            headers["X-Vault-Namespace"] = self.namespace
        return f"/v1/{self.mount}/data/{path}", headers

    def _answer(
        self, response: httpx.Response, integration_id: str, auth_id: str
    ) -> ResolvedCredentials:
        what = f"{integration_id}/{auth_id}"
        if response.status_code != 200:
            raise error_for(response, "vault", what)
        try:
            body: Any = response.json()
            data = body["data"]["data"]
            version = int(body["data"]["metadata"]["version"])
            document = SecretDocument.from_vault(data)
        except (ValueError, KeyError, TypeError, VaultauthError):
            raise UnexpectedResponse(
                f"the secret document of {what} in Vault is malformed", source="vault", status=200
            ) from None
        if document.auth_type.is_oauth2:
            raise FacadeOnly(
                f"{what} is a managed OAuth 2.0 credential ({document.auth_type.value}): the "
                "facade obtains and refreshes its access token, which a service reading Vault "
                "cannot do safely; resolve it through the facade (FacadeClient, "
                "IntegrationAuth.from_facade)",
                source="vault",
                status=200,
            )
        resolved = resolve(document)
        return ResolvedCredentials(
            integration_id=integration_id,
            auth_id=auth_id,
            auth_type=document.auth_type.value,
            version=version,
            headers=resolved.headers,
            query=resolved.query,
            allowed_hosts=resolved.allowed_hosts,
        )

    def resolve(self, integration_id: str, auth_id: str) -> ResolvedCredentials:
        """Read the secret document and build the headers and query parameters to send."""
        url, headers = self._request(integration_id, auth_id)
        response = self._http.send("GET", url, headers)
        return self._answer(response, integration_id, auth_id)

    async def aresolve(self, integration_id: str, auth_id: str) -> ResolvedCredentials:
        """`resolve`, without blocking the event loop."""
        url, headers = self._request(integration_id, auth_id)
        response = await self._http.asend("GET", url, headers)
        return self._answer(response, integration_id, auth_id)

    def close(self) -> None:
        self._http.close()

    async def aclose(self) -> None:
        await self._http.aclose()
