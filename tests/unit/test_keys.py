"""API keys: format, hashing, constant-time verification, revocation, scopes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

import vaultauth.keys as keys_module
from vaultauth.errors import InvalidInput, NotAuthenticated, NotPermitted
from vaultauth.keys import (
    KEY_PREFIX,
    ApiKeyRecord,
    Principal,
    Scope,
    generate_key,
    hash_secret,
    split_key,
    verify,
)

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def _stored(secret_hash: str, key_id: str, *, revoked: bool = False) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=key_id,
        tenant="acme",
        scopes=frozenset({Scope.AUTH_READ}),
        secret_hash=secret_hash,
        created_at=NOW,
        revoked_at=NOW if revoked else None,
    )


@pytest.fixture
def issued() -> tuple[str, ApiKeyRecord]:
    key_id, plaintext, secret_hash = generate_key()
    return plaintext, _stored(secret_hash, key_id)


def test_generated_key_format_and_hash() -> None:
    key_id, plaintext, secret_hash = generate_key()
    assert plaintext.startswith(f"{KEY_PREFIX}{key_id}_")
    parts = split_key(plaintext)
    assert parts is not None
    assert parts[0] == key_id
    secret = parts[1]
    assert len(secret) >= 43  # 256 random bits, urlsafe base64
    assert secret_hash == hashlib.sha256(secret.encode()).hexdigest() == hash_secret(secret)
    assert secret not in secret_hash


def test_keys_are_unique() -> None:
    assert len({generate_key()[1] for _ in range(100)}) == 100


@pytest.mark.parametrize(
    "plaintext",
    [
        "",
        "vak_",
        "vak_short_secret",
        "vak_ABCDEFGHIJKL",
        "vak_ABCDEFGHIJKL_",
        "xyz_ABCDEFGHIJKL_secret",
        "ABCDEFGHIJKL_secret",
        "vak_ABCDEFGHIJKLM_secret",
    ],
)
def test_malformed_keys_do_not_split(plaintext: str) -> None:
    assert split_key(plaintext) is None


def test_a_secret_may_contain_underscores() -> None:
    assert split_key("vak_ABCDEFGHIJKL_a_b_c") == ("ABCDEFGHIJKL", "a_b_c")


def test_valid_key_gives_the_principal(issued: tuple[str, ApiKeyRecord]) -> None:
    plaintext, stored = issued
    assert verify(plaintext, stored) == Principal(
        key_id=stored.key_id, tenant="acme", scopes=frozenset({Scope.AUTH_READ})
    )


def test_revoked_key_is_refused(issued: tuple[str, ApiKeyRecord]) -> None:
    plaintext, stored = issued
    revoked = _stored(stored.secret_hash, stored.key_id, revoked=True)
    with pytest.raises(NotAuthenticated):
        verify(plaintext, revoked)


def test_wrong_secret_is_refused(issued: tuple[str, ApiKeyRecord]) -> None:
    plaintext, stored = issued
    with pytest.raises(NotAuthenticated):
        verify(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"), stored)


def test_a_stored_hash_is_not_accepted_as_the_secret(issued: tuple[str, ApiKeyRecord]) -> None:
    _, stored = issued
    with pytest.raises(NotAuthenticated):
        verify(f"vak_{stored.key_id}_{stored.secret_hash}", stored)


@pytest.mark.parametrize("plaintext", [None, "", "garbage", "vak_ABCDEFGHIJKL_"])
def test_missing_or_malformed_key_is_refused(plaintext: str | None) -> None:
    with pytest.raises(NotAuthenticated):
        verify(plaintext, None)


def test_every_refusal_has_the_same_message(issued: tuple[str, ApiKeyRecord]) -> None:
    plaintext, stored = issued
    messages = set()
    for attempt, record in [
        (None, None),
        ("garbage", None),
        (plaintext, None),
        (plaintext + "x", stored),
        (plaintext, _stored(stored.secret_hash, stored.key_id, revoked=True)),
    ]:
        with pytest.raises(NotAuthenticated) as caught:
            verify(attempt, record)
        messages.add(caught.value.message)
        if attempt:
            assert attempt not in caught.value.message
    assert len(messages) == 1


def test_verification_always_takes_the_constant_time_path(
    issued: tuple[str, ApiKeyRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every outcome runs exactly one hmac.compare_digest over a full SHA-256 hex digest.

    Unknown and malformed keys are compared against a dummy hash instead of returning early, so
    the time taken does not tell an attacker whether a key id exists.
    """
    plaintext, stored = issued
    calls: list[tuple[str, str]] = []
    real = keys_module.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys_module.hmac, "compare_digest", spy)
    revoked = _stored(stored.secret_hash, stored.key_id, revoked=True)
    cases: list[tuple[str | None, ApiKeyRecord | None, bool]] = [
        (plaintext, stored, True),
        (plaintext, None, False),
        (None, None, False),
        ("garbage", None, False),
        ("garbage", stored, False),
        (plaintext + "x", stored, False),
        (plaintext, revoked, False),
    ]
    for attempt, record, ok in cases:
        calls.clear()
        if ok:
            verify(attempt, record)
        else:
            with pytest.raises(NotAuthenticated):
                verify(attempt, record)
        assert len(calls) == 1, (attempt, record)
        assert all(len(side) == 64 for side in calls[0])


def test_principal_requires_its_scopes() -> None:
    principal = Principal(key_id="k", tenant="acme", scopes=frozenset({Scope.AUTH_READ}))
    principal.require(Scope.AUTH_READ)
    with pytest.raises(NotPermitted, match="auth:write"):
        principal.require(Scope.AUTH_WRITE)
    with pytest.raises(NotPermitted, match="credentials:read"):
        principal.require(Scope.CREDENTIALS_READ)


def test_scope_parse() -> None:
    assert Scope.parse("auth:read") is Scope.AUTH_READ
    assert Scope.parse("credentials:read") is Scope.CREDENTIALS_READ
    with pytest.raises(InvalidInput) as caught:
        Scope.parse("admin")
    assert caught.value.code == "invalid_scope"


def test_a_key_id_outside_base62_is_not_a_key() -> None:
    assert split_key("vak_nul\x00in-key-i_secret") is None
    assert split_key("vak_abcdefghijk\u00e9_secret") is None
    assert split_key("vak_abcdefghijkl_secret") == ("abcdefghijkl", "secret")
