"""An in-process cache whose entries the index's change feed invalidates.

Used for what the hot path would otherwise ask the index on every request: a record's metadata
(its current version) and an API key. Two rules keep it from serving stale data:

- It answers only while the change feed is fresh (`is_fresh()`: every change committed more than
  the staleness bound ago has been delivered). A replica whose feed stalls asks the index again.
- A value read from the index is stored only if its key was not invalidated since the read
  began (`ticket()` before the read, `put(key, value, ticket)` after): otherwise a read that
  raced a change could store the old value after the change's invalidation had passed.

Thread-safe (the feed invalidates from its own thread); LRU- and TTL-bounded, so memory follows
the configured size, never the number of records. Pure: no I/O, no logging.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# How many recent invalidations are remembered for the fill check; a read that began before the
# oldest of them is not stored (it cannot be checked), which costs a later miss, never a stale hit.
_REMEMBERED_INVALIDATIONS = 4096


class FeedCache(Generic[K, V]):
    """At most `max_entries` values, each kept at most `ttl` seconds."""

    def __init__(
        self,
        *,
        max_entries: int,
        ttl: float,
        is_fresh: Callable[[], bool],
        on_lookup: Callable[[bool], None] = lambda _hit: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`on_lookup(hit)` is called on every `get` (metrics)."""
        if max_entries < 1 or ttl <= 0:
            raise ValueError("a FeedCache needs max_entries >= 1 and ttl > 0")
        self._max_entries = max_entries
        self._ttl = ttl
        self._is_fresh = is_fresh
        self._on_lookup = on_lookup
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._epoch = 0
        self._invalidated: OrderedDict[K, int] = OrderedDict()  # key -> epoch of invalidation
        self._floor = 0  # reads that began before this epoch cannot be checked: not stored
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The cached value, or None (absent, expired, or the feed is not fresh)."""
        value = self._lookup(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        self._on_lookup(value is not None)
        return value

    def _lookup(self, key: K) -> V | None:
        if not self._is_fresh():
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def ticket(self) -> int:
        """Take one before reading the value from its source; hand it to `put`."""
        return self._epoch

    def put(self, key: K, value: V, ticket: int) -> None:
        """Store `value` unless `key` was invalidated after `ticket` was taken."""
        if not self._is_fresh():
            return
        with self._lock:
            if ticket < self._floor or self._invalidated.get(key, -1) > ticket:
                return
            self._entries[key] = (self._clock() + self._ttl, value)
            self._entries.move_to_end(key)
            if len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def invalidate(self, key: K) -> None:
        with self._lock:
            self._epoch += 1
            self._entries.pop(key, None)
            self._invalidated[key] = self._epoch
            self._invalidated.move_to_end(key)
            if len(self._invalidated) > _REMEMBERED_INVALIDATIONS:
                _, forgotten = self._invalidated.popitem(last=False)
                self._floor = max(self._floor, forgotten)

    def clear(self) -> None:
        """Forget everything, and refuse every read that began before now."""
        with self._lock:
            self._epoch += 1
            self._entries.clear()
            self._invalidated.clear()
            self._floor = self._epoch
