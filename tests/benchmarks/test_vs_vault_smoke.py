"""benchmarks/vs_vault.py --quick runs end to end: every test answers, every figure is printed;
and benchmarks/client_overhead.py runs and prints a row for each client.

It fails (never skips) when wrk is missing and cannot be installed: the script then exits 2.
With VAULTAUTH_TEST_INDEX=postgres the facades run on PostgreSQL, like the rest of the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "vs_vault.py"
TESTS = (
    "vault read",
    "vault write",
    "resolve (cache off)",
    "resolve (cache on)",
    "GET",
    "list",
    "create",
    "PATCH",
)
RATIOS = (
    "resolve (cache off) ÷ vault read",
    "resolve (cache on) ÷ vault read",
    "GET ÷ vault read",
    "create ÷ vault write",
    "GET p50 at 2,000 ÷ at 1,000",
    "list p50 at 2,000 ÷ at 1,000",
)


def quick_command() -> list[str]:
    command = [sys.executable, str(SCRIPT), "--quick"]
    if os.environ.get("VAULTAUTH_TEST_INDEX") == "postgres":
        command += ["--index", "postgres"]
        if os.environ.get("VAULTAUTH_TEST_PG_URL"):
            command += ["--pg-url", os.environ["VAULTAUTH_TEST_PG_URL"]]
    return command


@pytest.mark.slow
def test_quick_run_succeeds_and_prints_every_row() -> None:
    result = subprocess.run(
        quick_command(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"exit {result.returncode}:\n{output[-6000:]}"
    lines = result.stdout.splitlines()
    for name in TESTS:
        rows = [line for line in lines if line.startswith(f"{name} ") and line.split()[-1] == "0"]
        assert rows, f"no table row for {name!r}:\n{result.stdout}"
    for ratio in RATIOS:
        assert any(ratio in line and line.rstrip().endswith(("PASS", "FAIL")) for line in lines), (
            f"no ratio line {ratio!r}:\n{result.stdout}"
        )
    assert "every request succeeded" in result.stdout


@pytest.mark.slow
def test_the_client_overhead_benchmark_runs_and_prints_each_client() -> None:
    script = SCRIPT.with_name("client_overhead.py")
    result = subprocess.run(
        [sys.executable, str(script), "--requests", "300"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for client in ("httpx.Client", "httpx.AsyncClient", "requests (the auth call)"):
        assert any(line.strip().startswith(client) for line in result.stdout.splitlines()), client
