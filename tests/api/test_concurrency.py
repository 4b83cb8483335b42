"""Concurrent PATCHes of one record: check-and-set lets exactly one writer win per version."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.support.kv import KvReader

INTG = "intg_race"
BASE = f"/v1/integrations/{INTG}/auth"
WRITERS = 8
ROUNDS = 3


def test_concurrent_patches_never_lose_an_update(api: TestClient, kv: KvReader) -> None:
    created = api.post(BASE, json={"authType": "BEARER_TOKEN", "token": "token-0"})
    auth_id = created.json()["authId"]
    path = f"{BASE}/{auth_id}"
    outcomes: list[tuple[int, str, int | None]] = []  # (status, token sent, version answered)
    lock = threading.Lock()

    for round_ in range(ROUNDS):
        barrier = threading.Barrier(WRITERS)

        def patch(writer: int, round_: int = round_, barrier: threading.Barrier = barrier) -> None:
            token = f"token-{round_}-{writer}"
            barrier.wait()
            response = api.patch(path, json={"token": token})
            version = response.json().get("version") if response.status_code == 200 else None
            if response.status_code == 409:
                assert response.json()["error"]["code"] == "conflict"
            with lock:
                outcomes.append((response.status_code, token, version))

        with ThreadPoolExecutor(WRITERS) as pool:
            for future in [pool.submit(patch, w) for w in range(WRITERS)]:
                future.result()

    statuses = [status for status, _, _ in outcomes]
    assert set(statuses) <= {200, 409}, statuses
    assert 409 in statuses, "the writers never raced: the test proves nothing"
    winners = [(version, token) for status, token, version in outcomes if status == 200]
    assert len(winners) >= ROUNDS  # at least one writer wins each round
    versions = [version for version, _ in winners]
    # Exactly one winner per version: no two 200s answered the same version.
    assert len(set(versions)) == len(versions), versions
    assert sorted(versions) == list(range(2, 2 + len(winners)))

    # Vault and the index agree: the current KV version is the index's, and holds the last winner.
    record = api.get(path).json()
    last_version, last_token = max(winners)
    assert record["version"] == last_version
    assert kv.current_version(INTG, auth_id) == last_version
    assert kv.data(INTG, auth_id)["token"] == last_token
    # Every KV version is one a client was told about: no write was applied behind a 409.
    for version, token in winners:
        assert kv.data(INTG, auth_id, version=version)["token"] == token
    resolved = api.post(f"{path}/resolve").json()
    assert resolved["headers"]["Authorization"] == f"Bearer {last_token}"
    assert resolved["version"] == last_version


def test_concurrent_creates_and_deletes_leave_vault_and_index_in_step(
    api: TestClient, kv: KvReader
) -> None:
    def create(i: int) -> str:
        response = api.post(BASE, json={"authType": "BEARER_TOKEN", "token": f"t{i}"})
        assert response.status_code == 200, response.text
        auth_id: str = response.json()["authId"]
        return auth_id

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, range(16)))
    assert len(set(ids)) == 16
    listed = api.get(BASE, params={"limit": 200}).json()["data"]
    assert sorted(r["authId"] for r in listed) == sorted(ids)
    assert sorted(kv.paths()) == sorted(kv.path(INTG, i) for i in ids)

    def delete(auth_id: str) -> int:
        return api.delete(f"{BASE}/{auth_id}").status_code

    with ThreadPoolExecutor(8) as pool:
        # Each record deleted twice at once: one 204, and a 204 or a 404 for the other.
        statuses = list(pool.map(delete, ids[:8] + ids[:8]))
    assert set(statuses) <= {204, 404}
    assert statuses.count(204) >= 8
    remaining = api.get(BASE, params={"limit": 200}).json()["data"]
    assert sorted(r["authId"] for r in remaining) == sorted(ids[8:])
    assert sorted(kv.paths()) == sorted(kv.path(INTG, i) for i in ids[8:])
