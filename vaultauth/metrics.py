"""Prometheus metrics of one facade: a registry per app, and a SecretStore that times Vault calls.

Each `create_app` builds its own `Metrics` (never the process-global default registry), so tests
that build many apps do not collide. Label values are route templates, statuses, operation names
and our own error codes: never a path with ids in it, never a submitted value.

Counters that live elsewhere (the resolve cache's hits and misses, the Vault login's logins,
renewals and failures) are read at scrape time by `track_counters`, so those modules stay free
of Prometheus.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from vaultauth.errors import VaultauthError
from vaultauth.ports import SecretStore, SecretVersionInfo

__all__ = ["CONTENT_TYPE_LATEST", "InstrumentedSecretStore", "Metrics"]

T = TypeVar("T")

# Seconds: a Vault call is ~2-5 ms on loopback; a failover budget is several seconds.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        labels = (route, method, str(status))
        self.http_requests.labels(*labels).inc()
        self.http_latency.labels(*labels).observe(seconds)

    def track_counters(
        self, name: str, documentation: str, label: str, read: Callable[[], dict[str, int]]
    ) -> None:
        """Export `read()` (label value -> running total) as counter `name` at each scrape."""
        self.registry.register(_ScrapedCounters(name, documentation, label, read))

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


class _ScrapedCounters(Collector):
    def __init__(
        self, name: str, documentation: str, label: str, read: Callable[[], dict[str, int]]
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._label = label
        self._read = read

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self._name, self._documentation, labels=[self._label])
        for value, total in self._read().items():
            family.add_metric([value], total)
        yield family


class InstrumentedSecretStore:
    """A SecretStore that forwards to another one, timing each call and counting its errors."""

    def __init__(self, inner: SecretStore, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def _timed(self, operation: str, call: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return call()
        except VaultauthError as exc:
            self._metrics.vault_errors.labels(operation, exc.code).inc()
            raise
        except Exception:
            self._metrics.vault_errors.labels(operation, "unexpected").inc()
            raise
        finally:
            self._metrics.vault_latency.labels(operation).observe(time.perf_counter() - started)

    def write(self, path: str, data: dict[str, Any], *, cas: int) -> int:
        return self._timed("write", lambda: self._inner.write(path, data, cas=cas))

    def read(self, path: str, version: int | None = None) -> dict[str, Any] | None:
        return self._timed("read", lambda: self._inner.read(path, version))

    def destroy(self, path: str) -> None:
        self._timed("destroy", lambda: self._inner.destroy(path))

    def version_info(self, path: str) -> SecretVersionInfo | None:
        return self._timed("version_info", lambda: self._inner.version_info(path))

    def list_paths(self, folder: str) -> Iterator[str]:
        return iter(self._timed("list", lambda: list(self._inner.list_paths(folder))))

    def check_ready(self) -> None:
        self._timed("health", self._inner.check_ready)
