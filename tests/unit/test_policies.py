"""Rendering the policy templates; the shipped copies equal the repository's policies/."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vaultauth.cli import app
from vaultauth.errors import InvalidInput
from vaultauth.policies import (
    TEMPLATES,
    render_consumer,
    render_facade,
    render_reconcile,
    template,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_package_ships_the_repositorys_policies(name: str) -> None:
    assert template(name) == (REPO / "policies" / name).read_text()


def test_policies_holds_nothing_else() -> None:
    assert sorted(p.name for p in (REPO / "policies").iterdir()) == sorted(TEMPLATES)


def _paths(hcl: str) -> list[str]:
    return [line for line in hcl.splitlines() if line.startswith(("path ", "  capabilities"))]


def test_the_facade_policy() -> None:
    hcl = render_facade(mount="kv", prefix="team/vaultauth")
    assert _paths(hcl) == [
        'path "kv/data/team/vaultauth/*" {',
        '  capabilities = ["create", "read", "update"]',
        'path "kv/metadata/team/vaultauth/*" {',
        '  capabilities = ["create", "read", "update", "delete"]',
    ]
    assert "<" not in hcl.replace("<tenant>", "").replace("<integrationId>", "").replace(
        "<authId>", ""
    )
    assert "#!" not in hcl


def test_the_reconcile_policy_lists_and_the_facade_policy_does_not() -> None:
    hcl = render_reconcile(mount="kv", prefix="vaultauth")
    assert _paths(hcl) == [
        'path "kv/data/vaultauth/*" {',
        '  capabilities = ["read"]',
        'path "kv/metadata/vaultauth/*" {',
        '  capabilities = ["read", "list", "delete"]',
    ]
    assert '"list"' not in render_facade()


def test_the_consumer_policy_repeats_its_block_per_integration() -> None:
    hcl = render_consumer(tenant="acme", integrations=["intg_a", "intg-b", "intg_a"])
    assert _paths(hcl) == [
        'path "secret/data/vaultauth/acme/integrations/intg_a/auth/+" {',
        '  capabilities = ["read"]',
        'path "secret/data/vaultauth/acme/integrations/intg-b/auth/+" {',
        '  capabilities = ["read"]',
    ]
    assert "<" not in hcl
    assert "#!" not in hcl
    assert "tenant acme's integrations intg_a, intg-b" in hcl


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tenant": "*", "integrations": ["a"]},
        {"tenant": "acme", "integrations": ["+"]},
        {"tenant": "acme", "integrations": ["a/b"]},
        {"tenant": "acme", "integrations": [".."]},
        {"tenant": "acme", "integrations": []},
        {"tenant": "acme", "integrations": ["a"], "mount": "se*"},
        {"tenant": "acme", "integrations": ["a"], "prefix": "a/../b"},
    ],
)
def test_nothing_can_widen_a_consumer_grant(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        render_consumer(**kwargs)  # type: ignore[arg-type]


def test_the_cli_renders_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULTAUTH_VAULT_PREFIX", "from-env")
    runner = CliRunner()
    consumer = runner.invoke(
        app,
        ["policies", "render", "--tenant", "acme", "--integration", "a", "--integration", "b"],
    )
    assert consumer.exit_code == 0, consumer.output
    assert consumer.output == render_consumer(
        tenant="acme", integrations=["a", "b"], prefix="from-env"
    )
    facade = runner.invoke(app, ["policies", "facade", "--mount", "kv"])
    assert facade.exit_code == 0
    assert facade.output == render_facade(mount="kv", prefix="from-env")
    refused = runner.invoke(app, ["policies", "render", "--tenant", "a*", "--integration", "b"])
    assert refused.exit_code == 2
