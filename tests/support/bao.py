"""A real `bao server -dev` for the test session, on a free loopback port."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from tests.support.processes import free_port, stop_process, wait_until
from vaultauth.embedded import bao_binary

ROOT_TOKEN = "root-token-for-tests"


@dataclass
class DevBao:
    addr: str
    token: str
    process: subprocess.Popen[bytes] | None
    workdir: Path | None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _spawn(port: int, workdir: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            bao_binary(),
            "server",
            "-dev",
            f"-dev-root-token-id={ROOT_TOKEN}",
            f"-dev-listen-address=127.0.0.1:{port}",
            "-dev-no-store-token",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(workdir)},
        start_new_session=True,
    )


def start_dev_bao() -> DevBao:
    """Start an in-memory dev server; ready once health and the `secret/` KV v2 mount answer."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="vaultauth-bao-"))
    with (workdir / "server.log").open("wb") as log:
        process = _spawn(port, workdir, log)
    addr = f"http://127.0.0.1:{port}"
    headers = {"X-Vault-Token": ROOT_TOKEN}

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"bao server exited: {(workdir / 'server.log').read_text()[-2000:]}")
        health = httpx.get(f"{addr}/v1/sys/health", timeout=1)
        mounts = httpx.get(f"{addr}/v1/sys/mounts/secret/tune", headers=headers, timeout=1)
        return health.status_code == 200 and mounts.status_code == 200

    try:
        wait_until(ready, 30, "bao server -dev")
    except BaseException:
        stop_process(process)
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return DevBao(addr=addr, token=ROOT_TOKEN, process=process, workdir=workdir)
