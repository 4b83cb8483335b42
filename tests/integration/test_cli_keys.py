"""`vaultauth keys create|list|revoke` (via `python -m vaultauth`) and the API honouring them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import CACHE_STALENESS_BOUND
from tests.support.processes import seen_within
from vaultauth.cli import app
from vaultauth.keys import split_key
from vaultauth.settings import Settings

Cli = Callable[..., Result]


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {
        "VAULTAUTH_INDEX_URL": settings.resolved_index_url(),
        "VAULTAUTH_DATA_DIR": str(tmp_path / "cli-data"),
    }


@pytest.fixture
def cli(cli_env: dict[str, str]) -> Cli:
    """`vaultauth ARGS` in this process (fast), with the VAULTAUTH_* of `cli_env` only."""
    runner = CliRunner()
    cleared = {k: None for k in os.environ if k.startswith("VAULTAUTH_")}

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args), env={**cleared, **cli_env})

    return run


def test_python_m_vaultauth_prints_the_key_alone(cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTAUTH_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vaultauth",
            "keys",
            "create",
            "--tenant",
            "t",
            "--scope",
            "auth:read",
        ],
        env={**env, **cli_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"vak_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}\n", result.stdout)


def test_create_list_revoke(cli: Cli, app_client: TestClient) -> None:
    created = cli(
        "keys", "create", "--tenant", "acme", "--scope", "auth:read", "--scope", "auth:write"
    )
    assert created.exit_code == 0, created.stderr
    key = created.stdout.strip()
    assert created.stdout == key + "\n", "the key, alone, on stdout"
    parts = split_key(key)
    assert parts is not None
    key_id, secret = parts

    headers = {"X-API-Key": key}
    assert app_client.get("/v1/integrations/intg_cli/auth", headers=headers).status_code == 200
    made = app_client.post(
        "/v1/integrations/intg_cli/auth", json={"authType": "NO_AUTH"}, headers=headers
    )
    assert made.status_code == 200, made.text
    resolve = app_client.post(
        f"/v1/integrations/intg_cli/auth/{made.json()['authId']}/resolve", headers=headers
    )
    assert resolve.status_code == 403  # no credentials:read scope

    listed = cli("keys", "list")
    assert listed.exit_code == 0, listed.stderr
    (line,) = [row for row in listed.stdout.splitlines() if row.startswith(key_id)]
    columns = line.split("\t")
    assert columns[:3] == [key_id, "acme", "auth:read,auth:write"]
    assert columns[4] == "-"
    assert secret not in listed.stdout
    assert cli("keys", "list", "--tenant", "other").stdout == ""

    revoked = cli("keys", "revoke", key_id)
    assert revoked.exit_code == 0, revoked.stderr
    # The running facade has the key cached; the index's change feed reaches it in the bound.
    seen_within(
        lambda: (
            app_client.get("/v1/integrations/intg_cli/auth", headers=headers).status_code == 401
        ),
        CACHE_STALENESS_BOUND,
        "the revocation",
    )
    listed = cli("keys", "list", "--tenant", "acme")
    assert listed.stdout.split("\t")[4].strip() != "-"
    again = cli("keys", "revoke", key_id)
    assert again.exit_code == 3  # NotFound: no such active key


@pytest.mark.parametrize(
    "args",
    [
        ("--tenant", "../other", "--scope", "auth:read"),
        ("--tenant", "acme", "--scope", "admin"),
    ],
)
def test_create_refuses_bad_input(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli("keys", "create", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")


def test_an_invalid_setting_is_one_line_naming_the_variable_and_exit_2(
    cli_env: dict[str, str],
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTAUTH_")}
    result = subprocess.run(
        [sys.executable, "-m", "vaultauth", "keys", "list"],
        env={
            **env,
            **cli_env,
            "VAULTAUTH_CACHE_STALENESS_BOUND": "120",
            "VAULTAUTH_VAULT_TOKEN": "canary-token-7f3a",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "error: invalid configuration: VAULTAUTH_CACHE_STALENESS_BOUND: "
        "Input should be less than or equal to 60"
    ]
    assert "Traceback" not in result.stderr
    assert "canary-token-7f3a" not in result.stderr
