"""Helpers for tests that start server processes: free ports, waiting, stopping by PID."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable

import httpx

# Below Linux's ephemeral range (32768-60999): a port picked there could be taken by an
# outgoing connection of the test run itself before the server it was picked for binds it.
_PORTS = range(20000, 32000)


def free_port(span: int = 2) -> int:
    """A loopback port whose next `span - 1` ports are free too (OpenBao binds port+1)."""
    for _ in range(200):
        port = random.randrange(_PORTS.start, _PORTS.stop - span)
        if all(_is_free(port + offset) for offset in range(span)):
            return port
    raise RuntimeError("no free loopback port range found")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM the process group we started (by PID), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)


def seen_within(check: Callable[[], bool], bound: float, what: str) -> float:
    """Seconds until `check()` holds; fails the test when that takes longer than `bound` plus
    half a second of scheduling slack (a busy CI machine)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > bound + 0.5:
            raise AssertionError(f"{what} was not seen within {bound} s")
        time.sleep(0.02)
    return time.monotonic() - started
