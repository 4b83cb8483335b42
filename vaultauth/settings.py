"""Configuration from VAULTAUTH_* environment variables; nothing is read at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vaultauth.headers import normalise_host_pattern
from vaultauth.ids import validate_path_segment


class Settings(BaseSettings):
    """Everything the facade needs to run. Build with `Settings()` to read the environment."""

    model_config = SettingsConfigDict(env_prefix="VAULTAUTH_", extra="ignore")

    vault_addr: str = Field(
        default="http://127.0.0.1:8200",
        description="Vault/OpenBao address; a comma-separated list for several nodes.",
    )
    vault_auth_method: Literal["auto", "token", "approle", "kubernetes"] = Field(
        default="auto",
        description="How the facade logs in to Vault; auto: the method whose settings are set.",
    )
    vault_token: SecretStr | None = None
    vault_token_file: Path | None = None
    vault_approle_role_id: SecretStr | None = None
    vault_approle_role_id_file: Path | None = None
    vault_approle_secret_id: SecretStr | None = None
    vault_approle_secret_id_file: Path | None = None
    vault_approle_mount: str = "approle"
    vault_kubernetes_role: str | None = None
    vault_kubernetes_jwt_file: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    vault_kubernetes_mount: str = "kubernetes"
    vault_namespace: str | None = None
    vault_cacert: Path | None = Field(
        default=None,
        description="PEM bundle of the CA(s) that sign Vault's TLS certificate; "
        "default: the system's trust store.",
    )
    vault_mount: str = "secret"
    vault_prefix: str = "vaultauth"
    vault_timeout: float = Field(default=5.0, gt=0, description="Seconds per Vault HTTP call.")
    vault_failover_budget: float = Field(
        default=8.0, gt=0, description="Seconds to keep trying other Vault nodes before a 503."
    )
    api_key_cache_ttl: float = Field(
        default=60.0,
        ge=0,
        description="Seconds at most that an API key's record is kept in memory. Revocations "
        "reach every process within VAULTAUTH_CACHE_STALENESS_BOUND through the change feed. "
        "0: read the index on every request.",
    )
    cache_staleness_bound: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Seconds by which a cached record or API key may lag a change made through "
        "another process (the change feed's bound). 0: no record or key cache; every request "
        "reads the index.",
    )
    record_cache_max_entries: int = Field(
        default=10_000, ge=1, description="Records' metadata kept in memory, per process."
    )
    auth_failure_limit: int = Field(
        default=100,
        ge=0,
        description="Failed authentications a minute from one client address (per process) "
        "before it gets 429 rate_limited; 0: no limit. A valid key is never limited.",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies trusted to say the client address in X-Forwarded-For (uvicorn's "
        "forwarded_allow_ips): comma-separated addresses or networks; * trusts any.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Serve /metrics on this port instead of the API listener (so the API "
        "port exposes only the API and probes); bound once, also with several workers.",
    )
    metrics_host: str = Field(default="127.0.0.1", description="Interface of that listener.")
    max_versions: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Versions Vault keeps of each record's secret (set on its KV metadata by "
        "the first change after version 1); rollback reaches any of them.",
    )
    idempotency_hmac_key: SecretStr | None = Field(
        default=None,
        description="Key of the HMAC that fingerprints idempotent create bodies (shared by "
        "every replica); default: a random key kept in Vault under the prefix.",
    )
    docs: bool = Field(
        default=True,
        description="Serve the browsable API documentation at /docs (Swagger UI, from the "
        "package: no third-party script); /openapi.json is served either way.",
    )
    workers: int = Field(
        default=1, ge=1, le=64, description="`vaultauth serve` processes sharing the port."
    )
    data_dir: Path = Path(".vaultauth")
    index_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL (it may carry a password); default: SQLite in the data dir.",
    )
    index_auto_migrate: bool = True
    max_body_bytes: int = 64 * 1024
    worker_threads: int = Field(default=40, ge=1)
    retry_after_seconds: int = 5
    log_level: str = Field(default="info", description="debug, info, warning or error.")
    resolve_cache_ttl: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a resolved credential stays in this process's memory; 0: no cache.",
    )
    resolve_cache_max_entries: int = Field(
        default=5_000, ge=1, description="Resolved credentials kept in memory, per process."
    )

    oauth_insecure_hosts: str = Field(
        default="",
        description="Comma-separated hosts whose OAuth 2.0 token URL may be plain http (for "
        "development; e.g. 127.0.0.1); every other token URL must be https.",
    )
    oauth_allowed_hosts: str = Field(
        default="",
        description="Comma-separated hosts (or *.example.com patterns) that OAuth 2.0 token "
        "URLs may name; empty: any host. A record naming another is 422 token_url_not_allowed.",
    )
    oauth_timeout: float = Field(
        default=10.0,
        gt=0,
        le=10,
        description="Seconds a token request may take in all (connect, send, answer).",
    )
    oauth_cacert: Path | None = Field(
        default=None,
        description="PEM bundle of the CAs that sign token endpoints' certificates; default: "
        "the system's trust store.",
    )

    @field_validator("oauth_allowed_hosts")
    @classmethod
    def _allowed_hosts_are_hosts(cls, value: str) -> str:
        for host in value.split(","):
            if host.strip():
                normalise_host_pattern(host.strip())  # ValueError: the setting is refused
        return value

    def resolved_index_url(self) -> str:
        if self.index_url is not None and self.index_url.get_secret_value():
            return self.index_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'index.sqlite3').resolve()}"

    def vault_addresses(self) -> list[str]:
        return [a.strip().rstrip("/") for a in self.vault_addr.split(",") if a.strip()]

    def checked_prefix(self) -> str:
        """The KV prefix, each segment validated like an id so it cannot escape the mount."""
        for segment in self.vault_prefix.split("/"):
            validate_path_segment(segment, "VAULTAUTH_VAULT_PREFIX")
        return self.vault_prefix


def describe_invalid_settings(exc: ValidationError) -> str:
    """One line naming each invalid VAULTAUTH_* variable and what is wrong, never its value."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        names = [str(part) for part in error["loc"] if isinstance(part, str)]
        variable = f"VAULTAUTH_{names[0].upper()}" if names else ""
        problems.append(f"{variable}: {message}" if variable else message)
    return "invalid configuration: " + "; ".join(problems)
