"""FeedCache: answers only while the feed is fresh, never stores a value a change overtook."""

from __future__ import annotations

import pytest

from vaultauth.feed_cache import _REMEMBERED_INVALIDATIONS, FeedCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Feed:
    def __init__(self) -> None:
        self.fresh = True

    def is_fresh(self) -> bool:
        return self.fresh


def make(
    feed: Feed | None = None, clock: Clock | None = None, max_entries: int = 100, ttl: float = 10
) -> FeedCache[str, str]:
    return FeedCache(
        max_entries=max_entries,
        ttl=ttl,
        is_fresh=(feed or Feed()).is_fresh,
        clock=clock or Clock(),
    )


def test_a_stored_value_is_answered_until_its_ttl() -> None:
    clock = Clock()
    cache = make(clock=clock)
    cache.put("k", "v1", cache.ticket())
    clock.now += 9.9
    assert cache.get("k") == "v1"
    clock.now += 0.1
    assert cache.get("k") is None
    assert (cache.hits, cache.misses) == (1, 1)


def test_nothing_is_answered_or_stored_while_the_feed_is_stale() -> None:
    feed = Feed()
    cache = make(feed)
    cache.put("k", "v1", cache.ticket())
    feed.fresh = False
    assert cache.get("k") is None, "a stale feed may have missed a change to k"
    cache.put("j", "v", cache.ticket())
    feed.fresh = True
    assert cache.get("j") is None
    assert cache.get("k") == "v1"


def test_an_invalidation_removes_the_entry() -> None:
    cache = make()
    cache.put("k", "v1", cache.ticket())
    cache.invalidate("k")
    assert cache.get("k") is None


def test_a_read_that_began_before_an_invalidation_is_not_stored() -> None:
    cache = make()
    ticket = cache.ticket()  # a request starts reading k from the index ...
    cache.invalidate("k")  # ... a change to k is announced meanwhile ...
    cache.put("k", "old", ticket)  # ... and the old value arrives afterwards
    assert cache.get("k") is None
    fresh_ticket = cache.ticket()
    cache.put("k", "new", fresh_ticket)
    assert cache.get("k") == "new"


def test_an_invalidation_of_another_key_does_not_block_a_fill() -> None:
    cache = make()
    ticket = cache.ticket()
    cache.invalidate("other")
    cache.put("k", "v", ticket)
    assert cache.get("k") == "v"


def test_a_read_older_than_every_remembered_invalidation_is_not_stored() -> None:
    cache = make()
    ticket = cache.ticket()
    cache.invalidate("k")
    for n in range(_REMEMBERED_INVALIDATIONS):
        cache.invalidate(f"other{n}")  # pushes k's invalidation out of memory
    cache.put("k", "old", ticket)
    assert cache.get("k") is None


def test_clear_refuses_every_read_in_flight() -> None:
    cache = make()
    cache.put("a", "1", cache.ticket())
    ticket = cache.ticket()
    cache.clear()
    assert cache.get("a") is None
    cache.put("b", "old", ticket)
    assert cache.get("b") is None
    cache.put("b", "new", cache.ticket())
    assert cache.get("b") == "new"


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    cache = make(max_entries=2)
    for key in ("a", "b"):
        cache.put(key, key, cache.ticket())
    assert cache.get("a") == "a"  # a is now the most recently used
    cache.put("c", "c", cache.ticket())
    assert cache.get("b") is None
    assert cache.get("a") == "a"
    assert cache.get("c") == "c"
    assert len(cache) == 2


def test_lookups_are_counted_for_metrics() -> None:
    seen: list[bool] = []
    cache: FeedCache[str, str] = FeedCache(
        max_entries=10, ttl=10, is_fresh=lambda: True, on_lookup=seen.append
    )
    cache.get("k")
    cache.put("k", "v", cache.ticket())
    cache.get("k")
    assert seen == [False, True]


def test_it_refuses_a_meaningless_size() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        make(max_entries=0)
