"""A3: Idempotency-Key on create — one record per key and body, on one facade or two."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.capture import index_bytes
from tests.support.kv import KvReader
from vaultauth.api import create_app
from vaultauth.errors import Conflict, InvalidInput
from vaultauth.idempotency import ABANDONED_AFTER, KEEP_FOR
from vaultauth.settings import Settings
from vaultauth.wiring import build_index

INTG = "intg_idem"
BASE = f"/v1/integrations/{INTG}/auth"
SECRET = "tok-IDEM-Zq81"
BODY = {"authType": "BEARER_TOKEN", "token": SECRET, "headers": [{"key": "A", "value": "b"}]}


def create(client: TestClient, key: str, body: Any = BODY) -> Any:
    return client.post(BASE, json=body, headers={"Idempotency-Key": key})


def test_a_repeat_gets_the_same_record_and_writes_nothing(api: TestClient, kv: KvReader) -> None:
    first = create(api, "key-1")
    assert first.status_code == 200, first.text
    # The same JSON value: other key order, other spacing (sent as raw bytes).
    reordered = (
        '{ "headers": [ {"value": "b", "key": "A"} ], "token": "%s", "authType": "BEARER_TOKEN" }'
    )
    again = api.post(
        BASE,
        content=(reordered % SECRET).encode(),
        headers={"Idempotency-Key": "key-1", "Content-Type": "application/json"},
    )
    assert again.status_code == 200, again.text
    assert again.json()["authId"] == first.json()["authId"]
    assert kv.paths() == [kv.path(INTG, first.json()["authId"])]
    assert kv.current_version(INTG, first.json()["authId"]) == 1
    # The answer is the record as it is now.
    api.patch(f"{BASE}/{first.json()['authId']}", json={"label": "later"})
    assert create(api, "key-1").json()["label"] == "later"


def test_the_same_key_with_another_body_is_refused(api: TestClient) -> None:
    assert create(api, "key-2").status_code == 200
    other = create(api, "key-2", {**BODY, "token": "tok-other"})
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    case = create(api, "key-2", {**BODY, "authType": "bearer_token"})  # another JSON value
    assert case.json()["error"]["code"] == "idempotency_key_reused"


def test_keys_are_per_integration_and_tenant(api: TestClient, make_key: Callable[..., str]) -> None:
    one = create(api, "shared").json()["authId"]
    two = api.post(
        "/v1/integrations/intg_other/auth", json=BODY, headers={"Idempotency-Key": "shared"}
    ).json()["authId"]
    other_tenant = api.post(
        BASE, json=BODY, headers={"Idempotency-Key": "shared", "X-API-Key": make_key("other")}
    ).json()["authId"]
    assert len({one, two, other_tenant}) == 3


def test_a_repeat_after_the_record_was_deleted_is_404(api: TestClient) -> None:
    created = create(api, "key-3").json()
    assert api.delete(f"{BASE}/{created['authId']}").status_code == 204
    gone = create(api, "key-3")
    assert gone.status_code == 404


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_a_bad_key_is_refused(api: TestClient, key: str) -> None:
    answer = api.post(
        BASE, json=BODY, headers={"Idempotency-Key": key.encode("utf-8").decode("latin-1")}
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_idempotency_key", "Idempotency-Key")


def test_concurrent_duplicates_make_exactly_one_record(api: TestClient, kv: KvReader) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: create(api, "key-race"), range(16)))
    made = {a.json()["authId"] for a in answers if a.status_code == 200}
    assert len(made) == 1, [a.text for a in answers]
    assert all(
        a.status_code == 200 or a.json()["error"]["code"] == "idempotency_in_progress"
        for a in answers
    )
    assert len(kv.paths()) == 1


def test_the_index_keeps_a_keyed_hash_never_the_body(api: TestClient, settings: Settings) -> None:
    assert create(api, "key-4").status_code == 200
    assert SECRET.encode() not in index_bytes(settings)


def test_a_key_survives_a_restart(settings: Settings, make_key: Callable[..., str]) -> None:
    key = make_key()
    made = []
    for _ in range(2):  # a fresh process each time: the HMAC key comes from Vault
        with TestClient(create_app(settings)) as client:
            client.headers["X-API-Key"] = key
            made.append(create(client, "key-restart").json()["authId"])
    assert made[0] == made[1]


def test_claims_expire_after_a_day_and_abandoned_ones_are_taken_over(settings: Settings) -> None:
    engine, index = build_index(settings)
    now = datetime.now(UTC)
    try:
        assert index.claim_idempotency("acme", "i", "k", "f" * 64, now) is None
        with pytest.raises(Conflict):  # in progress, and young
            index.claim_idempotency("acme", "i", "k", "f" * 64, now)
        with pytest.raises(InvalidInput):
            index.claim_idempotency("acme", "i", "k", "e" * 64, now)
        later = now + ABANDONED_AFTER + timedelta(seconds=1)
        assert index.claim_idempotency("acme", "i", "k", "f" * 64, later) is None  # taken over
        day_later = later + KEEP_FOR + timedelta(seconds=1)
        assert index.claim_idempotency("acme", "i", "k", "e" * 64, day_later) is None  # expired
    finally:
        engine.dispose()


@pytest.fixture
def two_replicas(settings: Settings, make_key: Callable[..., str]) -> Iterator[list[TestClient]]:
    key = make_key()
    with (
        TestClient(create_app(settings)) as first,
        TestClient(create_app(settings)) as second,
    ):
        for client in (first, second):
            client.headers["X-API-Key"] = key
        yield [first, second]


def test_two_replicas_on_one_index_make_one_record(
    two_replicas: list[TestClient], kv: KvReader
) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda n: create(two_replicas[n % 2], "key-two"), range(16)))
    made = {a.json()["authId"] for a in answers if a.status_code == 200}
    assert len(made) == 1, [a.text for a in answers]
    assert len(kv.paths()) == 1
    for replica in two_replicas:
        assert create(replica, "key-two").json()["authId"] in made
