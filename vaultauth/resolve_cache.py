"""The in-process cache of resolved credentials, keyed by KV path *and version*.

A KV v2 version never changes once written, and the service asks the index (shared by every
replica) which version is current before each resolve. So a cached entry can never be served
for a record that another replica has updated or deleted: the index names a new version (a
miss) or no record (NotFound). The TTL bounds only how long a secret stays in this process's
memory; `evict` drops a record's entries at once on an update or delete through this replica.
Thread-safe; LRU-bounded; pure (no I/O, no logging).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from vaultauth.resolve import ResolvedCredential


class ResolveCache:
    """At most `max_entries` resolved credentials, each kept `ttl` seconds."""

    def __init__(
        self,
        ttl: float,
        max_entries: int,
        *,
        on_lookup: Callable[[bool], None] = lambda _hit: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`on_lookup(hit)` is called on every `get` (metrics)."""
        if ttl <= 0 or max_entries < 1:
            raise ValueError("a ResolveCache needs ttl > 0 and max_entries >= 1")
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._on_lookup = on_lookup
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, int], tuple[float, ResolvedCredential]] = (
            OrderedDict()
        )
        # path -> its cached versions, for evict(): almost always one, and a tuple of one is a
        # fifth of the size of a set of one.
        self._versions: dict[str, tuple[int, ...]] = {}
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"ResolveCache(ttl={self._ttl}, entries={len(self._entries)})"

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, path: str, version: int) -> ResolvedCredential | None:
        key = (path, version)
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= now:
                if entry is not None:
                    self._drop(key)
                self.misses += 1
                self._on_lookup(False)
                return None
            self._entries.move_to_end(key)
            self.hits += 1
        self._on_lookup(True)
        return entry[1]

    def put(
        self, path: str, version: int, credential: ResolvedCredential, ttl: float | None = None
    ) -> None:
        """Keep `credential` for the cache's TTL, or `ttl` seconds if that is shorter (an
        OAuth 2.0 access token is kept no longer than it is fresh)."""
        keep = self._ttl if ttl is None else min(self._ttl, ttl)
        if keep <= 0:
            return
        with self._lock:
            self._entries[(path, version)] = (self._clock() + keep, credential)
            self._entries.move_to_end((path, version))
            versions = self._versions.get(path, ())
            if version not in versions:
                self._versions[path] = (*versions, version)
            while len(self._entries) > self._max_entries:
                self._drop(next(iter(self._entries)))

    def evict(self, path: str) -> None:
        """Drop every version of `path` (after an update or delete through this replica)."""
        with self._lock:
            for version in self._versions.get(path, ()):
                self._drop((path, version))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._versions.clear()

    def _drop(self, key: tuple[str, int]) -> None:
        del self._entries[key]
        path, version = key
        remaining = tuple(v for v in self._versions[path] if v != version)
        if remaining:
            self._versions[path] = remaining
        else:
            del self._versions[path]
