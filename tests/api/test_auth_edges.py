"""Failed authentications: the per-address throttle (429) and unknown key ids answered from
memory, so that they cost what a known id with a wrong secret costs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from tests.conftest import CACHE_STALENESS_BOUND
from tests.support.processes import seen_within
from vaultauth.api import create_app
from vaultauth.index.sql import SqlMetadataIndex
from vaultauth.keys import ApiKeyRecord, Scope, hash_secret
from vaultauth.settings import Settings
from vaultauth.wiring import build_index

BASE = "/v1/integrations/intg_edges/auth"
LIMIT = 3


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"auth_failure_limit": LIMIT}))
    with TestClient(app) as client:
        yield client


def test_past_the_limit_failed_authentications_get_429_and_a_valid_key_never_does(
    limited: TestClient, make_key: Callable[..., str]
) -> None:
    good = make_key()
    wrong = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for _ in range(LIMIT):
        assert limited.get(BASE, headers={"X-API-Key": wrong}).status_code == 401
    throttled = limited.get(BASE, headers={"X-API-Key": wrong})
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert limited.get(BASE, headers={"X-API-Key": "no-key-at-all"}).status_code == 429
    assert limited.get(BASE, headers={"X-API-Key": good}).status_code == 200


def test_an_unknown_key_id_costs_one_index_query_then_none(
    app_client: TestClient, make_key: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app_client.get("/healthz")  # the runtime exists once the app has started
    runtime = app_client.app.state.runtime  # type: ignore[attr-defined]
    queries: list[str] = []
    real = SqlMetadataIndex.find_key

    def counted(self: SqlMetadataIndex, key_id: str) -> object:
        queries.append(key_id)
        return real(self, key_id)

    monkeypatch.setattr(SqlMetadataIndex, "find_key", counted)
    runtime.async_index._on_loop = None  # every index query through the counted method
    unknown = "vak_Unknown00000_" + "x" * 43
    known = make_key()
    wrong_secret = known[:-4] + ("AAAA" if not known.endswith("AAAA") else "BBBB")
    for _ in range(3):
        assert app_client.get(BASE, headers={"X-API-Key": unknown}).status_code == 401
        assert app_client.get(BASE, headers={"X-API-Key": wrong_secret}).status_code == 401
    assert sorted(queries) == sorted(["Unknown00000", known.split("_")[1]])


def test_a_key_created_after_its_id_was_seen_unknown_works_within_the_bound(
    app_client: TestClient, settings: Settings
) -> None:
    secret = "s" * 43
    key = f"vak_Later0000000_{secret}"
    assert app_client.get(BASE, headers={"X-API-Key": key}).status_code == 401  # remembered
    engine, index = build_index(settings)  # as `vaultauth keys create`, another process
    try:
        index.add_key(
            ApiKeyRecord(
                key_id="Later0000000",
                tenant="acme",
                scopes=frozenset({Scope.AUTH_READ}),
                secret_hash=hash_secret(secret),
                created_at=datetime.now(UTC),
            )
        )
    finally:
        engine.dispose()
    seen_within(
        lambda: app_client.get(BASE, headers={"X-API-Key": key}).status_code == 200,
        CACHE_STALENESS_BOUND,
        "the new key",
    )
