"""The domain rules of models.py: credentials per authType, PATCH semantics, static headers."""

from __future__ import annotations

from typing import Any

import pytest

from vaultauth.document import SecretDocument
from vaultauth.errors import InvalidInput
from vaultauth.models import (
    MAX_API_KEY_VALUE,
    MAX_HEADER_NAME,
    MAX_HEADER_VALUE,
    MAX_HEADERS,
    MAX_PASSWORD,
    MAX_TOKEN,
    MAX_USERNAME,
    ApiKeyCredential,
    ApiKeyPosition,
    AuthType,
    BasicCredential,
    BearerCredential,
    Header,
    NoAuthCredential,
    check_headers,
    credential_header_name,
    parse_credential,
    patch_credential,
    record_fields_from,
)

SECRET = "s3cret-value-for-unit-tests"

EVERY_FIELD: dict[str, Any] = {
    "token": "a-token",
    "username": "a-user",
    "password": "a-password",
    "apiKey": {"key": "X-Api-Key", "value": "an-api-key", "position": "header"},
}


def _invalid(auth_type: AuthType, fields: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_credential(auth_type, fields)
    return caught.value


# -- authType ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("API_KEY", AuthType.API_KEY),
        ("api_key", AuthType.API_KEY),
        ("Bearer_Token", AuthType.BEARER_TOKEN),
        (" basic_auth ", AuthType.BASIC_AUTH),
        ("no_auth", AuthType.NO_AUTH),
    ],
)
def test_auth_type_accepts_any_casing(raw: str, expected: AuthType) -> None:
    assert AuthType.parse(raw) is expected


@pytest.mark.parametrize("raw", ["OAUTH", "", "API-KEY", None, 3, ["API_KEY"]])
def test_auth_type_rejects_unknown(raw: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        AuthType.parse(raw)
    assert caught.value.code == "invalid_auth_type"
    assert caught.value.field == "authType"


# -- parsing per authType ---------------------------------------------------------------------


def test_no_auth_needs_nothing_and_ignores_every_credential_field() -> None:
    assert parse_credential(AuthType.NO_AUTH, {}) == NoAuthCredential()
    assert parse_credential(AuthType.NO_AUTH, EVERY_FIELD) == NoAuthCredential()


def test_bearer_keeps_only_the_token() -> None:
    credential = parse_credential(AuthType.BEARER_TOKEN, EVERY_FIELD)
    assert isinstance(credential, BearerCredential)
    assert credential.token.get_secret_value() == "a-token"
    stored = SecretDocument(AuthType.BEARER_TOKEN, credential, ()).to_vault()
    assert set(stored) == {"format", "authType", "headers", "token"}


def test_basic_keeps_only_username_and_password() -> None:
    credential = parse_credential(AuthType.BASIC_AUTH, EVERY_FIELD)
    assert isinstance(credential, BasicCredential)
    assert credential.username == "a-user"
    assert credential.password.get_secret_value() == "a-password"
    stored = SecretDocument(AuthType.BASIC_AUTH, credential, ()).to_vault()
    assert set(stored) == {"format", "authType", "headers", "username", "password"}


def test_api_key_keeps_only_the_api_key() -> None:
    credential = parse_credential(AuthType.API_KEY, EVERY_FIELD)
    assert isinstance(credential, ApiKeyCredential)
    assert credential.key == "X-Api-Key"
    assert credential.value.get_secret_value() == "an-api-key"
    assert credential.position is ApiKeyPosition.HEADER
    stored = SecretDocument(AuthType.API_KEY, credential, ()).to_vault()
    assert set(stored) == {"format", "authType", "headers", "apiKey"}
    assert stored["apiKey"] == {"key": "X-Api-Key", "value": "an-api-key", "position": "header"}


@pytest.mark.parametrize(("raw", "expected"), [("QUERY", "query"), ("Header", "header")])
def test_api_key_position_any_casing(raw: str, expected: str) -> None:
    credential = parse_credential(
        AuthType.API_KEY, {"apiKey": {"key": "k", "value": "v", "position": raw}}
    )
    assert isinstance(credential, ApiKeyCredential)
    assert credential.position.value == expected


def test_api_key_position_defaults_to_header() -> None:
    credential = parse_credential(AuthType.API_KEY, {"apiKey": {"key": "k", "value": "v"}})
    assert isinstance(credential, ApiKeyCredential)
    assert credential.position is ApiKeyPosition.HEADER


def test_unknown_fields_inside_api_key_are_ignored() -> None:
    credential = parse_credential(
        AuthType.API_KEY, {"apiKey": {"key": "k", "value": "v", "label": "x"}}
    )
    assert isinstance(credential, ApiKeyCredential)
    assert not hasattr(credential, "label")


@pytest.mark.parametrize(
    ("auth_type", "fields", "field"),
    [
        (AuthType.BEARER_TOKEN, {}, "token"),
        (AuthType.BEARER_TOKEN, {"username": "u", "password": "p"}, "token"),
        (AuthType.BASIC_AUTH, {"username": "u"}, "password"),
        (AuthType.BASIC_AUTH, {"password": "p"}, "username"),
        (AuthType.BASIC_AUTH, {"token": "t"}, "username"),
        (AuthType.API_KEY, {"token": "t"}, "apiKey"),
        (AuthType.API_KEY, {"apiKey": {"key": "k"}}, "apiKey.value"),
        (AuthType.API_KEY, {"apiKey": {"value": "v"}}, "apiKey.key"),
    ],
)
def test_missing_credential(auth_type: AuthType, fields: dict[str, Any], field: str) -> None:
    error = _invalid(auth_type, fields)
    assert error.code in ("missing_credential", "missing_field")
    assert error.field == field


def test_missing_token_is_reported_as_missing_credential() -> None:
    error = _invalid(AuthType.BEARER_TOKEN, {"token": None})
    assert error.code == "missing_credential"
    assert "BEARER_TOKEN" in error.message


@pytest.mark.parametrize(
    ("auth_type", "fields", "field"),
    [
        (AuthType.BASIC_AUTH, {"username": "u" * (MAX_USERNAME + 1), "password": "p"}, "username"),
        (AuthType.BASIC_AUTH, {"username": "u", "password": "p" * (MAX_PASSWORD + 1)}, "password"),
        (AuthType.BEARER_TOKEN, {"token": "t" * (MAX_TOKEN + 1)}, "token"),
        (
            AuthType.API_KEY,
            {"apiKey": {"key": "k", "value": "v" * (MAX_API_KEY_VALUE + 1)}},
            "apiKey.value",
        ),
        (
            AuthType.API_KEY,
            {"apiKey": {"key": "k" * (MAX_HEADER_NAME + 1), "value": "v"}},
            "apiKey.key",
        ),
    ],
)
def test_over_long_fields(auth_type: AuthType, fields: dict[str, Any], field: str) -> None:
    error = _invalid(auth_type, fields)
    assert error.code == "field_too_long"
    assert error.field == field


def test_longest_allowed_fields_are_accepted() -> None:
    basic = parse_credential(
        AuthType.BASIC_AUTH, {"username": "u" * MAX_USERNAME, "password": "p" * MAX_PASSWORD}
    )
    assert isinstance(basic, BasicCredential)
    bearer = parse_credential(AuthType.BEARER_TOKEN, {"token": "t" * MAX_TOKEN})
    assert isinstance(bearer, BearerCredential)


@pytest.mark.parametrize(
    "fields",
    [
        {"token": 12345},
        {"token": ["a"]},
        {"token": ""},
    ],
)
def test_bad_token_values(fields: dict[str, Any]) -> None:
    error = _invalid(AuthType.BEARER_TOKEN, fields)
    assert error.field == "token"


def test_errors_never_repeat_the_submitted_value() -> None:
    for auth_type, fields in [
        (AuthType.BASIC_AUTH, {"username": "u", "password": SECRET * 40}),
        (AuthType.BEARER_TOKEN, {"token": SECRET * 1000}),
        (AuthType.API_KEY, {"apiKey": {"key": SECRET + " bad", "value": SECRET}}),
        (AuthType.API_KEY, {"apiKey": {"key": "k", "value": SECRET, "position": SECRET}}),
    ]:
        error = _invalid(auth_type, fields)
        assert SECRET not in error.message
        assert SECRET not in str(error)


def test_secret_fields_are_hidden_in_repr() -> None:
    credential = parse_credential(AuthType.BASIC_AUTH, {"username": "u", "password": SECRET})
    assert SECRET not in repr(credential)
    assert SECRET not in str(credential)


# -- PATCH semantics --------------------------------------------------------------------------


def _api_key(position: str = "query") -> ApiKeyCredential:
    credential = parse_credential(
        AuthType.API_KEY, {"apiKey": {"key": "X-Old", "value": SECRET, "position": position}}
    )
    assert isinstance(credential, ApiKeyCredential)
    return credential


def test_patch_without_credential_fields_keeps_the_credential() -> None:
    current = parse_credential(AuthType.BEARER_TOKEN, {"token": SECRET})
    assert patch_credential(AuthType.BEARER_TOKEN, current, {}) is current
    assert patch_credential(AuthType.BEARER_TOKEN, current, {"token": None}) is current


def test_patch_token_replaces_it() -> None:
    current = parse_credential(AuthType.BEARER_TOKEN, {"token": SECRET})
    patched = patch_credential(AuthType.BEARER_TOKEN, current, {"token": "new"})
    assert isinstance(patched, BearerCredential)
    assert patched.token.get_secret_value() == "new"


def test_patch_fields_of_other_types_are_ignored() -> None:
    current = parse_credential(AuthType.BEARER_TOKEN, {"token": SECRET})
    patched = patch_credential(
        AuthType.BEARER_TOKEN,
        current,
        {"username": "u", "password": "p", "apiKey": {"key": "k", "value": "v"}},
    )
    assert patched == current


def test_patch_basic_username_only_keeps_the_password() -> None:
    current = parse_credential(AuthType.BASIC_AUTH, {"username": "old", "password": SECRET})
    patched = patch_credential(AuthType.BASIC_AUTH, current, {"username": "new"})
    assert isinstance(patched, BasicCredential)
    assert patched.username == "new"
    assert patched.password.get_secret_value() == SECRET


def test_patch_basic_password_only_keeps_the_username() -> None:
    current = parse_credential(AuthType.BASIC_AUTH, {"username": "old", "password": SECRET})
    patched = patch_credential(AuthType.BASIC_AUTH, current, {"password": "new"})
    assert isinstance(patched, BasicCredential)
    assert patched.username == "old"
    assert patched.password.get_secret_value() == "new"


def test_patch_basic_over_long_password_is_rejected() -> None:
    current = parse_credential(AuthType.BASIC_AUTH, {"username": "u", "password": "p"})
    with pytest.raises(InvalidInput) as caught:
        patch_credential(AuthType.BASIC_AUTH, current, {"password": "p" * (MAX_PASSWORD + 1)})
    assert caught.value.code == "field_too_long"
    assert caught.value.field == "password"


def test_patch_api_key_without_value_keeps_the_stored_secret() -> None:
    patched = patch_credential(
        AuthType.API_KEY, _api_key(), {"apiKey": {"key": "X-New", "position": "header"}}
    )
    assert isinstance(patched, ApiKeyCredential)
    assert patched.key == "X-New"
    assert patched.position is ApiKeyPosition.HEADER
    assert patched.value.get_secret_value() == SECRET


def test_patch_api_key_with_value_replaces_the_secret() -> None:
    patched = patch_credential(
        AuthType.API_KEY,
        _api_key(),
        {"apiKey": {"key": "X-Old", "value": "new", "position": "query"}},
    )
    assert isinstance(patched, ApiKeyCredential)
    assert patched.value.get_secret_value() == "new"
    assert patched.position is ApiKeyPosition.QUERY


def test_patch_api_key_needs_its_key_name() -> None:
    with pytest.raises(InvalidInput) as caught:
        patch_credential(AuthType.API_KEY, _api_key(), {"apiKey": {"value": "new"}})
    assert caught.value.field == "apiKey.key"


def test_record_fields_hold_no_secret() -> None:
    fields = record_fields_from(_api_key())
    assert fields == {
        "api_key_name": "X-Old",
        "api_key_position": ApiKeyPosition.QUERY,
        "oauth2": None,
    }
    assert record_fields_from(NoAuthCredential()) == {
        "api_key_name": None,
        "api_key_position": None,
        "oauth2": None,
    }


# -- static headers ---------------------------------------------------------------------------


def _headers(*pairs: tuple[str, str]) -> tuple[Header, ...]:
    return tuple(Header(key=k, value=v) for k, v in pairs)


def _clash(credential: Any, headers: tuple[Header, ...]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        check_headers(credential, headers)
    return caught.value


@pytest.mark.parametrize(
    "name", ["Authorization", "authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"]
)
@pytest.mark.parametrize(
    ("auth_type", "fields"),
    [
        (AuthType.BEARER_TOKEN, {"token": "t"}),
        (AuthType.BASIC_AUTH, {"username": "u", "password": "p"}),
    ],
)
def test_static_authorization_clashes_with_bearer_and_basic(
    name: str, auth_type: AuthType, fields: dict[str, Any]
) -> None:
    error = _clash(parse_credential(auth_type, fields), _headers((name, "x")))
    assert error.code == "header_conflict"
    assert error.field == "headers"


@pytest.mark.parametrize("name", ["X-Api-Key", "x-api-key", "X-API-KEY"])
def test_static_header_clashes_with_api_key_header(name: str) -> None:
    credential = parse_credential(
        AuthType.API_KEY, {"apiKey": {"key": "X-Api-Key", "value": "v", "position": "header"}}
    )
    assert _clash(credential, _headers((name, "x"))).code == "header_conflict"


def test_api_key_in_query_does_not_clash_with_a_header_of_that_name() -> None:
    credential = parse_credential(
        AuthType.API_KEY, {"apiKey": {"key": "api_key", "value": "v", "position": "query"}}
    )
    assert credential_header_name(credential) is None
    check_headers(credential, _headers(("api_key", "x"), ("Authorization", "y")))


def test_api_key_in_header_allows_authorization() -> None:
    credential = parse_credential(AuthType.API_KEY, {"apiKey": {"key": "X-K", "value": "v"}})
    check_headers(credential, _headers(("Authorization", "y")))


def test_no_auth_allows_authorization() -> None:
    check_headers(NoAuthCredential(), _headers(("Authorization", "Bearer static")))


def test_duplicate_static_headers_are_rejected_case_insensitively() -> None:
    error = _clash(NoAuthCredential(), _headers(("Accept", "a"), ("ACCEPT", "b")))
    assert error.code == "duplicate_header"


def test_at_most_max_headers() -> None:
    allowed = tuple(Header(key=f"X-H{i}", value="v") for i in range(MAX_HEADERS))
    check_headers(NoAuthCredential(), allowed)
    error = _clash(NoAuthCredential(), (*allowed, Header(key="X-One-Too-Many", value="v")))
    assert error.code == "too_many_headers"


@pytest.mark.parametrize(
    "name",
    ["Accept", "X-Custom_Header.v2", "!#$%&'*+-.^_`|~", "a" * MAX_HEADER_NAME, "0"],
)
def test_valid_header_names(name: str) -> None:
    assert Header(key=name, value="v").key == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "With Space",
        "Colon:",
        'Quote"',
        "Slash/",
        "Paren(",
        "Tab\t",
        "New\nLine",
        "Ünicode",
        "a" * (MAX_HEADER_NAME + 1),
    ],
)
def test_invalid_header_names(name: str) -> None:
    with pytest.raises(ValueError, match="key"):
        Header(key=name, value="v")


@pytest.mark.parametrize(
    "value", ["", "plain", "with space and: colon", "a\tb", "x" * MAX_HEADER_VALUE]
)
def test_valid_header_values(value: str) -> None:
    assert Header(key="X", value=value).value == value


@pytest.mark.parametrize(
    "value", ["a\rb", "a\nb", "a\r\nInjected: yes", "nul\x00", "x" * (MAX_HEADER_VALUE + 1)]
)
def test_invalid_header_values(value: str) -> None:
    with pytest.raises(ValueError, match="value"):
        Header(key="X", value=value)


# -- secrets that become header values --------------------------------------------------------


@pytest.mark.parametrize(
    "bad", [f"{SECRET}\r\nX-Injected: 1", f"{SECRET}\n", f"\r{SECRET}", "a\x00"]
)
def test_token_and_api_key_value_may_not_break_the_header(bad: str) -> None:
    cases: list[tuple[AuthType, dict[str, Any], str]] = [
        (AuthType.BEARER_TOKEN, {"token": bad}, "token"),
        (AuthType.API_KEY, {"apiKey": {"key": "X-K", "value": bad}}, "apiKey.value"),
        (
            AuthType.API_KEY,
            {"apiKey": {"key": "k", "value": bad, "position": "query"}},
            "apiKey.value",
        ),
    ]
    for auth_type, fields, field in cases:
        error = _invalid(auth_type, fields)
        assert error.field == field
        assert error.code == "invalid_field"
        assert SECRET not in error.message
    bearer = parse_credential(AuthType.BEARER_TOKEN, {"token": "t"})
    with pytest.raises(InvalidInput) as caught:
        patch_credential(AuthType.BEARER_TOKEN, bearer, {"token": bad})
    assert caught.value.field == "token"
    with pytest.raises(InvalidInput) as caught:
        patch_credential(AuthType.API_KEY, _api_key(), {"apiKey": {"key": "k", "value": bad}})
    assert caught.value.field == "apiKey.value"


def test_basic_credentials_are_base64_encoded_so_any_character_is_kept() -> None:
    credential = parse_credential(
        AuthType.BASIC_AUTH, {"username": "u", "password": "line1\r\nline2\ttab"}
    )
    assert isinstance(credential, BasicCredential)
    assert credential.password.get_secret_value() == "line1\r\nline2\ttab"


def test_api_key_patch_without_position_keeps_the_stored_position() -> None:
    patched = patch_credential(AuthType.API_KEY, _api_key("query"), {"apiKey": {"key": "X-New"}})
    assert isinstance(patched, ApiKeyCredential)
    assert patched.key == "X-New"
    assert patched.position is ApiKeyPosition.QUERY
    assert patched.value.get_secret_value() == SECRET
