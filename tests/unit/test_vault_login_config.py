"""Which Vault login the settings describe, and the errors for ones that do not add up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from vaultauth.errors import InvalidInput
from vaultauth.settings import Settings
from vaultauth.store.vault_login import (
    AppRoleLogin,
    KubernetesLogin,
    TokenLogin,
    login_method_from,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("VAULTAUTH_VAULT_"):
            monkeypatch.delenv(name)


def settings(**values: Any) -> Settings:
    return Settings(**values)


def test_a_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULTAUTH_VAULT_TOKEN", "cnry-token-1")
    method = login_method_from(Settings())
    assert isinstance(method, TokenLogin)
    assert not method.can_login_again
    assert "cnry-token-1" not in repr(method)


def test_a_token_file_can_be_read_again(tmp_path: Path) -> None:
    method = login_method_from(settings(vault_token_file=tmp_path / "token"))
    assert isinstance(method, TokenLogin)
    assert method.can_login_again


def test_approle_from_the_environment_and_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VAULTAUTH_VAULT_APPROLE_ROLE_ID", "role-1")
    monkeypatch.setenv("VAULTAUTH_VAULT_APPROLE_SECRET_ID_FILE", str(tmp_path / "secret-id"))
    monkeypatch.setenv("VAULTAUTH_VAULT_APPROLE_MOUNT", "approle-facade")
    method = login_method_from(Settings())
    assert isinstance(method, AppRoleLogin)
    assert method.role_id == SecretStr("role-1")
    assert method.secret_id_file == tmp_path / "secret-id"
    assert method.mount == "approle-facade"
    assert method.can_login_again


def test_kubernetes_with_the_default_jwt_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULTAUTH_VAULT_KUBERNETES_ROLE", "vaultauth")
    method = login_method_from(Settings())
    assert method == KubernetesLogin(
        role="vaultauth",
        jwt_file=Path("/var/run/secrets/kubernetes.io/serviceaccount/token"),
        mount="kubernetes",
    )


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({}, None),
        ({"vault_token": "t", "vault_token_file": Path("f")}, "VAULTAUTH_VAULT_TOKEN"),
        ({"vault_auth_method": "token"}, "VAULTAUTH_VAULT_TOKEN"),
        ({"vault_auth_method": "approle"}, "VAULTAUTH_VAULT_APPROLE_ROLE_ID"),
        ({"vault_approle_role_id": "r"}, "VAULTAUTH_VAULT_APPROLE_SECRET_ID"),
        (
            {
                "vault_approle_role_id": "r",
                "vault_approle_secret_id": "s",
                "vault_approle_secret_id_file": Path("f"),
            },
            "VAULTAUTH_VAULT_APPROLE_SECRET_ID",
        ),
        ({"vault_auth_method": "kubernetes"}, "VAULTAUTH_VAULT_KUBERNETES_ROLE"),
        (
            {"vault_token": "t", "vault_kubernetes_role": "r"},
            "VAULTAUTH_VAULT_AUTH_METHOD",
        ),
    ],
)
def test_settings_that_do_not_add_up(values: dict[str, Any], field: str | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        login_method_from(settings(**values))
    assert caught.value.code == "vault_not_configured"
    assert caught.value.field == field


def test_an_explicit_method_wins_over_auto_detection() -> None:
    chosen = settings(
        vault_auth_method="approle",
        vault_token="ignored",
        vault_approle_role_id="r",
        vault_approle_secret_id="cnry-secret-id-4",
    )
    method = login_method_from(chosen)
    assert isinstance(method, AppRoleLogin)
    assert "cnry-secret-id-4" not in repr(method)


@pytest.mark.parametrize("answer", [{"auth": None}, {}, {"auth": {"lease_duration": 5}}, None])
def test_a_login_answer_without_a_token_is_a_failed_login(answer: object) -> None:
    from vaultauth.errors import VaultUnavailable
    from vaultauth.store.vault_login import _lease_of

    with pytest.raises(VaultUnavailable) as caught:
        _lease_of(answer)
    assert caught.value.code == "vault_login_failed"


def test_the_login_line_says_a_token_without_ttl_does_not_expire() -> None:
    from vaultauth.store.vault_login import _ttl_words

    assert _ttl_words(0) == "the token does not expire"
    assert _ttl_words(3600.0) == "token ttl 3600s"
    assert _ttl_words(None) == "token ttl unknown"
