"""Ids are validated before they reach a Vault path; one function composes the path."""

from __future__ import annotations

import re

import pytest

from vaultauth.errors import InvalidInput
from vaultauth.ids import (
    new_auth_id,
    secret_path,
    tenant_path,
    validate_mount,
    validate_path_segment,
)
from vaultauth.settings import Settings
from vaultauth.store.kv import VaultKV
from vaultauth.store.vault_login import login_method_from

VALID = ["a", "intg_1", "intg-1", "auth_P3kNz7Yv1Qm9", "A-Z_0-9", "x" * 64, "-", "_"]
INVALID = [
    "",
    "..",
    ".",
    "a..b",
    "a/b",
    "/",
    "a%2Fb",
    "%2F",
    "a\\b",
    "a b",
    "intg.1",
    "é",
    "intg_é",
    "\uff49\uff4e\uff54\uff47",  # fullwidth "intg"
    "\u0661",  # ARABIC-INDIC DIGIT ONE: a Unicode digit, not an ASCII one
    "a\x00",
    "a\n",
    "x" * 65,
    "a?b",
    "a#b",
    "a:b",
]


@pytest.mark.parametrize("value", VALID)
def test_valid_ids(value: str) -> None:
    assert validate_path_segment(value, "integrationId") == value


@pytest.mark.parametrize("value", INVALID)
def test_invalid_ids(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_path_segment(value, "authId")
    assert caught.value.code == "invalid_id"
    assert caught.value.field == "authId"
    if value:
        assert value not in caught.value.message


def test_a_trailing_newline_is_not_accepted() -> None:
    # `$` in a regex also matches before a final newline; fullmatch must be used.
    with pytest.raises(InvalidInput):
        validate_path_segment("intg_1\n", "integrationId")


def test_secret_path_layout() -> None:
    assert (
        secret_path("vaultauth", "acme", "intg_1", "auth_abc")
        == "vaultauth/acme/integrations/intg_1/auth/auth_abc"
    )
    assert secret_path("a/b", "t", "i", "x") == "a/b/t/integrations/i/auth/x"
    assert tenant_path("vaultauth", "acme") == "vaultauth/acme"


@pytest.mark.parametrize(
    ("tenant", "integration_id", "auth_id", "field"),
    [
        ("..", "intg", "auth", "tenant"),
        ("acme", "../other", "auth", "integrationId"),
        ("acme", "intg", "a/b", "authId"),
        ("acme", "intg", "..", "authId"),
        ("acme", "intg", "", "authId"),
    ],
)
def test_secret_path_refuses_every_bad_segment(
    tenant: str, integration_id: str, auth_id: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        secret_path("vaultauth", tenant, integration_id, auth_id)
    assert caught.value.field == field


def test_tenant_path_refuses_bad_tenant() -> None:
    with pytest.raises(InvalidInput):
        tenant_path("vaultauth", "../x")


def test_new_auth_ids_are_auth_and_12_base62() -> None:
    ids = {new_auth_id() for _ in range(200)}
    assert len(ids) == 200
    for value in ids:
        assert re.fullmatch(r"auth_[A-Za-z0-9]{12}", value)
        assert validate_path_segment(value, "authId") == value


@pytest.mark.parametrize("prefix", ["vaultauth", "team/vaultauth", "a-b/c_d"])
def test_prefix_segments_are_ids(prefix: str) -> None:
    assert Settings(vault_prefix=prefix).checked_prefix() == prefix


@pytest.mark.parametrize("prefix", ["", "../x", "a//b", "/a", "a/", "a/../b", "a b"])
def test_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(InvalidInput):
        Settings(vault_prefix=prefix).checked_prefix()


@pytest.mark.parametrize(
    ("mount", "expected"), [("secret", "secret"), ("team/kv", "team/kv"), ("/kv/", "kv")]
)
def test_mount_segments_are_ids(mount: str, expected: str) -> None:
    assert validate_mount(mount, "mount") == expected


@pytest.mark.parametrize("mount", ["", "/", "../sys", "secret/../sys", "a//b", "kv?x=1", "a b"])
def test_a_bad_kv_mount_never_reaches_a_vault_url(mount: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        VaultKV("http://127.0.0.1:1", lambda: "", mount=mount)
    assert caught.value.field == "VAULTAUTH_VAULT_MOUNT"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        (
            {
                "vault_auth_method": "approle",
                "vault_approle_role_id": "r",
                "vault_approle_secret_id": "s",
                "vault_approle_mount": "../sys",
            },
            "VAULTAUTH_VAULT_APPROLE_MOUNT",
        ),
        (
            {
                "vault_auth_method": "kubernetes",
                "vault_kubernetes_role": "r",
                "vault_kubernetes_mount": "kubernetes/../../sys",
            },
            "VAULTAUTH_VAULT_KUBERNETES_MOUNT",
        ),
    ],
)
def test_a_bad_login_mount_is_refused(values: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        login_method_from(Settings(**values))
    assert caught.value.field == field
