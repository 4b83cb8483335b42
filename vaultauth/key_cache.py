"""A short-lived in-process cache of API key records, so most requests skip the index lookup.

Only keys that exist are cached (a new key works at once; unknown ids always reach the index).
A revocation reaches a replica within the TTL. Thread-safe and bounded (least recently used
first out); it holds hashes and scopes, never a plaintext key.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from vaultauth.keys import ApiKeyRecord
from vaultauth.ports import KeyIndex


class ApiKeyLookup:
    """`cached()` answers from memory without I/O; `fetch()` asks the index and remembers."""

    def __init__(
        self,
        index: KeyIndex,
        ttl: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._index = index
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, ApiKeyRecord]] = OrderedDict()

    def cached(self, key_id: str) -> ApiKeyRecord | None:
        with self._lock:
            entry = self._entries.get(key_id)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[key_id]
                return None
            self._entries.move_to_end(key_id)
            return entry[1]

    def fetch(self, key_id: str) -> ApiKeyRecord | None:
        """Blocking: read the key from the index (call it from a worker thread)."""
        record = self._index.find_key(key_id)
        if record is not None and self._ttl > 0:
            with self._lock:
                self._entries[key_id] = (self._clock() + self._ttl, record)
                self._entries.move_to_end(key_id)
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
        return record
