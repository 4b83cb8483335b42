"""resolve(): the exact headers and query parameters each authType produces."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from vaultauth.document import SecretDocument
from vaultauth.errors import CorruptSecret
from vaultauth.models import AuthType, Header, parse_credential
from vaultauth.resolve import resolve

STATIC = (Header(key="Accept", value="application/json"), Header(key="X-Tenant", value="t1"))


def _document(
    auth_type: AuthType, fields: dict[str, Any], headers: tuple[Header, ...] = STATIC
) -> SecretDocument:
    return SecretDocument(auth_type, parse_credential(auth_type, fields), headers)


def test_no_auth_gives_only_the_static_headers() -> None:
    resolved = resolve(_document(AuthType.NO_AUTH, {"token": "ignored"}))
    assert resolved.headers == {"Accept": "application/json", "X-Tenant": "t1"}
    assert resolved.query == {}


def test_no_auth_without_headers_gives_nothing() -> None:
    resolved = resolve(_document(AuthType.NO_AUTH, {}, ()))
    assert resolved.headers == {}
    assert resolved.query == {}


def test_bearer() -> None:
    resolved = resolve(_document(AuthType.BEARER_TOKEN, {"token": "eyJhbGciOi.payload.sig"}))
    assert resolved.headers == {
        "Accept": "application/json",
        "X-Tenant": "t1",
        "Authorization": "Bearer eyJhbGciOi.payload.sig",
    }
    assert resolved.query == {}


def test_basic() -> None:
    resolved = resolve(
        _document(AuthType.BASIC_AUTH, {"username": "Aladdin", "password": "open sesame"}, ())
    )
    # The example of RFC 7617, section 2.
    assert resolved.headers == {"Authorization": "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="}
    assert resolved.query == {}


def test_basic_encodes_utf8_and_keeps_colons_in_the_password() -> None:
    resolved = resolve(
        _document(AuthType.BASIC_AUTH, {"username": "jöhn", "password": "p:ä:ss"}, ())
    )
    encoded = resolved.headers["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(encoded).decode("utf-8") == "jöhn:p:ä:ss"


def test_basic_with_empty_password() -> None:
    resolved = resolve(_document(AuthType.BASIC_AUTH, {"username": "u", "password": ""}, ()))
    assert resolved.headers == {"Authorization": "Basic " + base64.b64encode(b"u:").decode()}


def test_api_key_in_a_header() -> None:
    resolved = resolve(
        _document(
            AuthType.API_KEY,
            {"apiKey": {"key": "X-Api-Key", "value": "k-123", "position": "header"}},
        )
    )
    assert resolved.headers == {
        "Accept": "application/json",
        "X-Tenant": "t1",
        "X-Api-Key": "k-123",
    }
    assert resolved.query == {}


def test_api_key_in_the_query() -> None:
    resolved = resolve(
        _document(
            AuthType.API_KEY, {"apiKey": {"key": "api_key", "value": "k-123", "position": "query"}}
        )
    )
    assert resolved.headers == {"Accept": "application/json", "X-Tenant": "t1"}
    assert resolved.query == {"api_key": "k-123"}


def test_repr_hides_the_values() -> None:
    resolved = resolve(_document(AuthType.BEARER_TOKEN, {"token": "very-secret-token"}))
    assert "very-secret-token" not in repr(resolved)
    assert "Authorization" in repr(resolved)


@pytest.mark.parametrize(
    ("auth_type", "fields"),
    [
        (AuthType.NO_AUTH, {}),
        (AuthType.BEARER_TOKEN, {"token": "t"}),
        (AuthType.BASIC_AUTH, {"username": "u", "password": "p"}),
        (AuthType.API_KEY, {"apiKey": {"key": "k", "value": "v", "position": "query"}}),
    ],
)
def test_document_round_trips_through_vault_form(
    auth_type: AuthType, fields: dict[str, Any]
) -> None:
    document = _document(auth_type, fields)
    again = SecretDocument.from_vault(document.to_vault())
    assert again == document
    assert resolve(again) == resolve(document)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"authType": "OAUTH"},
        {"authType": "BEARER_TOKEN"},
        {"authType": "BASIC_AUTH", "username": "u"},
        {"authType": "API_KEY", "apiKey": "planted-secret"},
        {"authType": "NO_AUTH", "headers": [{"key": "bad name", "value": "planted-secret"}]},
        {"authType": "NO_AUTH", "headers": 5},
        {"authType": "NO_AUTH", "headers": True},
    ],
)
def test_malformed_vault_document(data: dict[str, Any]) -> None:
    with pytest.raises(CorruptSecret) as caught:
        SecretDocument.from_vault(data)
    assert caught.value.code == "malformed_secret_document"
    assert "planted-secret" not in str(caught.value)
