"""ResolveCache: keyed by path and version, TTL-bounded, LRU-bounded, evicted per path."""

from __future__ import annotations

import pytest

from vaultauth.resolve import ResolvedCredential
from vaultauth.resolve_cache import ResolveCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cred(value: str) -> ResolvedCredential:
    return ResolvedCredential(headers={"Authorization": f"Bearer {value}"}, query={})


def test_an_entry_lives_for_the_ttl() -> None:
    clock = Clock()
    cache = ResolveCache(10, 100, clock=clock)
    cache.put("p", 1, cred("a"))
    clock.now = 9.9
    assert cache.get("p", 1) == cred("a")
    clock.now = 10.0
    assert cache.get("p", 1) is None
    assert len(cache) == 0
    assert (cache.hits, cache.misses) == (1, 1)


def test_versions_are_separate_entries() -> None:
    cache = ResolveCache(10, 100)
    cache.put("p", 1, cred("a"))
    assert cache.get("p", 2) is None
    cache.put("p", 2, cred("b"))
    assert cache.get("p", 1) == cred("a")
    assert cache.get("p", 2) == cred("b")


def test_evict_drops_every_version_of_a_path_only() -> None:
    cache = ResolveCache(10, 100)
    for version in (1, 2, 3):
        cache.put("p", version, cred(str(version)))
    cache.put("q", 1, cred("q"))
    cache.evict("p")
    assert [cache.get("p", v) for v in (1, 2, 3)] == [None, None, None]
    assert cache.get("q", 1) == cred("q")
    cache.evict("never-cached")


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = ResolveCache(10, 2)
    cache.put("a", 1, cred("a"))
    cache.put("b", 1, cred("b"))
    assert cache.get("a", 1) is not None  # "b" is now the least recently used
    cache.put("c", 1, cred("c"))
    assert len(cache) == 2
    assert cache.get("b", 1) is None
    assert cache.get("a", 1) is not None
    assert cache.get("c", 1) is not None
    cache.evict("b")  # its bookkeeping went with it


def test_repr_shows_no_secret() -> None:
    cache = ResolveCache(10, 2)
    cache.put("a", 1, cred("cnry-cache-3Zp"))
    assert "cnry-cache-3Zp" not in repr(cache)


@pytest.mark.parametrize(("ttl", "size"), [(0, 10), (-1, 10), (5, 0)])
def test_a_cache_needs_a_positive_ttl_and_size(ttl: float, size: int) -> None:
    with pytest.raises(ValueError, match="ttl"):
        ResolveCache(ttl, size)
