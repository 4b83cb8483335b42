"""Prometheus metrics of one facade: a registry per app, and a SecretStore that times Vault calls.

Each `create_app` builds its own `Metrics` (never the process-global default registry), so tests
that build many apps do not collide. Label values are route templates, statuses, operation names
and our own error codes: never a path with ids in it, never a submitted value.

For a resolve cache: call `metrics.resolve_cache_hit()` / `metrics.resolve_cache_miss()`
(exported as `vaultauth_resolve_cache_requests_total{result="hit"|"miss"}`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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
        self.resolve_cache = Counter(
            "vaultauth_resolve_cache_requests",
            "Resolve-cache lookups, by result (hit or miss).",
            ["result"],
            registry=self.registry,
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        labels = (route, method, str(status))
        self.http_requests.labels(*labels).inc()
        self.http_latency.labels(*labels).observe(seconds)

    def resolve_cache_hit(self) -> None:
        self.resolve_cache.labels("hit").inc()

    def resolve_cache_miss(self) -> None:
        self.resolve_cache.labels("miss").inc()

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


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
