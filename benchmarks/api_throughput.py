"""Throughput of the facade's hot paths against a real OpenBao, printed as figures.

Starts its own `bao server -dev` and one `vaultauth serve` process on free loopback ports,
creates records, then drives get / resolve / patch / create with N client threads for a fixed
time each and prints requests per second and latency percentiles. For comparison it also times
raw KV v2 reads with one hvac client, the floor the facade's resolve path sits on.

    .venv/bin/python benchmarks/api_throughput.py [--seconds 5] [--concurrency 8]
      [--index-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--cache-ttl 0]

Figures are for comparing changes on one machine, not promises.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import hvac

from vaultauth.cli import create_key
from vaultauth.embedded import bao_binary
from vaultauth.keys import Scope
from vaultauth.settings import Settings

ROOT_TOKEN = "bench-root"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def drive(name: str, seconds: float, threads: int, call: Callable[[httpx.Client], int]) -> None:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        mine: list[float] = []
        failed = 0
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                status = call(client)
                mine.append(time.perf_counter() - started)
                failed += status >= 300
        with lock:
            latencies.extend(mine)
            errors += failed

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    begun = time.monotonic()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - begun
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(
        f"{name:<22} {len(ordered) / elapsed:8.0f} req/s   p50 {p50:6.1f} ms   "
        f"p99 {p99:6.1f} ms   errors {errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--index-url", default=None)
    parser.add_argument("--cache-ttl", type=float, default=0)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="vaultauth-bench-"))
    bao_port, api_port = free_port(), free_port()
    vault_addr = f"http://127.0.0.1:{bao_port}"
    bao = subprocess.Popen(
        [
            bao_binary(),
            "server",
            "-dev",
            f"-dev-root-token-id={ROOT_TOKEN}",
            f"-dev-listen-address=127.0.0.1:{bao_port}",
            "-dev-no-store-token",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(workdir)},
    )
    facade: subprocess.Popen[bytes] | None = None
    try:
        wait_for(f"{vault_addr}/v1/sys/health")
        env = {
            **os.environ,
            "VAULTAUTH_VAULT_ADDR": vault_addr,
            "VAULTAUTH_VAULT_TOKEN": ROOT_TOKEN,
            "VAULTAUTH_DATA_DIR": str(workdir),
            "VAULTAUTH_RESOLVE_CACHE_TTL": str(args.cache_ttl),
            "VAULTAUTH_LOG_LEVEL": "warning",
        }
        if args.index_url:
            env["VAULTAUTH_INDEX_URL"] = args.index_url
        settings = Settings(
            vault_addr=vault_addr,
            vault_token=ROOT_TOKEN,
            data_dir=workdir,
            index_url=args.index_url,
        )
        key = create_key(
            settings, "bench", [Scope.AUTH_READ, Scope.AUTH_WRITE, Scope.CREDENTIALS_READ]
        )
        facade = subprocess.Popen(
            [sys.executable, "-m", "vaultauth", "serve", "--port", str(api_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{api_port}/v1/integrations/intg_bench/auth"
        wait_for(f"http://127.0.0.1:{api_port}/healthz")
        headers = {"X-API-Key": key}
        with httpx.Client(headers=headers, timeout=10) as setup:
            ids = [
                setup.post(base, json={"authType": "BEARER_TOKEN", "token": f"t{i}"}).json()[
                    "authId"
                ]
                for i in range(args.records)
            ]
        counter = iter(range(10**9))

        def pick() -> str:
            return ids[next(counter) % len(ids)]

        print(
            f"facade: 1 uvicorn process, {args.concurrency} client threads, "
            f"index {'PostgreSQL' if args.index_url else 'SQLite'}, "
            f"resolve cache TTL {args.cache_ttl}s"
        )
        drive(
            "GET record",
            args.seconds,
            args.concurrency,
            lambda c: c.get(f"{base}/{pick()}", headers=headers).status_code,
        )
        drive(
            "POST resolve",
            args.seconds,
            args.concurrency,
            lambda c: c.post(f"{base}/{pick()}/resolve", headers=headers).status_code,
        )
        drive(
            "PATCH token",
            args.seconds,
            args.concurrency,
            lambda c: (
                c.patch(f"{base}/{pick()}", headers=headers, json={"token": "rotated"}).status_code
            ),
        )
        drive(
            "POST create",
            args.seconds,
            args.concurrency,
            lambda c: (
                c.post(
                    base, headers=headers, json={"authType": "BEARER_TOKEN", "token": "x"}
                ).status_code
            ),
        )

        vault = hvac.Client(url=vault_addr, token=ROOT_TOKEN, timeout=5)
        vault.secrets.kv.v2.create_or_update_secret(path="bench/raw", secret={"a": "b"})
        reads = 0
        stop_at = time.monotonic() + args.seconds
        begun = time.monotonic()
        while time.monotonic() < stop_at:
            vault.secrets.kv.v2.read_secret_version(path="bench/raw", raise_on_deleted_version=True)
            reads += 1
        print(f"{'raw hvac KV read (1)':<22} {reads / (time.monotonic() - begun):8.0f} req/s")
    finally:
        if facade is not None:
            stop(facade)
        stop(bao)
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
