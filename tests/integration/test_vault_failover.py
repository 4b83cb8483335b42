"""Failover on a real 3-node OpenBao raft cluster: leaders are killed and frozen mid-stream."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hvac
import pytest
from fastapi.testclient import TestClient

from tests.support.raft import RaftCluster, start_raft_cluster
from vaultauth.admin import create_key
from vaultauth.api import create_app
from vaultauth.keys import Scope
from vaultauth.settings import Settings

pytestmark = pytest.mark.slow
PATCHES_PER_RECORD = 5


@pytest.fixture(scope="module")
def cluster() -> Iterator[RaftCluster]:
    raft = start_raft_cluster()
    try:
        yield raft
    finally:
        raft.stop()


@pytest.fixture
def facade(cluster: RaftCluster, index_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        vault_addr=",".join(cluster.addrs),
        vault_token=cluster.root_token,
        vault_prefix=f"t{secrets.token_hex(4)}",
        index_url=index_url,
        data_dir=tmp_path,
        vault_timeout=2.0,
        vault_failover_budget=6.0,
    )
    key = create_key(settings, "acme", [Scope.AUTH_READ, Scope.AUTH_WRITE, Scope.CREDENTIALS_READ])
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = key
        client.headers["X-Test-Prefix"] = settings.vault_prefix
        yield client


@dataclass
class Acked:
    """A write that got a 2xx: the KV version it created must hold exactly this token."""

    auth_id: str
    version: int
    token: str


@dataclass
class Stream:
    acked: list[Acked] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    acked_after: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _stream_writes(
    api: TestClient, stream: Stream, stop: threading.Event, phase: Callable[[], str]
) -> None:
    """Create a record, patch it a few times or until a write fails, then start a new one.

    A few patches only: KV keeps the last 10 versions, and every acknowledged one is checked.
    """
    auth_id: str | None = None
    writes = 0
    while not stop.is_set():
        writes += 1
        if writes % PATCHES_PER_RECORD == 0:
            auth_id = None
        token = f"tok-{secrets.token_hex(8)}"
        if auth_id is None:
            response = api.post(
                "/v1/integrations/intg_ha/auth", json={"authType": "BEARER_TOKEN", "token": token}
            )
        else:
            response = api.patch(f"/v1/integrations/intg_ha/auth/{auth_id}", json={"token": token})
        with stream.lock:
            stream.statuses.append(response.status_code)
            if response.status_code != 200:
                stream.failures.append(
                    f"{phase()} {auth_id} {response.status_code} {response.text}"
                )
            if response.status_code == 200:
                body = response.json()
                auth_id = body["authId"]
                stream.acked.append(Acked(auth_id, body["version"], token))
                stream.acked_after[phase()] = stream.acked_after.get(phase(), 0) + 1
            else:
                auth_id = None  # an unacknowledged write may have been applied: move on


def _check_every_acked_write(cluster: RaftCluster, api: TestClient, stream: Stream) -> None:
    prefix = api.headers["X-Test-Prefix"]
    leader = cluster.wait_for_active()
    vault = hvac.Client(url=leader.addr, token=cluster.root_token, timeout=10)
    try:
        for acked in stream.acked:
            stored = vault.secrets.kv.v2.read_secret_version(
                path=f"{prefix}/acme/integrations/intg_ha/auth/{acked.auth_id}",
                version=acked.version,
                mount_point="secret",
                raise_on_deleted_version=True,
            )
            assert stored["data"]["data"]["token"] == acked.token
    finally:
        vault.adapter.close()
    last_per_record: dict[str, Acked] = {}
    for acked in stream.acked:
        last_per_record[acked.auth_id] = acked
    for acked in last_per_record.values():
        resolved = api.post(f"/v1/integrations/intg_ha/auth/{acked.auth_id}/resolve")
        assert resolved.status_code == 200
        # Patching stopped at the first failed write, and a failed write may have landed.
        assert resolved.json()["version"] in (acked.version, acked.version + 1)
        if resolved.json()["version"] == acked.version:
            assert resolved.json()["headers"]["Authorization"] == f"Bearer {acked.token}"


def _run_fault(
    cluster: RaftCluster, api: TestClient, fault: Callable[[], None], settle: float
) -> Stream:
    stream = Stream()
    stop = threading.Event()
    state = {"phase": "before"}
    workers = [
        threading.Thread(target=_stream_writes, args=(api, stream, stop, lambda: state["phase"]))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    try:
        time.sleep(2)
        fault()
        state["phase"] = "during"
        cluster.wait_for_active(60)
        time.sleep(settle)
        state["phase"] = "after"
        time.sleep(3)
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)
    return stream


def test_killing_the_leader_loses_no_acknowledged_write(
    cluster: RaftCluster, facade: TestClient
) -> None:
    leader = cluster.wait_for_active()
    try:
        stream = _run_fault(cluster, facade, lambda: cluster.kill(leader), settle=2)
    finally:
        cluster.restart(leader)
        cluster.wait_for_voters()
    assert set(stream.statuses) <= {200, 503}, (Counter(stream.statuses), stream.failures)
    assert stream.acked_after.get("before", 0) > 0
    assert stream.acked_after.get("after", 0) > 0, "the facade resumed without a restart"
    _check_every_acked_write(cluster, facade, stream)


def test_a_frozen_leader_is_routed_around(cluster: RaftCluster, facade: TestClient) -> None:
    leader = cluster.wait_for_active()
    assert leader.process is not None
    pid = leader.process.pid

    def freeze() -> None:
        os.killpg(pid, signal.SIGSTOP)
        # Wait for another node to take over before the old leader wakes up claiming it.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            others = [n for n in cluster.nodes if n is not leader]
            if any(_quiet_health(n.addr) == 200 for n in others):
                break
            time.sleep(0.2)
        os.killpg(pid, signal.SIGCONT)

    try:
        stream = _run_fault(cluster, facade, freeze, settle=2)
    finally:
        os.killpg(pid, signal.SIGCONT)
        cluster.wait_for_voters()
    assert set(stream.statuses) <= {200, 503}, (Counter(stream.statuses), stream.failures)
    assert stream.acked_after.get("after", 0) > 0
    _check_every_acked_write(cluster, facade, stream)


def _quiet_health(addr: str) -> int:
    import httpx

    try:
        return httpx.get(f"{addr}/v1/sys/health", timeout=0.5).status_code
    except httpx.HTTPError:
        return 0
