"""Failed authentications per client address: past a limit a minute, the address gets 429.

Pure and per process (each worker and replica counts for itself; document the limit as such).
A sliding window of the failures' times per address, bounded in memory: at most
`max_addresses` addresses are remembered (least recently failing first out), each with at most
`limit` times. A request with a valid key never reaches it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class FailedAuthThrottle:
    def __init__(
        self,
        limit: int,
        *,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`limit` failures a minute per address are answered as usual; 0 turns it off."""
        self._limit = limit
        self._max_addresses = max_addresses
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def failed(self, address: str) -> float | None:
        """Count a failure of `address`; the seconds to wait when it is over the limit."""
        if self._limit <= 0:
            return None
        now = self._clock()
        with self._lock:
            times = self._failures.pop(address, None) or deque()
            while times and times[0] <= now - WINDOW_SECONDS:
                times.popleft()
            self._failures[address] = times  # now the most recent
            if len(self._failures) > self._max_addresses:
                self._failures.popitem(last=False)
            if len(times) >= self._limit:
                return max(1.0, times[0] + WINDOW_SECONDS - now)
            times.append(now)
            return None
