"""Builds the shared objects of a process (engine, Vault client, caches, service) from Settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from anyio import to_thread
from sqlalchemy import Engine

from vaultauth.feed_cache import FeedCache
from vaultauth.idempotency import Fingerprinter
from vaultauth.index.async_sql import AsyncSqlIndex
from vaultauth.index.caching import CachingIndex, RecordKey
from vaultauth.index.feed import ChangeFeed, change_feed_for
from vaultauth.index.migrate import upgrade
from vaultauth.index.sql import SqlMetadataIndex, create_index_engine
from vaultauth.keys import ApiKeyRecord
from vaultauth.logs import REQUEST_ID
from vaultauth.metrics import InstrumentedSecretStore, Metrics
from vaultauth.models import AuthRecord
from vaultauth.oauth.broker import TokenBroker
from vaultauth.oauth.endpoint import TokenEndpoint
from vaultauth.oauth.token_url import TokenUrlPolicy
from vaultauth.ports import SecretStore
from vaultauth.resolve_cache import ResolveCache
from vaultauth.service import CredentialService
from vaultauth.settings import Settings
from vaultauth.store.kv import VaultKV
from vaultauth.store.vault_login import VaultLogin, login_method_from
from vaultauth.throttle import FailedAuthThrottle

# A cached record lives until the change feed says it changed; this only returns memory held
# by records nobody asks for any more.
RECORD_CACHE_TTL = 300.0
# A new key reaches every process through the change feed anyway; this bounds memory only.
UNKNOWN_KEY_TTL = 60.0


def _uncounted(_hit: bool) -> None:
    return None


def build_index(settings: Settings) -> tuple[Engine, SqlMetadataIndex]:
    engine = create_index_engine(settings.resolved_index_url(), pool_size=settings.worker_threads)
    if settings.index_auto_migrate:
        upgrade(engine)
    return engine, SqlMetadataIndex(engine)


def build_resolve_cache(settings: Settings, metrics: Metrics | None = None) -> ResolveCache | None:
    if settings.resolve_cache_ttl == 0:
        return None
    return ResolveCache(
        settings.resolve_cache_ttl,
        settings.resolve_cache_max_entries,
        on_lookup=metrics.cache_counter("resolve") if metrics else _uncounted,
    )


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


def build_secret_store(settings: Settings, login: VaultLogin | None = None) -> VaultKV:
    """The Vault adapter, handed every token `login` obtains. Without `login` (one-shot
    commands) it gets a login of its own, which logs in at the first 403 and never renews."""
    login = login if login is not None else build_vault_login(settings)
    store = VaultKV(
        settings.vault_addresses(),
        login.current_token,
        mount=settings.vault_mount,
        timeout=settings.vault_timeout,
        pool_size=settings.worker_threads,
        namespace=settings.vault_namespace,
        token_rejected=login.rejected,
        failover_budget=settings.vault_failover_budget,
        verify=vault_tls_verify(settings),
        request_id=REQUEST_ID.get,
    )
    login.subscribe(store.set_token)
    return store


def token_url_policy(settings: Settings) -> TokenUrlPolicy:
    return TokenUrlPolicy.from_lists(settings.oauth_insecure_hosts, settings.oauth_allowed_hosts)


def build_token_broker(
    settings: Settings, store: SecretStore, metrics: Metrics | None = None
) -> TokenBroker:
    """Obtains OAuth 2.0 access tokens for the process (see vaultauth.oauth.broker)."""
    endpoint = TokenEndpoint(timeout=settings.oauth_timeout, cacert=settings.oauth_cacert)
    return TokenBroker(
        store,
        endpoint,
        timeout=settings.oauth_timeout,
        on_request=metrics.count_token_request if metrics else lambda _grant, _outcome: None,
    )


def build_caching_index(
    settings: Settings,
    async_index: AsyncSqlIndex,
    feed: ChangeFeed | None,
    metrics: Metrics | None = None,
) -> CachingIndex:
    """The index behind its record and API-key caches; without a feed, the caches stay empty."""

    def is_fresh() -> bool:
        return feed is not None and feed.is_fresh()

    def counter(name: str) -> Callable[[bool], None]:
        return metrics.cache_counter(name) if metrics else _uncounted

    records: FeedCache[RecordKey, AuthRecord] = FeedCache(
        max_entries=settings.record_cache_max_entries,
        ttl=RECORD_CACHE_TTL,
        is_fresh=is_fresh,
        on_lookup=counter("record"),
    )
    keys: FeedCache[str, ApiKeyRecord] = FeedCache(
        max_entries=10_000,
        ttl=settings.api_key_cache_ttl or 1e-9,
        is_fresh=is_fresh if settings.api_key_cache_ttl > 0 else lambda: False,
        on_lookup=counter("api_key"),
    )
    unknown_keys: FeedCache[str, bool] = FeedCache(
        max_entries=10_000,
        ttl=UNKNOWN_KEY_TTL,
        is_fresh=is_fresh,
        on_lookup=counter("unknown_api_key"),
    )
    return CachingIndex(
        async_index, async_index, records=records, keys=keys, unknown_keys=unknown_keys
    )


@dataclass
class Runtime:
    """Everything one facade process shares between requests."""

    settings: Settings
    engine: Engine
    sql_index: SqlMetadataIndex
    async_index: AsyncSqlIndex
    index: CachingIndex
    secrets: VaultKV
    service: CredentialService
    throttle: FailedAuthThrottle
    tokens: TokenBroker
    feed: ChangeFeed | None = None
    metrics: Metrics | None = None
    vault_login: VaultLogin | None = None

    async def close(self) -> None:
        """Close the Vault client (on the loop), then the threads and pools (off it)."""
        await self.secrets.close()
        await self.tokens.close()
        await to_thread.run_sync(self._close_blocking)

    def _close_blocking(self) -> None:
        if self.vault_login is not None:
            self.vault_login.close()
        if self.feed is not None:
            self.feed.close()
        self.async_index.close()
        self.engine.dispose()


def build_runtime(settings: Settings, *, metrics: Metrics | None = None) -> Runtime:
    """The process's shared objects (blocking: migrations, first login); with `metrics`, the
    Vault calls, cache lookups and logins are counted."""
    prefix = settings.checked_prefix()
    engine, sql_index = build_index(settings)
    feed: ChangeFeed | None = None
    try:
        vault_login = build_vault_login(settings)
        if metrics is not None:
            vault_login.stats.on_event = metrics.count_login_event
        vault_login.start()
        secrets = build_secret_store(settings, vault_login)
        if settings.cache_staleness_bound > 0:
            feed = change_feed_for(engine, settings.cache_staleness_bound)
        async_index = AsyncSqlIndex(sql_index)
        index = build_caching_index(settings, async_index, feed, metrics)
        if feed is not None:
            feed.start(index)
    except BaseException:
        if feed is not None:
            feed.close()
        engine.dispose()  # else its pooled connections are left to the garbage collector
        raise
    store: SecretStore = secrets
    if metrics is not None:
        store = InstrumentedSecretStore(secrets, metrics)
        metrics.track_due_records(sql_index.count_past)
    hmac_key = settings.idempotency_hmac_key
    tokens = build_token_broker(settings, store, metrics)
    service = CredentialService(
        store,
        index,
        prefix=prefix,
        resolve_cache=build_resolve_cache(settings, metrics),
        max_versions=settings.max_versions,
        fingerprinter=Fingerprinter(
            store, prefix, hmac_key.get_secret_value().encode() if hmac_key else None
        ),
        tokens=tokens,
        token_urls=token_url_policy(settings),
    )
    return Runtime(
        settings=settings,
        engine=engine,
        sql_index=sql_index,
        async_index=async_index,
        index=index,
        secrets=secrets,
        service=service,
        throttle=FailedAuthThrottle(settings.auth_failure_limit),
        tokens=tokens,
        feed=feed,
        metrics=metrics,
        vault_login=vault_login,
    )
