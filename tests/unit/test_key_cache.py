"""ApiKeyLookup: cached keys cost no index read; revocations and new keys are seen in time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from vaultauth.key_cache import ApiKeyLookup
from vaultauth.keys import ApiKeyRecord, Scope

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class CountingKeys:
    def __init__(self) -> None:
        self.keys: dict[str, ApiKeyRecord] = {}
        self.reads = 0

    def add_key(self, key: ApiKeyRecord) -> None:
        self.keys[key.key_id] = key

    def find_key(self, key_id: str) -> ApiKeyRecord | None:
        self.reads += 1
        return self.keys.get(key_id)

    def list_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        return list(self.keys.values())

    def revoke_key(self, key_id: str, at: datetime) -> bool:
        self.keys[key_id] = replace(self.keys[key_id], revoked_at=at)
        return True


def _key(key_id: str) -> ApiKeyRecord:
    return ApiKeyRecord(key_id, "acme", frozenset({Scope.AUTH_READ}), "0" * 64, NOW)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_fetched_key_is_answered_from_memory_until_its_ttl() -> None:
    index, clock = CountingKeys(), Clock()
    index.add_key(_key("k1"))
    lookup = ApiKeyLookup(index, ttl=10, clock=clock)
    assert lookup.cached("k1") is None
    assert lookup.fetch("k1") == index.keys["k1"]
    assert lookup.cached("k1") == index.keys["k1"]
    assert index.reads == 1
    index.revoke_key("k1", NOW)
    clock.now += 10
    assert lookup.cached("k1") is None, "after the TTL the revocation must be read again"
    fetched = lookup.fetch("k1")
    assert fetched is not None
    assert fetched.revoked_at == NOW


def test_unknown_keys_are_not_cached_so_a_new_key_works_at_once() -> None:
    index = CountingKeys()
    lookup = ApiKeyLookup(index, ttl=10, clock=Clock())
    assert lookup.fetch("k2") is None
    index.add_key(_key("k2"))
    assert lookup.cached("k2") is None
    assert lookup.fetch("k2") is not None


def test_ttl_zero_never_caches() -> None:
    index = CountingKeys()
    index.add_key(_key("k3"))
    lookup = ApiKeyLookup(index, ttl=0, clock=Clock())
    lookup.fetch("k3")
    assert lookup.cached("k3") is None


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    index = CountingKeys()
    for name in ("a", "b", "c"):
        index.add_key(_key(name))
    lookup = ApiKeyLookup(index, ttl=10, max_entries=2, clock=Clock())
    lookup.fetch("a")
    lookup.fetch("b")
    lookup.cached("a")  # a is now the most recently used
    lookup.fetch("c")
    assert lookup.cached("b") is None
    assert lookup.cached("a") is not None
    assert lookup.cached("c") is not None
