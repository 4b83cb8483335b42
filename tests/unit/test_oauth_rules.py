"""The OAuth 2.0 rules that need no server: the oauth2 object per grant, PATCH, the digest of
what a token depends on, the token URL policy, the token request's form, the refresh margin,
the back-off, the token document and the answers a token endpoint may give."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import pytest

from vaultauth.document import SecretDocument
from vaultauth.errors import CorruptSecret, InvalidInput, VaultauthError
from vaultauth.models import (
    AuthType,
    ClientAuth,
    Header,
    OAuth2Credential,
    OAuth2Grant,
    check_headers,
    parse_credential,
    patch_credential,
    record_fields_from,
)
from vaultauth.oauth.broker import backoff
from vaultauth.oauth.endpoint import (
    Outcome,
    TokenRequestError,
    _grant_from,
    basic_authorization,
    token_form,
)
from vaultauth.oauth.state import TokenState, usable_for
from vaultauth.oauth.token_url import TokenUrlPolicy
from vaultauth.resolve import AccessToken, resolve

CC = AuthType.OAUTH2_CLIENT_CREDENTIALS
RT = AuthType.OAUTH2_REFRESH_TOKEN
CLIENT_SECRET = "cs-unit-secret-7Hq"
REFRESH_TOKEN = "rt-unit-secret-9Zp"
URL = "https://auth.example.com/oauth/token"


def _oauth2(auth_type: AuthType, **fields: Any) -> OAuth2Credential:
    given = {"tokenUrl": URL, "clientId": "svc", "clientSecret": CLIENT_SECRET, **fields}
    if auth_type is RT:
        given.setdefault("refreshToken", REFRESH_TOKEN)
    credential = parse_credential(auth_type, {"oauth2": given})
    assert isinstance(credential, OAuth2Credential)
    return credential


def _refused(auth_type: AuthType, oauth2: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_credential(auth_type, {"oauth2": oauth2})
    return caught.value


# -- the oauth2 object ------------------------------------------------------------------------


def test_client_credentials_need_a_client_secret() -> None:
    error = _refused(CC, {"tokenUrl": URL, "clientId": "svc"})
    assert (error.code, error.field) == ("missing_credential", "oauth2.clientSecret")


def test_a_refresh_token_grant_needs_a_refresh_token_but_not_a_secret() -> None:
    error = _refused(RT, {"tokenUrl": URL, "clientId": "svc", "clientSecret": "x"})
    assert (error.code, error.field) == ("missing_credential", "oauth2.refreshToken")
    public = parse_credential(
        RT, {"oauth2": {"tokenUrl": URL, "clientId": "app", "refreshToken": REFRESH_TOKEN}}
    )
    assert isinstance(public, OAuth2Credential)
    assert public.client_secret is None


def test_the_oauth2_object_is_required() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_credential(CC, {"token": "x"})
    assert (caught.value.code, caught.value.field) == ("missing_credential", "oauth2")


def test_fields_of_the_other_grant_are_ignored() -> None:
    assert _oauth2(CC, refreshToken="ignored").refresh_token is None
    assert _oauth2(RT, audience="ignored").audience is None
    assert _oauth2(CC, audience="https://api.example.com").audience == "https://api.example.com"


def test_defaults_and_casing() -> None:
    credential = _oauth2(CC, clientAuth="BODY", scopes=["a.read", "b:write"])
    assert credential.grant is OAuth2Grant.CLIENT_CREDENTIALS
    assert credential.client_auth is ClientAuth.BODY
    assert credential.scopes == ("a.read", "b:write")
    assert _oauth2(CC).client_auth is ClientAuth.BASIC
    assert _oauth2(CC).scopes == ()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://auth.example.com/token",
        "auth.example.com/token",
        "https:///token",
        "https://user:pw-in-url@auth.example.com/token",
        "https://auth.example.com/token#frag",
        "https://auth.example.com/to ken",
        "https://auth.example.com:99999/token",
    ],
)
def test_token_urls_that_are_refused(url: str) -> None:
    error = _refused(CC, {"tokenUrl": url, "clientId": "svc", "clientSecret": "x"})
    assert (error.code, error.field) == ("invalid_field", "oauth2.tokenUrl")
    assert "pw-in-url" not in error.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("clientId", ""),
        ("clientId", "x" * 257),
        ("clientId", "caf\u00e9"),
        ("clientSecret", "x" * 1025),
        ("clientSecret", "line\nbreak"),
        ("scopes", ["two words"]),
        ("scopes", ['quo"te']),
        ("scopes", ["s"] * 65),
        ("scopes", "not-a-list"),
        ("clientAuth", "mtls"),
    ],
)
def test_fields_that_are_refused(field: str, value: object) -> None:
    given = {"tokenUrl": URL, "clientId": "svc", "clientSecret": CLIENT_SECRET, field: value}
    error = _refused(CC, given)
    assert error.field is not None
    assert error.field.startswith(f"oauth2.{field}")
    assert error.code in ("invalid_field", "field_too_long")
    assert CLIENT_SECRET not in error.message


def test_a_static_authorization_header_conflicts() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_headers(_oauth2(CC), (Header(key="authorization", value="x"),))
    assert caught.value.code == "header_conflict"


def test_secrets_stay_out_of_repr_and_of_the_record() -> None:
    credential = _oauth2(RT, scopes=["s"])
    assert CLIENT_SECRET not in repr(credential)
    assert REFRESH_TOKEN not in repr(credential)
    public = record_fields_from(credential)["oauth2"]
    assert public.token_url == URL
    assert CLIENT_SECRET not in repr(public)
    assert REFRESH_TOKEN not in repr(public)


# -- PATCH -------------------------------------------------------------------------------------


def test_patch_keeps_omitted_secrets_and_resets_omitted_settings() -> None:
    stored = _oauth2(RT, scopes=["a"], clientAuth="body")
    patched = patch_credential(
        RT,
        stored,
        {"oauth2": {"tokenUrl": URL, "clientId": "svc2", "clientSecret": None}},
    )
    assert isinstance(patched, OAuth2Credential)
    assert patched.client_id == "svc2"
    assert patched.client_secret == stored.client_secret
    assert patched.refresh_token == stored.refresh_token
    assert patched.scopes == ()  # omitted: the default
    assert patched.client_auth is ClientAuth.BASIC


def test_patch_replaces_a_secret_given() -> None:
    stored = _oauth2(RT)
    patched = patch_credential(
        RT, stored, {"oauth2": {"tokenUrl": URL, "clientId": "svc", "refreshToken": "rt-new"}}
    )
    assert isinstance(patched, OAuth2Credential)
    assert patched.refresh_token is not None
    assert patched.refresh_token.get_secret_value() == "rt-new"


def test_patch_needs_the_non_secret_fields() -> None:
    with pytest.raises(InvalidInput) as caught:
        patch_credential(CC, _oauth2(CC), {"oauth2": {"clientSecret": "x"}})
    assert caught.value.field == "oauth2.tokenUrl"


# -- what a token depends on -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tokenUrl", "https://other.example.com/token"),
        ("clientId", "someone-else"),
        ("clientSecret", "another-secret"),
        ("refreshToken", "another-refresh-token"),
        ("scopes", ["more"]),
    ],
)
def test_the_token_digest_follows_every_field_a_token_depends_on(field: str, value: Any) -> None:
    assert _oauth2(RT).token_config_hash() != _oauth2(RT, **{field: value}).token_config_hash()


def test_the_token_digest_ignores_how_the_client_authenticates() -> None:
    assert _oauth2(CC).token_config_hash() == _oauth2(CC, clientAuth="body").token_config_hash()
    assert _oauth2(CC).token_config_hash() != _oauth2(CC, audience="a").token_config_hash()


# -- the token URL policy ----------------------------------------------------------------------


def test_https_anywhere_by_default_plain_http_nowhere() -> None:
    policy = TokenUrlPolicy()
    policy.check(URL)
    with pytest.raises(InvalidInput) as caught:
        policy.check("http://auth.example.com/token")
    assert (caught.value.code, caught.value.field) == ("token_url_not_allowed", "oauth2.tokenUrl")


def test_insecure_and_allowed_hosts() -> None:
    policy = TokenUrlPolicy.from_lists("127.0.0.1, localhost", "*.example.com,127.0.0.1")
    policy.check("http://127.0.0.1:8999/token")
    policy.check("https://auth.example.com/token")
    policy.check("https://a.b.example.com/token")
    for refused in (
        "http://auth.example.com/token",  # not an insecure host
        "https://example.com/token",  # *.example.com is its subdomains only
        "https://evil.test/token",
        "http://localhost/token",  # insecure, but not allowed
    ):
        with pytest.raises(InvalidInput):
            policy.check(refused)


def test_a_malformed_allowed_host_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="host name"):
        TokenUrlPolicy.from_lists("", "https://x")


# -- the token request -------------------------------------------------------------------------


def test_basic_client_authentication_form_encodes_id_and_secret() -> None:
    credential = parse_credential(
        CC,
        {"oauth2": {"tokenUrl": URL, "clientId": "a b:c", "clientSecret": "p&s=w:d+%"}},
    )
    assert isinstance(credential, OAuth2Credential)
    header = basic_authorization(credential)
    assert header is not None
    encoded_id, _, encoded_secret = base64.b64decode(header[6:]).decode().partition(":")
    assert (encoded_id, encoded_secret) == ("a+b%3Ac", "p%26s%3Dw%3Ad%2B%25")
    assert (unquote_plus(encoded_id), unquote_plus(encoded_secret)) == ("a b:c", "p&s=w:d+%")
    form = token_form(credential, None)
    assert form == {"grant_type": "client_credentials"}  # the secret is in the header only


def test_body_client_authentication_and_the_grant_fields() -> None:
    credential = _oauth2(RT, clientAuth="body", scopes=["a", "b"])
    form = token_form(credential, "rt-rotated")
    assert form == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-rotated",
        "scope": "a b",
        "client_id": "svc",
        "client_secret": CLIENT_SECRET,
    }
    assert basic_authorization(credential) is None


def test_a_public_client_sends_its_id_in_the_body() -> None:
    credential = parse_credential(
        RT, {"oauth2": {"tokenUrl": URL, "clientId": "app", "refreshToken": REFRESH_TOKEN}}
    )
    assert isinstance(credential, OAuth2Credential)
    assert basic_authorization(credential) is None
    assert token_form(credential, REFRESH_TOKEN)["client_id"] == "app"


def test_audience_is_sent_for_client_credentials() -> None:
    assert token_form(_oauth2(CC, audience="https://api"), None)["audience"] == "https://api"


# -- the answer --------------------------------------------------------------------------------


def _answer(status: int, body: object) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return _grant_from(OAuth2Grant.REFRESH_TOKEN, status, None, raw)


def test_a_good_answer() -> None:
    grant = _answer(200, {"access_token": "at", "expires_in": "120", "refresh_token": "rt2"})
    assert (grant.access_token, grant.expires_in, grant.refresh_token) == ("at", 120.0, "rt2")
    assert "at" not in repr(grant).replace("access_token", "")
    assert _answer(200, {"access_token": "at", "token_type": "bearer"}).expires_in == 3600.0


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (400, {"error": "invalid_grant", "error_description": REFRESH_TOKEN}, Outcome.REJECTED),
        (401, {"error": "invalid_client", "error_description": CLIENT_SECRET}, Outcome.REFUSED),
        (400, {"error": f"weird {CLIENT_SECRET}"}, Outcome.REFUSED),
        (429, {"error": "slow_down"}, Outcome.FAILED),
        (503, b"<html>down</html>", Outcome.FAILED),
        (200, b"not json", Outcome.FAILED),
        (200, {"token_type": "Bearer"}, Outcome.FAILED),
        (200, {"access_token": "a b"}, Outcome.FAILED),
        (200, {"access_token": "at", "token_type": "mac"}, Outcome.FAILED),
        (200, {"access_token": "at", "expires_in": -5}, Outcome.FAILED),
        (200, {"access_token": "at", "refresh_token": 7}, Outcome.FAILED),
    ],
)
def test_answers_that_give_no_token(status: int, body: object, outcome: Outcome) -> None:
    with pytest.raises(TokenRequestError) as caught:
        _answer(status, body)
    assert caught.value.outcome is outcome
    assert REFRESH_TOKEN not in caught.value.message
    assert CLIENT_SECRET not in caught.value.message
    if outcome is Outcome.REFUSED and "invalid_client" in json.dumps(body):
        assert "invalid_client" in caught.value.message  # an RFC code is named


# -- timing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "used_for"),
    [(3600, 3240), (600, 540), (100, 70), (31, 1), (30, 15), (10, 5)],
)
def test_a_token_is_used_until_its_expiry_minus_the_margin(expires_in: int, used_for: int) -> None:
    assert usable_for(expires_in) == pytest.approx(used_for)


def test_backoff_doubles_up_to_a_minute_and_honours_retry_after() -> None:
    assert [backoff(n, None) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff(1, 120) == 120
    assert backoff(3, 2) == 4


# -- documents ---------------------------------------------------------------------------------


def test_the_vault_document_keeps_the_secrets_and_round_trips() -> None:
    credential = _oauth2(RT, scopes=["a"])
    document = SecretDocument(RT, credential, (Header(key="X-A", value="1"),))
    stored = document.to_vault()
    assert stored["oauth2"]["clientSecret"] == CLIENT_SECRET
    assert stored["oauth2"]["refreshToken"] == REFRESH_TOKEN
    assert SecretDocument.from_vault(stored) == document


def test_a_malformed_oauth2_document_is_corrupt() -> None:
    with pytest.raises(CorruptSecret):
        SecretDocument.from_vault({"format": "1", "authType": CC.value, "oauth2": "x"})
    with pytest.raises(CorruptSecret):
        SecretDocument.from_vault({"format": "1", "authType": CC.value, "oauth2": {"a": 1}})


def test_the_token_state_round_trips_and_hides_its_tokens() -> None:
    state = TokenState(config="c").leased("me", 10.0).with_token("at-1", 0.0, 100.0, "rt-2")
    assert state.lease_owner is None
    assert (state.expires_at, state.use_until, state.refresh_token) == (100.0, 70.0, "rt-2")
    assert TokenState.from_vault(state.to_vault()) == state
    assert "at-1" not in repr(state)
    assert "rt-2" not in repr(state)
    assert TokenState.from_vault({"format": "9", "config": "c"}) is None
    assert TokenState.from_vault({"format": "1", "config": "c", "expiresAt": "soon"}) is None


def test_resolve_puts_the_access_token_in_authorization() -> None:
    document = SecretDocument(CC, _oauth2(CC), (Header(key="X-A", value="1"),))
    expiry = datetime(2030, 1, 1, tzinfo=UTC)
    resolved = resolve(document, AccessToken("at-9", expiry))
    assert resolved.headers == {"X-A": "1", "Authorization": "Bearer at-9"}
    assert resolved.expires_at == expiry
    assert "at-9" not in repr(resolved)
    with pytest.raises(VaultauthError):
        resolve(document)
