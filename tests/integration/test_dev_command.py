"""`vaultauth dev`: an embedded OpenBao and SQLite in the data dir that survive a restart, and
that Ctrl-C or SIGTERM stops completely (the OpenBao child included)."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port, wait_until

KEY_RE = re.compile(r"vak_[A-Za-z0-9]{12}_[A-Za-z0-9_-]+")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited but not been reaped: it does not count as running.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@dataclass
class DevRun:
    process: subprocess.Popen[bytes]
    stderr_path: Path
    url: str
    data_dir: Path
    vault_url: str

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def bao_pid(self) -> int:
        return int((self.data_dir / "openbao" / "server.pid").read_text().strip())

    def stop(self, first: signal.Signals) -> bool:
        """Send `first`, then SIGTERM, then SIGKILL to the group; True if `first` was enough."""
        process = self.process
        if process.poll() is not None:
            return True
        os.kill(process.pid, first)
        try:
            process.wait(20)
            return True
        except subprocess.TimeoutExpired:
            pass
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        return False


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[list[DevRun]]:
    """Starts `vaultauth dev` runs; afterwards stops any still running, and their OpenBao."""
    runs: list[DevRun] = []
    yield runs
    for run in runs:
        bao_pid = None
        try:
            bao_pid = run.bao_pid()
        except (OSError, ValueError):
            pass
        run.stop(signal.SIGTERM)
        if bao_pid is not None and _alive(bao_pid):
            os.kill(bao_pid, signal.SIGKILL)  # a leftover of a failed test; ours by its pid file


def _start(runs: list[DevRun], data_dir: Path, port: int, vault_port: int) -> DevRun:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VAULTAUTH_", "VAULT_", "BAO_"))
    }
    env["VAULTAUTH_DATA_DIR"] = str(data_dir)
    env["HOME"] = str(data_dir.parent)
    stderr_path = data_dir.parent / f"dev-{len(runs)}.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vaultauth",
                "dev",
                "--port",
                str(port),
                "--vault-port",
                str(vault_port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            start_new_session=True,
        )
    run = DevRun(
        process, stderr_path, f"http://127.0.0.1:{port}", data_dir, f"http://127.0.0.1:{vault_port}"
    )
    runs.append(run)

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"vaultauth dev exited early:\n{run.stderr()}")
        return httpx.get(f"{run.url}/openapi.json", timeout=2).status_code == 200

    wait_until(ready, 60, "vaultauth dev to serve")
    return run


def _stop_and_check(run: DevRun, first: signal.Signals) -> None:
    bao_pid = run.bao_pid()
    assert _alive(bao_pid)
    assert run.stop(first), f"{first.name} did not stop vaultauth dev:\n{run.stderr()}"
    deadline = time.monotonic() + 10
    while _alive(bao_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(bao_pid), f"OpenBao (pid {bao_pid}) outlived vaultauth dev after {first.name}"
    assert "vaultauth dev: stopped." in run.stderr()
    assert not (run.data_dir / "openbao" / "server.pid").exists()


def _check_facade_token_is_not_root(run: DevRun) -> None:
    """The facade was handed a token of the facade policy (the root token stays in init.json)."""
    init = json.loads((run.data_dir / "openbao" / "init.json").read_text())
    root = {"X-Vault-Token": init["root_token"]}
    with httpx.Client(base_url=run.vault_url, headers=root, timeout=10) as vault:
        accessors = vault.request("LIST", "/v1/auth/token/accessors").json()["data"]["keys"]
        policies = [
            vault.post("/v1/auth/token/lookup-accessor", json={"accessor": a}).json()["data"][
                "policies"
            ]
            for a in accessors
        ]
    assert ["default", "vaultauth-facade"] in [sorted(p) for p in policies], policies


def test_records_survive_a_restart_and_both_signals_stop_everything(
    tmp_path: Path, dev: list[DevRun]
) -> None:
    data_dir = tmp_path / "data"
    port, vault_port = free_port(), free_port()

    first = _start(dev, data_dir, port, vault_port)
    log = first.stderr()
    assert "DEVELOPMENT ONLY" in log
    keys = KEY_RE.findall(log)
    assert len(set(keys)) == 1, log
    key = keys[0]
    assert f"curl -s -X POST http://127.0.0.1:{port}/v1/integrations/" in log
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=first.url, headers=headers, timeout=10) as http:
        created = http.post(
            "/v1/integrations/intg_dev/auth",
            json={"authType": "BEARER_TOKEN", "token": "dev-token", "headers": {"X-A": "b"}},
        )
        assert created.status_code == 200, created.text
    record = created.json()
    access = [line for line in first.stderr().splitlines() if '"route"' in line]
    assert access, "the dev facade logs JSON access lines like `serve`"
    assert all(record["authId"] not in line for line in access), "route templates, not paths"
    _check_facade_token_is_not_root(first)
    _stop_and_check(first, signal.SIGINT)
    assert (data_dir / "index.sqlite3").exists()
    assert (data_dir / "openbao" / "init.json").exists()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "index.sqlite3").stat().st_mode) == 0o600

    second = _start(dev, data_dir, port, vault_port)
    assert KEY_RE.search(second.stderr()) is None, "a second start must not make a new key"
    with httpx.Client(base_url=second.url, headers=headers, timeout=10) as http:
        got = http.get(f"/v1/integrations/intg_dev/auth/{record['authId']}")
        assert got.status_code == 200, got.text
        assert got.json() == record
        resolved = http.post(f"/v1/integrations/intg_dev/auth/{record['authId']}/resolve")
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["headers"] == {"X-A": "b", "Authorization": "Bearer dev-token"}
    _stop_and_check(second, signal.SIGTERM)


def _reconcile_in(folder: Path) -> subprocess.CompletedProcess[str]:
    """`vaultauth reconcile` run in `folder` with no VAULTAUTH_* setting at all."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VAULTAUTH_", "VAULT_", "BAO_"))
    }
    env["HOME"] = str(folder)
    return subprocess.run(
        [sys.executable, "-m", "vaultauth", "reconcile", "--min-age", "0"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_reconcile_works_in_the_dev_folder_or_says_what_to_run(
    tmp_path: Path, dev: list[DevRun]
) -> None:
    data_dir = tmp_path / ".vaultauth"  # the default data dir, seen from tmp_path
    run = _start(dev, data_dir, free_port(), free_port())
    key = KEY_RE.findall(run.stderr())[0]
    with httpx.Client(base_url=run.url, headers={"X-API-Key": key}, timeout=10) as http:
        body = {"authType": "BEARER_TOKEN", "token": "dev-token"}
        assert http.post("/v1/integrations/intg_dev/auth", json=body).status_code == 200
    running = _reconcile_in(tmp_path)
    assert running.returncode == 0, running.stderr
    assert "examined 1 index records and 1 Vault secrets" in running.stdout
    assert "consistent" in running.stdout
    assert f"using the OpenBao of `vaultauth dev` at {run.vault_url}" in running.stderr
    _stop_and_check(run, signal.SIGTERM)
    stopped = _reconcile_in(tmp_path)
    assert stopped.returncode == 5
    lines = stopped.stderr.strip().splitlines()
    assert lines == [
        f"error: the OpenBao of `vaultauth dev` in .vaultauth is not running at {run.vault_url}: "
        "start `vaultauth dev` in this folder, then run this again"
    ]


def test_devserver_does_not_import_the_cli() -> None:
    probe = "import sys, vaultauth.devserver; print('vaultauth.cli' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"
