"""Wire schemas: liberal input (authType casing, three header shapes), canonical output."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from vaultauth.api.schemas import AuthCreateBody, AuthUpdateBody, record_body
from vaultauth.models import ApiKeyPosition, AuthRecord, AuthType, Header

CANONICAL = [{"key": "Accept", "value": "application/json"}, {"key": "X-B", "value": "2"}]


def _headers(body: AuthCreateBody | AuthUpdateBody) -> list[dict[str, str]]:
    assert body.headers is not None
    return [h.model_dump(exclude={"secret"}) for h in body.headers if not h.secret]


@pytest.mark.parametrize(
    "headers",
    [
        CANONICAL,
        {"Accept": "application/json", "X-B": "2"},
        [CANONICAL],
        [[CANONICAL[0]], [CANONICAL[1]]],
        [CANONICAL[0], [CANONICAL[1]]],
    ],
    ids=["list", "object", "nested-list", "two-nested-lists", "mixed"],
)
def test_header_variants_become_the_canonical_list(headers: Any) -> None:
    create = AuthCreateBody.model_validate({"authType": "NO_AUTH", "headers": headers})
    assert _headers(create) == CANONICAL
    update = AuthUpdateBody.model_validate({"headers": headers})
    assert _headers(update) == CANONICAL


@pytest.mark.parametrize("empty", [[], {}, [[]]])
def test_empty_header_variants(empty: Any) -> None:
    assert _headers(AuthUpdateBody.model_validate({"headers": empty})) == []


def test_headers_omitted_on_create_is_empty_and_on_update_is_none() -> None:
    assert AuthCreateBody.model_validate({"authType": "NO_AUTH"}).headers == []
    assert AuthUpdateBody.model_validate({}).headers is None
    assert AuthUpdateBody.model_validate({"headers": None}).headers is None


@pytest.mark.parametrize(
    "headers",
    ["Accept: x", 5, [["Accept", "x"]], [{"key": "Accept"}], {"Accept": 5}, [[[CANONICAL[0]]]]],
)
def test_bad_header_shapes_are_rejected(headers: Any) -> None:
    with pytest.raises(ValidationError):
        AuthCreateBody.model_validate({"authType": "NO_AUTH", "headers": headers})


@pytest.mark.parametrize("raw", ["api_key", "API_KEY", "Api_Key", " api_key"])
def test_auth_type_casing(raw: str) -> None:
    assert AuthCreateBody.model_validate({"authType": raw}).authType is AuthType.API_KEY
    assert AuthUpdateBody.model_validate({"authType": raw}).authType is AuthType.API_KEY


def test_credential_fields_stay_raw_until_the_type_is_known() -> None:
    body = AuthCreateBody.model_validate(
        {"authType": "NO_AUTH", "token": 5, "password": ["x"], "label": "ignored"}
    )
    assert body.credential_fields() == {
        "token": 5,
        "username": None,
        "password": ["x"],
        "apiKey": None,
        "oauth2": None,
    }


def test_request_repr_hides_secret_fields() -> None:
    body = AuthCreateBody.model_validate(
        {
            "authType": "BASIC_AUTH",
            "username": "u",
            "password": "planted-password",
            "token": "planted-token",
            "apiKey": {"key": "k", "value": "planted-key"},
        }
    )
    assert "planted" not in repr(body)


def test_record_out_is_canonical_and_has_no_secret() -> None:
    moment = datetime(2023, 11, 7, 5, 31, 56, 123456, tzinfo=UTC)
    record = AuthRecord(
        tenant="acme",
        integration_id="intg_1",
        auth_id="auth_P3kNz7Yv1Qm9",
        auth_type=AuthType.API_KEY,
        headers=(Header(key="Accept", value="application/json"),),
        api_key_name="X-Api-Key",
        api_key_position=ApiKeyPosition.QUERY,
        version=3,
        created_at=moment,
        updated_at=moment,
    )
    assert record_body(record) == {
        "authId": "auth_P3kNz7Yv1Qm9",
        "integrationId": "intg_1",
        "authType": "API_KEY",
        "headers": [{"key": "Accept", "value": "application/json"}],
        "apiKey": {"key": "X-Api-Key", "position": "query"},
        "oauth2": None,
        "allowedHosts": None,
        "label": None,
        "expiresAt": None,
        "rotateAfter": None,
        "version": 3,
        "createdAt": "2023-11-07T05:31:56Z",
        "updatedAt": "2023-11-07T05:31:56Z",
    }


def test_compact_json_response_sends_jsonresponses_bytes() -> None:
    from fastapi.responses import JSONResponse

    from vaultauth.api.schemas import CompactJSONResponse

    body = {
        "data": [{"label": 'Zürich ☃ \u2028 \x1f "quoted" \\', "version": 3, "headers": []}],
        "nextCursor": None,
        "big": 2**60,
    }
    compact = CompactJSONResponse(body)
    assert compact.body == JSONResponse(body).body
    assert compact.headers["content-type"] == "application/json"
