"""Builds the shared objects of a process (engine, Vault client, services) from Settings, once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy import Engine

from vaultauth.errors import VaultUnavailable
from vaultauth.index.migrate import upgrade
from vaultauth.index.sql import SqlMetadataIndex, create_index_engine
from vaultauth.metrics import InstrumentedSecretStore, Metrics
from vaultauth.service import CredentialService
from vaultauth.settings import Settings
from vaultauth.store.vault import VaultSecretStore


def build_index(settings: Settings) -> tuple[Engine, SqlMetadataIndex]:
    engine = create_index_engine(settings.resolved_index_url(), pool_size=settings.worker_threads)
    if settings.index_auto_migrate:
        upgrade(engine)
    return engine, SqlMetadataIndex(engine)


def vault_token_source(settings: Settings) -> Callable[[], str]:
    """Where the facade's Vault token comes from: VAULTAUTH_VAULT_TOKEN or a token file."""
    if settings.vault_token is not None:
        token: SecretStr = settings.vault_token
        return token.get_secret_value
    token_file = settings.vault_token_file
    if token_file is not None:
        return lambda: token_file.read_text().strip()
    raise VaultUnavailable(
        "no Vault credentials: set VAULTAUTH_VAULT_TOKEN or VAULTAUTH_VAULT_TOKEN_FILE",
        code="vault_not_configured",
    )


def build_secret_store(settings: Settings) -> VaultSecretStore:
    return VaultSecretStore(
        settings.vault_addresses()[0],
        vault_token_source(settings),
        mount=settings.vault_mount,
        timeout=settings.vault_timeout,
        pool_size=settings.worker_threads,
        namespace=settings.vault_namespace,
    )


@dataclass
class Runtime:
    """Everything one facade process shares between requests."""

    settings: Settings
    engine: Engine
    index: SqlMetadataIndex
    secrets: VaultSecretStore
    service: CredentialService
    metrics: Metrics | None = None

    def close(self) -> None:
        self.secrets.close()
        self.engine.dispose()


def build_runtime(settings: Settings, *, metrics: Metrics | None = None) -> Runtime:
    """The process's shared objects; with `metrics`, the service's Vault calls are timed."""
    prefix = settings.checked_prefix()
    engine, index = build_index(settings)
    try:
        secrets = build_secret_store(settings)
    except BaseException:
        engine.dispose()  # else its pooled connections are left to the garbage collector
        raise
    store = InstrumentedSecretStore(secrets, metrics) if metrics is not None else secrets
    service = CredentialService(store, index, prefix=prefix)
    return Runtime(
        settings=settings,
        engine=engine,
        index=index,
        secrets=secrets,
        service=service,
        metrics=metrics,
    )
