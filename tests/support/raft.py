"""A real 3-node OpenBao raft cluster on loopback ports, for failover tests.

Forms in well under a minute with `performance_multiplier = 1`; a killed node comes back sealed
and is unsealed with the cluster's single key share.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.processes import free_port, stop_process, wait_until
from vaultauth.embedded import bao_binary


@dataclass
class RaftNode:
    name: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> int:
        return httpx.get(f"{self.addr}/v1/sys/health", timeout=1).status_code


@dataclass
class RaftCluster:
    nodes: list[RaftNode]
    root: Path
    unseal_key: str = ""
    root_token: str = field(default="", repr=False)

    @property
    def addrs(self) -> list[str]:
        return [node.addr for node in self.nodes]

    def write_configs(self) -> None:
        for node in self.nodes:
            joins = "".join(
                f'  retry_join {{\n    leader_api_addr = "{peer.addr}"\n  }}\n'
                for peer in self.nodes
                if peer is not node
            )
            (node.workdir / "config.hcl").write_text(
                f'storage "raft" {{\n  path = "{node.workdir / "data"}"\n'
                f'  node_id = "{node.name}"\n  performance_multiplier = 1\n{joins}}}\n'
                f'listener "tcp" {{\n  address = "127.0.0.1:{node.port}"\n'
                f'  cluster_address = "127.0.0.1:{node.port + 1}"\n  tls_disable = true\n}}\n'
                f'api_addr = "{node.addr}"\ncluster_addr = "https://127.0.0.1:{node.port + 1}"\n'
                "ui = false\n"
            )

    def start_node(self, node: RaftNode) -> None:
        with (node.workdir / "server.log").open("ab") as log:
            node.process = subprocess.Popen(
                [bao_binary(), "server", f"-config={node.workdir / 'config.hcl'}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(node.workdir)},
                start_new_session=True,
            )
        wait_until(lambda: node.health() in (200, 429, 501, 503), 30, f"{node.name} to listen")

    def unseal(self, node: RaftNode) -> None:
        def unsealed() -> bool:
            response = httpx.put(
                f"{node.addr}/v1/sys/unseal", json={"key": self.unseal_key}, timeout=5
            )
            return response.status_code == 200 and not response.json()["sealed"]

        wait_until(unsealed, 60, f"{node.name} to unseal")

    def kill(self, node: RaftNode) -> None:
        """SIGKILL, as a crash would."""
        assert node.process is not None
        os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait(10)

    def restart(self, node: RaftNode) -> None:
        self.start_node(node)
        self.unseal(node)

    def active_node(self) -> RaftNode | None:
        for node in self.nodes:
            try:
                if (
                    node.process is not None
                    and node.process.poll() is None
                    and node.health() == 200
                ):
                    return node
            except httpx.HTTPError:
                continue
        return None

    def wait_for_active(self, timeout: float = 60) -> RaftNode:
        wait_until(lambda: self.active_node() is not None, timeout, "an active raft leader")
        node = self.active_node()
        assert node is not None
        return node

    def wait_for_voters(self, timeout: float = 90) -> None:
        """Autopilot promotes joined nodes to voters after ~15 s; until then a kill loses quorum."""

        def all_voters() -> bool:
            leader = self.wait_for_active()
            servers = httpx.get(
                f"{leader.addr}/v1/sys/storage/raft/configuration",
                headers={"X-Vault-Token": self.root_token},
                timeout=5,
            ).json()["data"]["config"]["servers"]
            return len(servers) == len(self.nodes) and all(s["voter"] for s in servers)

        try:
            wait_until(all_voters, timeout, "every raft node to be a voter")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.diagnosis()}") from None

    def diagnosis(self) -> str:
        """What each node says about itself, and the end of its log, for a failed wait."""
        lines = []
        for node in self.nodes:
            try:
                health: object = node.health()
            except httpx.HTTPError as exc:
                health = type(exc).__name__
            alive = node.process is not None and node.process.poll() is None
            log = (node.workdir / "server.log").read_text(errors="replace")[-1500:]
            lines.append(f"--- {node.name} port {node.port} alive={alive} health={health}\n{log}")
        return "\n".join(lines)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                stop_process(node.process)
        shutil.rmtree(self.root, ignore_errors=True)


def start_raft_cluster(size: int = 3) -> RaftCluster:
    """Start, initialise, unseal and join `size` nodes; enable KV v2 at `secret/`."""
    root = Path(tempfile.mkdtemp(prefix="vaultauth-raft-"))
    nodes = []
    # One block of free ports for the whole cluster: picked one node at a time, a node's API
    # port could land on another node's cluster port (port + 1), which is not bound yet.
    base = free_port(span=2 * size)
    for index in range(size):
        workdir = root / f"node{index + 1}"
        workdir.mkdir()
        nodes.append(RaftNode(name=f"node{index + 1}", port=base + 2 * index, workdir=workdir))
    cluster = RaftCluster(nodes=nodes, root=root)
    try:
        cluster.write_configs()
        for node in nodes:
            cluster.start_node(node)
        first = nodes[0]
        init = httpx.put(
            f"{first.addr}/v1/sys/init",
            json={"secret_shares": 1, "secret_threshold": 1},
            timeout=30,
        ).json()
        cluster.unseal_key = init["keys"][0]
        cluster.root_token = init["root_token"]
        cluster.unseal(first)
        cluster.wait_for_active()
        for node in nodes[1:]:
            cluster.unseal(node)
        wait_until(
            lambda: all(node.health() in (200, 429) for node in nodes), 60, "all nodes unsealed"
        )
        leader = cluster.wait_for_active()
        httpx.post(
            f"{leader.addr}/v1/sys/mounts/secret",
            headers={"X-Vault-Token": cluster.root_token},
            json={"type": "kv", "options": {"version": "2"}},
            timeout=10,
        ).raise_for_status()
        cluster.wait_for_voters()
    except BaseException:
        cluster.stop()
        raise
    return cluster
