"""The facade as a real process (`python -m vaultauth serve`), configured through VAULTAUTH_*."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.processes import free_port, stop_process, wait_until
from vaultauth.settings import Settings


def settings_env(settings: Settings, home: Path, **overrides: str) -> dict[str, str]:
    """The environment that makes a child process see `settings` (and nothing of ours)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "VAULTAUTH_VAULT_ADDR": settings.vault_addr,
        "VAULTAUTH_VAULT_PREFIX": settings.vault_prefix,
        "VAULTAUTH_VAULT_MOUNT": settings.vault_mount,
        "VAULTAUTH_VAULT_TIMEOUT": str(settings.vault_timeout),
        "VAULTAUTH_INDEX_URL": settings.resolved_index_url(),
        "VAULTAUTH_DATA_DIR": str(settings.data_dir),
        "VAULTAUTH_RETRY_AFTER_SECONDS": str(settings.retry_after_seconds),
        "VAULTAUTH_WORKER_THREADS": "8",
    }
    if settings.vault_token is not None:
        env["VAULTAUTH_VAULT_TOKEN"] = settings.vault_token.get_secret_value()
    env.update(overrides)
    return env


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`vaultauth ARGS` in a child process; its output is returned, not printed."""
    return subprocess.run(
        [sys.executable, "-m", "vaultauth", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Facade:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def client(self, api_key: str, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": api_key}, timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lifespan shutdown, connections dropped mid-transaction."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_facade(env: dict[str, str], workdir: Path, name: str = "facade", *args: str) -> Facade:
    """`vaultauth serve ARGS` on a free port, ready once /healthz answers."""
    port = free_port(1)
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "vaultauth", "serve", "--port", str(port), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    facade = Facade(process=process, url=f"http://127.0.0.1:{port}", log_path=log_path)

    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {facade.log()[-2000:]}")
        return httpx.get(f"{facade.url}/healthz", timeout=1).status_code == 200

    try:
        wait_until(up, 30, name)
    except BaseException:
        stop_process(process)
        raise
    return facade


@contextmanager
def running_facade(
    env: dict[str, str], workdir: Path, name: str = "facade", *args: str
) -> Iterator[Facade]:
    facade = start_facade(env, workdir, name, *args)
    try:
        yield facade
    finally:
        stop_process(facade.process)


@contextmanager
def two_running_facades(
    env: dict[str, str], workdir: Path, name: str = "facade"
) -> Iterator[tuple[Facade, Facade]]:
    """Two facade processes of one configuration (`<name>-1`, `<name>-2`), started together."""
    with ThreadPoolExecutor(2) as pool:
        starting = [pool.submit(start_facade, env, workdir, f"{name}-{n}") for n in (1, 2)]
        facades = [future.result() for future in starting]
    try:
        yield facades[0], facades[1]
    finally:
        for facade in facades:
            stop_process(facade.process)
