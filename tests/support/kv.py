"""Reading what the facade stored, straight from Vault with hvac, at the documented KV path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import hvac
import hvac.exceptions

from vaultauth.settings import Settings


@dataclass
class KvReader:
    """`<mount>/data/<prefix>/<tenant>/integrations/<integrationId>/auth/<authId>`, read raw."""

    client: hvac.Client
    mount: str
    prefix: str

    @classmethod
    def of(cls, client: hvac.Client, settings: Settings) -> KvReader:
        return cls(client=client, mount=settings.vault_mount, prefix=settings.vault_prefix)

    def path(self, integration_id: str, auth_id: str, tenant: str = "acme") -> str:
        return f"{self.prefix}/{tenant}/integrations/{integration_id}/auth/{auth_id}"

    def data(
        self, integration_id: str, auth_id: str, tenant: str = "acme", version: int | None = None
    ) -> dict[str, Any]:
        """The document at `version` (default current), via `GET <mount>/data/<path>`."""
        url = f"{self.mount}/data/{self.path(integration_id, auth_id, tenant)}"
        params = {"version": version} if version is not None else {}
        response = self.client.adapter.get(f"/v1/{url}", params=params)
        data: dict[str, Any] = response["data"]["data"]
        return data

    def metadata(self, integration_id: str, auth_id: str, tenant: str = "acme") -> dict[str, Any]:
        response = self.client.secrets.kv.v2.read_secret_metadata(
            path=self.path(integration_id, auth_id, tenant), mount_point=self.mount
        )
        metadata: dict[str, Any] = response["data"]
        return metadata

    def current_version(self, integration_id: str, auth_id: str, tenant: str = "acme") -> int:
        return int(self.metadata(integration_id, auth_id, tenant)["current_version"])

    def is_gone(self, integration_id: str, auth_id: str, tenant: str = "acme") -> bool:
        """True when the KV metadata (and so every version) no longer exists."""
        try:
            self.metadata(integration_id, auth_id, tenant)
        except hvac.exceptions.InvalidPath:
            return True
        return False

    def paths(self, tenant: str = "acme") -> list[str]:
        """Every secret path below the tenant's folder (empty when there is none)."""
        found: list[str] = []

        def walk(folder: str) -> None:
            try:
                response = self.client.secrets.kv.v2.list_secrets(
                    path=folder, mount_point=self.mount
                )
            except hvac.exceptions.InvalidPath:
                return
            for key in response["data"]["keys"]:
                if key.endswith("/"):
                    walk(f"{folder}/{key.rstrip('/')}")
                else:
                    found.append(f"{folder}/{key}")

        walk(f"{self.prefix}/{tenant}")
        return found
