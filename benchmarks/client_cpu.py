"""CPU the facade's Vault client spends per KV read and write, against stock hvac + requests.

Both clients talk to the same OpenBao, reading and writing the same kind of documents; what is
measured is this process's own CPU time (user + system) per call, so the server's work is left
out. vaultauth's client (`VaultKV`, asyncio) runs 16 calls at a time, as the facade does under
load; hvac + requests runs them one after another on one pooled session, its best case.

    .venv/bin/python benchmarks/client_cpu.py [--calls 4000]    # starts its own OpenBao

Target: vaultauth's CPU per call at most a third of hvac + requests'.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import hvac
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.bao import DevBao, start_dev_bao
from vaultauth.store.kv import VaultKV

CONCURRENCY = 16
DOCUMENT = {"format": "1", "authType": "BEARER_TOKEN", "headers": [], "token": "t" * 40}


def cpu_per_call_sync(calls: int, call: Callable[[int], object]) -> float:
    call(calls)  # warm-up (a number the measured calls never use)
    started = time.process_time()
    for n in range(calls):
        call(n)
    return (time.process_time() - started) / calls * 1e6


async def cpu_per_call_async(calls: int, call: Callable[[int], Awaitable[object]]) -> float:
    await call(calls)  # warm-up (a number the measured calls never use)
    started = time.process_time()

    async def worker(first: int) -> None:
        for n in range(first, calls, CONCURRENCY):
            await call(n)

    await asyncio.gather(*(worker(first) for first in range(CONCURRENCY)))
    return (time.process_time() - started) / calls * 1e6


def hvac_figures(bao: DevBao, calls: int) -> tuple[float, float]:
    session = requests.Session()
    client = hvac.Client(url=bao.addr, token=bao.token, session=session, timeout=5)
    kv = client.secrets.kv.v2
    kv.create_or_update_secret(path="cpu/hvac/read", secret=DOCUMENT, mount_point="secret")

    def read(_n: int) -> object:
        return kv.read_secret_version(
            path="cpu/hvac/read", version=1, mount_point="secret", raise_on_deleted_version=True
        )

    def write(n: int) -> object:
        return kv.create_or_update_secret(
            path=f"cpu/hvac/write/{n}", secret=DOCUMENT, cas=0, mount_point="secret"
        )

    try:
        return cpu_per_call_sync(calls, read), cpu_per_call_sync(calls, write)
    finally:
        session.close()


async def vaultauth_figures(bao: DevBao, calls: int) -> tuple[float, float]:
    kv = VaultKV(bao.addr, lambda: bao.token, mount="secret", pool_size=CONCURRENCY)
    try:
        await kv.write("cpu/vaultauth/read", DOCUMENT, cas=0)

        async def read(_n: int) -> object:
            return await kv.read("cpu/vaultauth/read", 1)

        async def write(n: int) -> object:
            return await kv.write(f"cpu/vaultauth/write/{n}", DOCUMENT, cas=0)

        return await cpu_per_call_async(calls, read), await cpu_per_call_async(calls, write)
    finally:
        await kv.close()


def measure(bao: DevBao, calls: int) -> dict[str, float]:
    """CPU µs per call: hvac read/write, vaultauth read/write (with uvloop, as `serve` runs)."""
    import uvloop

    hvac_read, hvac_write = hvac_figures(bao, calls)
    ours_read, ours_write = uvloop.run(vaultauth_figures(bao, calls))
    return {
        "hvac read": hvac_read,
        "hvac write": hvac_write,
        "vaultauth read": ours_read,
        "vaultauth write": ours_write,
    }


def print_figures(figures: dict[str, float]) -> bool:
    """Print the table and the ratios; True when both meet the target."""
    print("\nVault client CPU per KV call (this process only; OpenBao's work not counted)")
    for name, micros in figures.items():
        print(f"  {name:<16} {micros:7.0f} µs")
    ok = True
    for operation in ("read", "write"):
        ratio = figures[f"vaultauth {operation}"] / figures[f"hvac {operation}"]
        passed = ratio <= 1 / 3
        ok = ok and passed
        verdict = "PASS" if passed else "FAIL"
        label = f"vaultauth ÷ hvac + requests, {operation}"
        print(f"  {label:<36} {ratio:5.2f}   target ≤ 0.33  {verdict}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    args = parser.parse_args()
    bao = start_dev_bao()
    try:
        print_figures(measure(bao, args.calls))
    finally:
        bao.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
