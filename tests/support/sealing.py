"""Sealing and unsealing a test's own persistent OpenBao (vaultauth.embedded) over HTTP."""

from __future__ import annotations

import json

import httpx

from tests.support.processes import wait_until
from vaultauth.embedded import EmbeddedOpenBao


def seal(bao: EmbeddedOpenBao) -> None:
    response = httpx.put(
        f"{bao.addr}/v1/sys/seal", headers={"X-Vault-Token": bao.root_token}, timeout=10
    )
    assert response.status_code == 204, response.text


def unseal(bao: EmbeddedOpenBao) -> None:
    """Unseal with the key the data dir keeps, and wait until the node is active again."""
    key = json.loads(bao.init_path.read_text())["keys"][0]
    response = httpx.put(f"{bao.addr}/v1/sys/unseal", json={"key": key}, timeout=10)
    assert response.status_code == 200
    assert response.json()["sealed"] is False
    wait_until(
        lambda: httpx.get(f"{bao.addr}/v1/sys/health", timeout=2).status_code == 200,
        30,
        "OpenBao to become active after unsealing",
    )
