"""`vaultauth index upgrade` and `vaultauth reconcile` on the real index and OpenBao."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hvac
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from tests.support.facade import settings_env
from vaultauth.cli import EXIT_INVALID, EXIT_SOMETHING_DUE, EXIT_UNAVAILABLE, app
from vaultauth.errors import IndexUnavailable
from vaultauth.ids import secret_path
from vaultauth.index.migrate import head_revision, upgrade
from vaultauth.settings import Settings


@pytest.fixture
def cli(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name, value in settings_env(settings, tmp_path).items():
        if name.startswith("VAULTAUTH_"):
            monkeypatch.setenv(name, value)
    return CliRunner()


def test_index_upgrade_creates_the_schema_and_is_repeatable(
    cli: CliRunner, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULTAUTH_INDEX_AUTO_MIGRATE", "false")
    for _ in range(2):
        result = cli.invoke(app, ["index", "upgrade"])
        assert result.exit_code == 0, result.output
        assert f"index schema at revision {head_revision()}" in result.output
    engine = create_engine(settings.resolved_index_url())
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"auth_records", "api_keys", "alembic_version"} <= tables


def test_index_upgrade_on_an_unreachable_index_exits_5(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULTAUTH_INDEX_URL", "postgresql+psycopg://postgres@127.0.0.1:1/test")
    result = cli.invoke(app, ["index", "upgrade"])
    assert result.exit_code == EXIT_UNAVAILABLE
    assert "the metadata index is unavailable" in result.output


def test_an_unreachable_index_at_upgrade_does_not_carry_the_driver_error() -> None:
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/test")
    try:
        with pytest.raises(IndexUnavailable) as caught:
            upgrade(engine)
    finally:
        engine.dispose()
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_reconcile_reports_repairs_and_respects_min_age(
    cli: CliRunner,
    settings: Settings,
    vault_client: hvac.Client,
    make_key: Callable[..., str],
) -> None:
    make_key()  # creates the index schema
    clean = cli.invoke(app, ["reconcile"])
    assert clean.exit_code == 0, clean.output
    assert "consistent: index and Vault agree" in clean.output

    orphan = secret_path(settings.vault_prefix, "acme", "intg_1", "auth_orphan")
    vault_client.secrets.kv.v2.create_or_update_secret(
        path=orphan, secret={"authType": "NO_AUTH"}, mount_point="secret"
    )
    young = cli.invoke(app, ["reconcile", "--repair"])  # default --min-age 300
    assert young.exit_code == 0, young.output
    assert "left alone" in young.output

    found = cli.invoke(app, ["reconcile", "--min-age", "0"])
    assert found.exit_code == 1, found.output
    assert "found" in found.output
    assert "acme/intg_1/auth_orphan" in found.output
    assert "run again with --repair" in found.output

    other_tenant = cli.invoke(app, ["reconcile", "--min-age", "0", "--tenant", "other"])
    assert other_tenant.exit_code == 0, other_tenant.output

    repaired = cli.invoke(app, ["reconcile", "--repair", "--min-age", "0", "--tenant", "acme"])
    assert repaired.exit_code == 0, repaired.output
    assert "1 repaired" in repaired.output
    assert cli.invoke(app, ["reconcile", "--min-age", "0"]).exit_code == 0


def test_reconcile_exit_codes_for_bad_input_and_unreachable_vault(
    cli: CliRunner, make_key: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_key()
    bad = cli.invoke(app, ["reconcile", "--tenant", "../etc"])
    assert bad.exit_code == EXIT_INVALID
    monkeypatch.setenv("VAULTAUTH_VAULT_ADDR", "http://127.0.0.1:1")
    down = cli.invoke(app, ["reconcile"])
    assert down.exit_code == EXIT_UNAVAILABLE, down.output


def test_due_lists_records_to_rotate_or_expiring_and_exits_3_for_cron(
    cli: CliRunner, app_client: TestClient, make_key: Callable[..., str]
) -> None:
    assert cli.invoke(app, ["due"]).exit_code == 0  # nothing due: exit 0, no output
    soon = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    for tenant, fields in (
        ("acme", {"rotateAfter": soon, "label": "rotate me"}),
        ("beta", {"expiresAt": soon}),
        ("acme", {"expiresAt": later}),
    ):
        answer = app_client.post(
            "/v1/integrations/intg_due/auth",
            json={"authType": "NO_AUTH", **fields},
            headers={"X-API-Key": make_key(tenant)},
        )
        assert answer.status_code == 200, answer.text
    due = cli.invoke(app, ["due"])
    assert due.exit_code == EXIT_SOMETHING_DUE == 3
    lines = due.output.strip().splitlines()
    assert len(lines) == 2
    assert "rotate" in lines[0] or "rotate" in lines[1]
    assert any("rotate me" in line for line in lines)
    as_json = cli.invoke(app, ["due", "--tenant", "beta", "--json"])
    assert as_json.exit_code == 3
    [entry] = [json.loads(line) for line in as_json.output.strip().splitlines()]
    assert (entry["tenant"], entry["reason"]) == ("beta", "expiry")
    assert cli.invoke(app, ["due", "--within", "60d"]).output.count("\n") == 3
    assert cli.invoke(app, ["due", "--within", "soon"]).exit_code == EXIT_INVALID
