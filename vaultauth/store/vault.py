"""The Vault KV v2 adapter: one pooled hvac client per process; hvac/requests errors -> errors.*.

Every hvac or requests exception is translated here, once, into the domain tree. Their text is
never passed on: hvac's exceptions carry Vault's URL and response body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import hvac
import hvac.exceptions
import requests
import requests.adapters

from vaultauth.errors import Conflict, VaultUnavailable
from vaultauth.ports import SecretVersionInfo

T = TypeVar("T")

_CAS_MISMATCH = "check-and-set parameter did not match"


def _pooled_session(pool_size: int) -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def translate(exc: Exception) -> NoReturn:
    """Raise the domain error for an hvac/requests exception (never its text)."""
    if isinstance(exc, hvac.exceptions.InvalidRequest) and _CAS_MISMATCH in str(exc):
        raise Conflict("a concurrent change to this record won; read it again and retry") from None
    if isinstance(exc, hvac.exceptions.VaultDown):
        raise VaultUnavailable("Vault is sealed or not ready", code="vault_sealed") from None
    if isinstance(exc, hvac.exceptions.InvalidPath):
        raise VaultUnavailable(
            "the KV mount is missing or not version 2", code="vault_misconfigured"
        ) from None
    if isinstance(exc, hvac.exceptions.Forbidden):
        raise VaultUnavailable("Vault refused the facade's token", code="vault_forbidden") from None
    if isinstance(exc, requests.exceptions.Timeout):
        raise VaultUnavailable("Vault did not answer in time", code="vault_timeout") from None
    if isinstance(exc, requests.exceptions.RequestException):
        raise VaultUnavailable("Vault is unreachable") from None
    if isinstance(exc, hvac.exceptions.VaultError):
        raise VaultUnavailable("Vault could not serve the request") from None
    raise exc


class VaultSecretStore:
    """SecretStore on a KV v2 mount, through one hvac client with a pooled session."""

    def __init__(
        self,
        addr: str,
        token: Callable[[], str],
        *,
        mount: str,
        timeout: float = 5.0,
        pool_size: int = 40,
        namespace: str | None = None,
    ) -> None:
        self._mount = mount
        self._token = token
        self._session = _pooled_session(pool_size)
        self._client = hvac.Client(
            url=addr,
            token=token(),
            timeout=timeout,  # type: ignore[arg-type]  # hvac accepts float; its stub says int
            session=self._session,
            namespace=namespace,
        )
        self._addr = addr
        self._timeout = timeout

    @property
    def client(self) -> hvac.Client:
        return self._client

    def close(self) -> None:
        self._session.close()

    def _call(self, operation: Callable[[], T]) -> T:
        try:
            return operation()
        except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as exc:
            translate(exc)

    def _call_or_none(self, operation: Callable[[], T]) -> T | None:
        """Like _call, but a 404 (hvac's InvalidPath) is None rather than an error."""
        try:
            return operation()
        except hvac.exceptions.InvalidPath:
            return None
        except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as exc:
            translate(exc)

    def write(self, path: str, data: dict[str, Any], *, cas: int) -> int:
        """POST <mount>/data/<path> with options.cas; returns the new version."""
        kv = self._client.secrets.kv.v2
        response = self._call(
            lambda: kv.create_or_update_secret(
                path=path, secret=data, cas=cas, mount_point=self._mount
            )
        )
        return int(response["data"]["version"])

    def read(self, path: str, version: int | None = None) -> dict[str, Any] | None:
        """GET <mount>/data/<path>?version=N. A KV v2 404 means missing, deleted or destroyed."""
        kv = self._client.secrets.kv.v2
        response = self._call_or_none(
            lambda: kv.read_secret_version(
                path=path,
                version=version,
                mount_point=self._mount,
                raise_on_deleted_version=True,
            )
        )
        if response is None:
            return None
        data: dict[str, Any] = response["data"]["data"]
        return data

    def destroy(self, path: str) -> None:
        """DELETE <mount>/metadata/<path>: every version and the metadata are removed."""
        kv = self._client.secrets.kv.v2
        self._call_or_none(
            lambda: kv.delete_metadata_and_all_versions(path=path, mount_point=self._mount)
        )

    def version_info(self, path: str) -> SecretVersionInfo | None:
        """GET <mount>/metadata/<path>."""
        kv = self._client.secrets.kv.v2
        response = self._call_or_none(
            lambda: kv.read_secret_metadata(path=path, mount_point=self._mount)
        )
        if response is None:
            return None
        metadata = response["data"]
        return SecretVersionInfo(
            current_version=int(metadata["current_version"]),
            updated_at=datetime.fromisoformat(metadata["updated_time"].replace("Z", "+00:00")),
        )

    def list_paths(self, folder: str) -> Iterator[str]:
        """LIST <mount>/metadata/<folder>, recursively; an unknown folder lists as empty."""
        kv = self._client.secrets.kv.v2
        response = self._call_or_none(lambda: kv.list_secrets(path=folder, mount_point=self._mount))
        if response is None:
            return
        for key in response["data"]["keys"]:
            if key.endswith("/"):
                yield from self.list_paths(f"{folder}/{key.rstrip('/')}")
            else:
                yield f"{folder}/{key}"

    def check_ready(self) -> None:
        """GET sys/health: 200 active or 429 unsealed standby is ready; anything else is not."""
        try:
            response = self._session.get(
                f"{self._addr}/v1/sys/health",
                params={"standbyok": "true"},
                timeout=self._timeout,
            )
        except requests.exceptions.RequestException as exc:
            translate(exc)
        if response.status_code != 200:
            raise VaultUnavailable("Vault is sealed or not ready", code="vault_sealed")
