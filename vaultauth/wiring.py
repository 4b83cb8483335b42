"""Builds the shared objects of a process (engine, Vault client, services) from Settings, once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from vaultauth.index.migrate import upgrade
from vaultauth.index.sql import SqlMetadataIndex, create_index_engine
from vaultauth.key_cache import ApiKeyLookup
from vaultauth.metrics import InstrumentedSecretStore, Metrics
from vaultauth.ports import SecretStore
from vaultauth.resolve_cache import ResolveCache
from vaultauth.service import CredentialService
from vaultauth.settings import Settings
from vaultauth.store.vault import VaultSecretStore
from vaultauth.store.vault_login import VaultLogin, login_method_from


def build_index(settings: Settings) -> tuple[Engine, SqlMetadataIndex]:
    engine = create_index_engine(settings.resolved_index_url(), pool_size=settings.worker_threads)
    if settings.index_auto_migrate:
        upgrade(engine)
    return engine, SqlMetadataIndex(engine)


def build_resolve_cache(settings: Settings) -> ResolveCache | None:
    if settings.resolve_cache_ttl == 0:
        return None
    return ResolveCache(settings.resolve_cache_ttl, settings.resolve_cache_max_entries)


def vault_tls_verify(settings: Settings) -> bool | str:
    """How Vault's TLS certificate is checked: against VAULTAUTH_VAULT_CACERT, else the system."""
    return str(settings.vault_cacert) if settings.vault_cacert is not None else True


def build_vault_login(settings: Settings) -> VaultLogin:
    """How the facade logs in to Vault (token, AppRole or Kubernetes); `start()` renews."""
    return VaultLogin(
        login_method_from(settings),
        settings.vault_addresses(),
        namespace=settings.vault_namespace,
        timeout=settings.vault_timeout,
        verify=vault_tls_verify(settings),
    )


def build_secret_store(settings: Settings, login: VaultLogin | None = None) -> VaultSecretStore:
    """The Vault adapter, handed every token `login` obtains. Without `login` (one-shot
    commands) it gets a login of its own, which logs in at the first 403 and never renews."""
    login = login if login is not None else build_vault_login(settings)
    store = VaultSecretStore(
        settings.vault_addresses(),
        login.current_token,
        mount=settings.vault_mount,
        timeout=settings.vault_timeout,
        pool_size=settings.worker_threads,
        namespace=settings.vault_namespace,
        token_rejected=login.rejected,
        failover_budget=settings.vault_failover_budget,
        verify=vault_tls_verify(settings),
    )
    login.subscribe(store.set_token)
    return store


@dataclass
class Runtime:
    """Everything one facade process shares between requests."""

    settings: Settings
    engine: Engine
    index: SqlMetadataIndex
    secrets: VaultSecretStore
    service: CredentialService
    keys: ApiKeyLookup
    metrics: Metrics | None = None
    vault_login: VaultLogin | None = None

    def close(self) -> None:
        if self.vault_login is not None:
            self.vault_login.close()
        self.secrets.close()
        self.engine.dispose()


def _track(metrics: Metrics, login: VaultLogin, cache: ResolveCache | None) -> None:
    stats = login.stats
    metrics.track_counters(
        "vaultauth_vault_logins",
        "The facade's Vault logins, renewals and failed attempts.",
        "event",
        lambda: {
            "login": stats.logins,
            "renewal": stats.renewals,
            "failure": stats.failures,
            "forced_login": stats.forced_logins,
        },
    )
    if cache is not None:
        metrics.track_counters(
            "vaultauth_resolve_cache_requests",
            "Resolve-cache lookups, by result.",
            "result",
            lambda: {"hit": cache.hits, "miss": cache.misses},
        )


def build_runtime(settings: Settings, *, metrics: Metrics | None = None) -> Runtime:
    """The process's shared objects; with `metrics`, the service's Vault calls are timed."""
    prefix = settings.checked_prefix()
    engine, index = build_index(settings)
    try:
        vault_login = build_vault_login(settings)
        vault_login.start()
        secrets = build_secret_store(settings, vault_login)
    except BaseException:
        engine.dispose()  # else its pooled connections are left to the garbage collector
        raise
    resolve_cache = build_resolve_cache(settings)
    store: SecretStore = secrets
    if metrics is not None:
        store = InstrumentedSecretStore(secrets, metrics)
        _track(metrics, vault_login, resolve_cache)
    service = CredentialService(store, index, prefix=prefix, resolve_cache=resolve_cache)
    return Runtime(
        settings=settings,
        engine=engine,
        index=index,
        secrets=secrets,
        service=service,
        keys=ApiKeyLookup(index, settings.api_key_cache_ttl),
        metrics=metrics,
        vault_login=vault_login,
    )
