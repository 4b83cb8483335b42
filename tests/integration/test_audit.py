"""The audit trail: one vaultauth.audit line per API call, joined to Vault's audit log by the
request id the facade sends as X-Vaultauth-Request-Id (a real OpenBao file audit device)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.bao import DevBao, start_dev_bao
from tests.support.processes import wait_until
from vaultauth.api import create_app
from vaultauth.settings import Settings

BASE = "/v1/integrations/intg_audit/auth"
CANARY = "cnry-AUDIT-4Lp"


@pytest.fixture(scope="module")
def audited_vault() -> Iterator[DevBao]:
    server = start_dev_bao(audit_log=True)
    try:
        # Record the facade's request id header in every audit entry (not HMACed: it is an id).
        answer = httpx.post(
            f"{server.addr}/v1/sys/config/auditing/request-headers/X-Vaultauth-Request-Id",
            json={"hmac": False},
            headers={"X-Vault-Token": server.token},
        )
        assert answer.status_code == 204, answer.text
        yield server
    finally:
        server.stop()


@pytest.fixture
def audit_records(caplog: pytest.LogCaptureFixture) -> Callable[[], list[logging.LogRecord]]:
    caplog.set_level(logging.INFO, logger="vaultauth.audit")
    return lambda: [r for r in caplog.records if r.name == "vaultauth.audit"]


def test_every_api_call_writes_one_audit_line_with_who_what_and_how(
    api: TestClient, audit_records: Callable[[], list[logging.LogRecord]]
) -> None:
    key_id = str(api.headers["X-API-Key"]).split("_")[1]
    created = api.post(BASE, json={"authType": "BEARER_TOKEN", "token": CANARY})
    auth_id = created.json()["authId"]
    api.get(f"{BASE}/{auth_id}")
    api.post(f"{BASE}/{auth_id}/resolve")
    api.get(f"{BASE}/{auth_id}")  # answered from memory (the fast path): audited the same
    api.get(f"{BASE}/auth_missing00000")
    api.get(BASE, headers={"X-API-Key": "vak_NoSuchKey000_" + "x" * 43})
    api.get("/healthz")  # not an API call: no audit line
    lines = [getattr(r, "fields", {}) for r in audit_records()]
    assert [(line["operation"], line["status"], line["error"]) for line in lines] == [
        ("create", 200, None),
        ("get", 200, None),
        ("resolve", 200, None),
        ("get", 200, None),
        ("get", 404, "not_found"),
        ("list", 401, "unauthenticated"),
    ]
    assert all(line["key_id"] == key_id and line["tenant"] == "acme" for line in lines[:5])
    assert lines[5]["key_id"] == "NoSuchKey000"
    assert lines[5]["tenant"] is None
    assert [line["authId"] for line in lines[:4]] == [auth_id] * 4
    assert all(line["integrationId"] == "intg_audit" for line in lines)
    assert CANARY not in repr(lines)


def test_a_resolve_in_the_facades_audit_joins_the_vault_read_it_caused(
    audited_vault: DevBao,
    settings: Settings,
    make_key: Callable[..., str],
    audit_records: Callable[[], list[logging.LogRecord]],
) -> None:
    configured = settings.model_copy(
        update={"vault_addr": audited_vault.addr, "resolve_cache_ttl": 0}
    )
    with TestClient(create_app(configured)) as client:
        client.headers["X-API-Key"] = make_key()
        created = client.post(BASE, json={"authType": "BEARER_TOKEN", "token": CANARY})
        auth_id = created.json()["authId"]
        resolved = client.post(f"{BASE}/{auth_id}/resolve", headers={"X-Request-ID": "join-7Zq"})
        assert resolved.status_code == 200
    lines = [getattr(r, "fields", {}) for r in audit_records()]
    assert next(x for x in lines if x["operation"] == "resolve")["request_id"] == "join-7Zq"

    vault_log = audited_vault.workdir / "audit.log" if audited_vault.workdir else None
    assert vault_log is not None

    def vault_saw_it() -> bool:
        return "join-7Zq" in vault_log.read_text()

    wait_until(vault_saw_it, 10, "the Vault audit entry")
    entries = [json.loads(text) for text in vault_log.read_text().splitlines() if text.strip()]
    joined = [
        e
        for e in entries
        if e.get("type") == "response"
        and (e["request"].get("headers") or {}).get("x-vaultauth-request-id") == ["join-7Zq"]
    ]
    assert joined, "no Vault audit entry carries the facade's request id"
    assert all(e["request"]["operation"] == "read" for e in joined)
    assert all(e["request"]["path"].endswith(f"/intg_audit/auth/{auth_id}") for e in joined)
