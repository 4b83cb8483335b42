"""Configuration from VAULTAUTH_* environment variables; nothing is read at import time."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from vaultauth.ids import validate_path_segment


class Settings(BaseSettings):
    """Everything the facade needs to run. Build with `Settings()` to read the environment."""

    model_config = SettingsConfigDict(env_prefix="VAULTAUTH_", extra="ignore")

    vault_addr: str = Field(
        default="http://127.0.0.1:8200",
        description="Vault/OpenBao address; a comma-separated list for several nodes.",
    )
    vault_token: SecretStr | None = None
    vault_token_file: Path | None = None
    vault_namespace: str | None = None
    vault_mount: str = "secret"
    vault_prefix: str = "vaultauth"
    vault_timeout: float = Field(default=5.0, gt=0, description="Seconds per Vault HTTP call.")
    vault_failover_budget: float = Field(
        default=8.0, gt=0, description="Seconds to keep trying other Vault nodes before a 503."
    )
    data_dir: Path = Path(".vaultauth")
    index_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in the data dir."
    )
    index_auto_migrate: bool = True
    max_body_bytes: int = 64 * 1024
    worker_threads: int = Field(default=40, ge=1)
    retry_after_seconds: int = 5

    def resolved_index_url(self) -> str:
        if self.index_url:
            return self.index_url
        return f"sqlite:///{(self.data_dir / 'index.sqlite3').resolve()}"

    def vault_addresses(self) -> list[str]:
        return [a.strip().rstrip("/") for a in self.vault_addr.split(",") if a.strip()]

    def checked_prefix(self) -> str:
        """The KV prefix, each segment validated like an id so it cannot escape the mount."""
        for segment in self.vault_prefix.split("/"):
            validate_path_segment(segment, "VAULTAUTH_VAULT_PREFIX")
        return self.vault_prefix
