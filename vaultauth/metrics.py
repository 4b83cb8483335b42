"""Prometheus metrics of one facade: a registry per app, and a SecretStore that times Vault calls.

Each `create_app` builds its own `Metrics` (never the process-global default registry), so tests
that build many apps do not collide. Label values are route templates, statuses, operation names
and our own error codes: never a path with ids in it, never a submitted value.

With `vaultauth serve --workers N`, the parent sets PROMETHEUS_MULTIPROC_DIR before the workers
start; every worker's counters then live in files there, and a scrape of any worker (or of
VAULTAUTH_METRICS_PORT, served once by the parent) adds them all up (prometheus_client's
multiprocess mode). That is why cache and login events are counted as they happen, through
pre-bound counters, rather than read from the objects at scrape time.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from vaultauth.errors import VaultauthError
from vaultauth.ports import SecretMetadata, SecretStore, SecretVersionInfo

__all__ = [
    "CONTENT_TYPE_LATEST",
    "InstrumentedSecretStore",
    "Metrics",
    "all_workers_registry",
    "multiprocess_dir",
    "serve_metrics",
]

T = TypeVar("T")

# Seconds: a Vault call is ~0.3-5 ms on loopback; a failover budget is several seconds.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_dir() -> str | None:
    """The directory of multiprocess mode, when the process runs as one of several workers."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """The metrics of one app, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "vaultauth_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "vaultauth_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template, method and status.",
            ["route", "method", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.vault_latency = Histogram(
            "vaultauth_vault_call_duration_seconds",
            "Time of each Vault call the facade makes, by operation (errors included).",
            ["operation"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.vault_errors = Counter(
            "vaultauth_vault_call_errors",
            "Vault calls that failed, by operation and error code.",
            ["operation", "code"],
            registry=self.registry,
        )
        self.cache_requests = Counter(
            "vaultauth_cache_requests",
            "Lookups in the in-process caches (resolve, record, api_key), by result.",
            ["cache", "result"],
            registry=self.registry,
        )
        self.vault_logins = Counter(
            "vaultauth_vault_logins",
            "The facade's Vault logins, renewals and failed attempts.",
            ["event"],
            registry=self.registry,
        )
        self.oauth_token_requests = Counter(
            "vaultauth_oauth_token_requests",
            "Requests to OAuth 2.0 token endpoints, by grant and outcome (success, rejected: "
            "invalid_grant on a refresh, refused: another 4xx, failed, timeout).",
            ["grant", "outcome"],
            registry=self.registry,
        )
        self._scraped: list[Collector] = []  # computed at each scrape (due records)
        # The request path observes through these, so it never looks a label set up itself.
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:
            labels = (route, method, str(status))
            children = (
                self.http_requests.labels(*labels),
                self.http_latency.labels(*labels),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def cache_counter(self, cache: str) -> Callable[[bool], None]:
        """`count(hit)` for one cache's lookups."""
        hit = self.cache_requests.labels(cache, "hit").inc
        miss = self.cache_requests.labels(cache, "miss").inc

        def count(was_hit: bool) -> None:
            (hit if was_hit else miss)()

        return count

    def count_login_event(self, event: str) -> None:
        self.vault_logins.labels(event).inc()

    def count_token_request(self, grant: str, outcome: str) -> None:
        self.oauth_token_requests.labels(grant, outcome).inc()

    def track_due_records(self, count_past: Callable[[str, datetime, int], int]) -> None:
        """Gauges of the records past their expiry and past their rotation date, counted at
        each scrape by `count_past(column, now, cap)` (a bounded index query)."""
        collector = DueRecords(count_past)
        self._scraped.append(collector)
        self.registry.register(collector)

    def scraped_registry(self) -> CollectorRegistry:
        """What a scrape shows: this app's registry, or every worker's in multiprocess mode."""
        if multiprocess_dir() is None:
            return self.registry
        return all_workers_registry(self._scraped)

    def render(self) -> bytes:
        """The registry in the Prometheus text format (every worker's, in multiprocess mode)."""
        return generate_latest(self.scraped_registry())


def all_workers_registry(scraped: Iterable[Collector] = ()) -> CollectorRegistry:
    """A registry that adds up the metric files of every worker (multiprocess mode), plus the
    collectors computed at scrape time."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=multiprocess_dir())  # type: ignore[no-untyped-call]
    for collector in scraped:
        registry.register(collector)
    return registry


# Past this many, a due gauge reports the cap: a scrape must stay cheap whatever the index holds.
DUE_COUNT_CAP = 100_000


class DueRecords(Collector):
    """vaultauth_records_past_expiry / _past_rotation: records whose expiresAt / rotateAfter
    has passed (counted up to DUE_COUNT_CAP). A failing index is reported as no sample."""

    def __init__(self, count_past: Callable[[str, datetime, int], int]) -> None:
        self._count_past = count_past

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = datetime.now(UTC)
        for name, column, meaning in (
            ("vaultauth_records_past_expiry", "expires_at", "expiresAt"),
            ("vaultauth_records_past_rotation", "rotate_after", "rotateAfter"),
        ):
            family = GaugeMetricFamily(
                name, f"Records whose {meaning} has passed (capped at {DUE_COUNT_CAP})."
            )
            try:
                family.add_metric([], self._count_past(column, now, DUE_COUNT_CAP))
            except VaultauthError:
                pass
            yield family


def serve_metrics(port: int, host: str, registry: CollectorRegistry) -> Callable[[], None]:
    """/metrics on a listener of its own (VAULTAUTH_METRICS_PORT); returns its stop."""
    server, thread = start_http_server(port, addr=host, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


class InstrumentedSecretStore:
    """A SecretStore that forwards to another one, timing each call and counting its errors."""

    def __init__(self, inner: SecretStore, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics
        self._latency = {
            name: metrics.vault_latency.labels(name)
            for name in (
                "write",
                "read",
                "destroy",
                "version_info",
                "metadata",
                "set_max_versions",
                "list",
                "health",
            )
        }

    async def _timed(self, operation: str, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        try:
            return await call
        except VaultauthError as exc:
            self._metrics.vault_errors.labels(operation, exc.code).inc()
            raise
        except Exception:
            self._metrics.vault_errors.labels(operation, "unexpected").inc()
            raise
        finally:
            self._latency[operation].observe(time.perf_counter() - started)

    async def write(self, path: str, data: dict[str, Any], *, cas: int) -> int:
        return await self._timed("write", self._inner.write(path, data, cas=cas))

    async def read(self, path: str, version: int | None = None) -> dict[str, Any] | None:
        return await self._timed("read", self._inner.read(path, version))

    async def read_latest(self, path: str) -> tuple[dict[str, Any], int] | None:
        return await self._timed("read", self._inner.read_latest(path))

    async def destroy(self, path: str) -> None:
        await self._timed("destroy", self._inner.destroy(path))

    async def version_info(self, path: str) -> SecretVersionInfo | None:
        return await self._timed("version_info", self._inner.version_info(path))

    async def metadata(self, path: str) -> SecretMetadata | None:
        return await self._timed("metadata", self._inner.metadata(path))

    async def set_max_versions(self, path: str, max_versions: int) -> None:
        await self._timed("set_max_versions", self._inner.set_max_versions(path, max_versions))

    async def list_paths(self, folder: str) -> AsyncIterator[str]:
        paths = await self._timed("list", _collect(self._inner.list_paths(folder)))
        for path in paths:
            yield path

    async def check_ready(self) -> None:
        await self._timed("health", self._inner.check_ready())


async def _collect(paths: AsyncIterator[str]) -> list[str]:
    return [path async for path in paths]
