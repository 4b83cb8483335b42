"""The OpenAPI document at /openapi.json says what the API accepts and answers (decision 21).

Liberal in: the create body is a union discriminated by `authType` (both published spellings),
each variant with its required fields and limits; fields of other types are allowed; `headers`
in three shapes; PATCH fields optional and nullable. Strict out: every answer exactly as built,
every error status of every operation with its codes. What JSON Schema cannot say is in words.
The document and the server are checked against each other on the contract's bodies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from vaultauth.api.openapi_schemas import (
    FIELD_NAME_PATTERN,
    NON_EMPTY_FIELD_VALUE_PATTERN,
    OPERATIONS,
)
from vaultauth.api.schemas import AuthCreateBody
from vaultauth.ids import ID_PATTERN
from vaultauth.models import Header, parse_credential

LIST_PATH = "/v1/integrations/{integrationId}/auth"
ITEM_PATH = "/v1/integrations/{integrationId}/auth/{authId}"
RESOLVE_PATH = "/v1/integrations/{integrationId}/auth/{authId}/resolve"
# (method, path, success status, answer schema, name in OPERATIONS, error statuses it has)
VERSIONS_PATH = ITEM_PATH + "/versions"
ROLLBACK_PATH = ITEM_PATH + "/rollback"
DUE_PATH = "/v1/auth/due"
ENDPOINTS = [
    (
        "post",
        LIST_PATH,
        "200",
        "AuthOut",
        "create",
        {400, 401, 403, 404, 409, 413, 415, 422, 429, 503},
    ),
    ("get", LIST_PATH, "200", "AuthList", "list", {401, 403, 422, 429, 503}),
    ("get", ITEM_PATH, "200", "AuthOut", "get", {304, 401, 403, 404, 422, 429, 503}),
    (
        "patch",
        ITEM_PATH,
        "200",
        "AuthOut",
        "update",
        {400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 502, 503},
    ),
    ("delete", ITEM_PATH, "204", None, "delete", {401, 403, 404, 412, 422, 429, 503}),
    ("get", VERSIONS_PATH, "200", "VersionList", "versions", {401, 403, 404, 422, 429, 503}),
    (
        "post",
        ROLLBACK_PATH,
        "200",
        "AuthOut",
        "rollback",
        {400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 502, 503},
    ),
    ("get", DUE_PATH, "200", "AuthList", "due", {401, 403, 422, 429, 503}),
    (
        "post",
        RESOLVE_PATH,
        "200",
        "ResolveOut",
        "resolve",
        {401, 403, 404, 409, 422, 429, 502, 503},
    ),
]
VARIANTS = {
    "NO_AUTH": ("NoAuthCreate", {"authType"}),
    "BASIC_AUTH": ("BasicAuthCreate", {"authType", "username", "password"}),
    "BEARER_TOKEN": ("BearerTokenCreate", {"authType", "token"}),
    "API_KEY": ("ApiKeyCreate", {"authType", "apiKey"}),
    "OAUTH2_CLIENT_CREDENTIALS": ("OAuth2ClientCredentialsCreate", {"authType", "oauth2"}),
    "OAUTH2_REFRESH_TOKEN": ("OAuth2RefreshTokenCreate", {"authType", "oauth2"}),
}
CAMEL = re.compile(r"[a-z][A-Za-z0-9]*")
PLACEHOLDER = re.compile(r"<[^<>]*>")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    # The document needs no runtime: build the app without its lifespan.
    from vaultauth.api import create_app
    from vaultauth.settings import Settings

    client = TestClient(create_app(Settings()))
    response = client.get("/openapi.json")  # outside `with`: no Vault, no index
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["components"]["schemas"][name]
    return schema


def _ref(schema: dict[str, Any]) -> str:
    return str(schema["$ref"]).rsplit("/", 1)[-1]


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A JSON Schema validator of `schema`, whose `$ref`s point into the document."""
    return jsonschema_rs.validator_for({**spec, **schema})


def _component(spec: dict[str, Any], name: str) -> Any:
    return _validator(spec, {"$ref": f"#/components/schemas/{name}"})


def _walk(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, (*path, str(i)))


def test_served_without_a_key(app_client: TestClient) -> None:
    response = app_client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.1")


@pytest.mark.parametrize(
    ("method", "path", "status", "schema", "name", "errors"),
    ENDPOINTS,
    ids=[entry[4] for entry in ENDPOINTS],
)
def test_every_operation_lists_its_error_statuses_with_their_codes(
    spec: dict[str, Any],
    method: str,
    path: str,
    status: str,
    schema: str | None,
    name: str,
    errors: set[int],
) -> None:
    operation = spec["paths"][path][method]
    responses = operation["responses"]
    assert set(responses) == {status} | {str(code) for code in errors}
    if schema is not None:
        assert _ref(responses[status]["content"]["application/json"]["schema"]) == schema
    for code, codes in OPERATIONS[name].items():
        answer = responses[str(code)]
        body = answer["content"]["application/json"]["schema"]
        assert _ref(body) == "ErrorOut"
        assert body["properties"]["error"]["properties"]["code"]["enum"] == list(codes)
        assert all(f"`{c}`" in answer["description"] for c in codes)
        valid = _validator(spec, body)
        assert valid.is_valid({"error": {"code": codes[0], "message": "m", "field": "f"}})
        assert not valid.is_valid({"error": {"code": "not_one_of_them", "message": "m"}})
        assert not valid.is_valid({"error": {"code": codes[0], "message": "m"}, "input": "x"})
    if "503" in responses:
        assert responses["503"]["headers"]["Retry-After"]["required"] is True
    if "415" in responses:
        assert responses["415"]["headers"]["Accept-Encoding"]["schema"]["enum"] == ["identity"]
    parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "path"}
    assert set(parameters) == set(re.findall(r"{(\w+)}", path))
    for parameter in parameters.values():
        assert parameter["required"] is True
        assert parameter["schema"]["pattern"] == ID_PATTERN
    bodies = {
        LIST_PATH: "AuthCreateBody",
        ITEM_PATH: "AuthUpdateBody",
        ROLLBACK_PATH: "RollbackBody",
    }
    if method in ("post", "patch") and path in bodies:
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert _ref(body) == bodies[path]


def test_every_v1_operation_is_described(spec: dict[str, Any]) -> None:
    described = {(method, path) for method, path, *_ in ENDPOINTS}
    served = {
        (method, path)
        for path, operations in spec["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    }
    assert served == described


def test_a_created_record_links_to_its_operations(spec: dict[str, Any]) -> None:
    links = spec["paths"][LIST_PATH]["post"]["responses"]["200"]["links"]
    assert set(links) == {"GetAuth", "UpdateAuth", "ResolveAuth", "DeleteAuth"}
    for link in links.values():
        pointer = link["operationRef"].removeprefix("#/paths/")
        path, method = pointer.rsplit("/", 1)
        assert method in spec["paths"][path.replace("~1", "/")]
        assert link["parameters"]["authId"] == "$response.body#/authId"


def test_list_takes_limit_and_cursor(spec: dict[str, Any]) -> None:
    parameters = {p["name"]: p for p in spec["paths"][LIST_PATH]["get"]["parameters"]}
    assert parameters["limit"]["in"] == "query"
    assert parameters["limit"]["schema"]["maximum"] == 200
    assert parameters["limit"]["schema"]["default"] == 50
    assert parameters["cursor"]["in"] == "query"
    assert "handed out" in parameters["cursor"]["description"]  # not a JSON Schema rule


# -- create: a union discriminated by authType --------------------------------------------------


def test_the_create_body_is_a_union_discriminated_by_auth_type(spec: dict[str, Any]) -> None:
    body = _schema(spec, "AuthCreateBody")
    assert body["discriminator"]["propertyName"] == "authType"
    mapping = body["discriminator"]["mapping"]
    assert set(mapping) == {t for t in VARIANTS} | {t.lower() for t in VARIANTS}
    assert sorted(_ref(ref) for ref in body["oneOf"]) == sorted(v[0] for v in VARIANTS.values())
    for auth_type, (name, required) in VARIANTS.items():
        assert _ref({"$ref": mapping[auth_type]}) == _ref({"$ref": mapping[auth_type.lower()]})
        variant = _schema(spec, name)
        assert variant["properties"]["authType"]["enum"] == [auth_type, auth_type.lower()]
        assert set(variant["required"]) == required
        assert variant["additionalProperties"] is True  # fields of other types: ignored
        assert "headers" in variant["properties"]


def test_each_variant_carries_its_limits(spec: dict[str, Any]) -> None:
    basic = _schema(spec, "BasicAuthCreate")["properties"]
    assert (basic["username"]["minLength"], basic["username"]["maxLength"]) == (1, 256)
    assert basic["password"]["maxLength"] == 512
    assert basic["password"]["writeOnly"] is True
    token = _schema(spec, "BearerTokenCreate")["properties"]["token"]
    assert (token["minLength"], token["maxLength"]) == (1, 16384)
    assert token["pattern"] == NON_EMPTY_FIELD_VALUE_PATTERN
    api_key = _schema(spec, "ApiKeyIn")
    assert set(api_key["required"]) == {"key", "value"}
    assert api_key["properties"]["key"]["pattern"] == FIELD_NAME_PATTERN
    assert api_key["properties"]["value"]["maxLength"] == 4096
    assert api_key["properties"]["position"]["enum"] == ["header", "query"]


HEADER_SHAPES: list[tuple[Any, bool]] = [
    ([{"key": "Accept", "value": "application/json"}], True),
    ({"Accept": "application/json", "X-B": ""}, True),
    ([[{"key": "Accept", "value": "json"}], [{"key": "X-B", "value": "2"}]], True),
    ([{"key": "A", "value": "1"}, [{"key": "B", "value": "2"}], []], True),
    ([], True),
    ({}, True),
    ([{"key": "Bad Name", "value": "x"}], False),
    ([{"key": "X-A", "value": "a\r\nB: c"}], False),
    ({"X-A": 5}, False),
    ([{"key": "Accept"}], False),
    ([[[{"key": "A", "value": "1"}]]], False),
    ("Accept: */*", False),
    (None, False),
    ([{"key": f"X-{i}", "value": "v"} for i in range(33)], False),
]


@pytest.mark.parametrize(("headers", "valid"), HEADER_SHAPES)
def test_headers_take_the_three_published_shapes(
    spec: dict[str, Any], api: TestClient, headers: Any, valid: bool
) -> None:
    body = {"authType": "NO_AUTH", "headers": headers}
    assert _component(spec, "AuthCreateBody").is_valid(body) is valid
    response = api.post("/v1/integrations/intg_openapi/auth", json=body)
    assert response.status_code == (200 if valid else 422), response.text


def test_a_credential_header_name_is_refused_where_the_schema_can_say_it(
    spec: dict[str, Any],
) -> None:
    create = _component(spec, "AuthCreateBody")
    clash = [{"key": "aUtHoRiZaTiOn", "value": "x"}]
    assert not create.is_valid({"authType": "BEARER_TOKEN", "token": "t", "headers": clash})
    assert not create.is_valid(
        {
            "authType": "basic_auth",
            "username": "u",
            "password": "p",
            "headers": {"authorization": ""},
        }
    )
    assert create.is_valid({"authType": "NO_AUTH", "headers": clash})


# -- PATCH: optional, nullable fields -------------------------------------------------------------


def test_patch_fields_are_optional_and_nullable(spec: dict[str, Any]) -> None:
    update = _schema(spec, "AuthUpdateBody")
    assert not update.get("required")
    assert update["additionalProperties"] is True
    assert set(update["properties"]) == {
        "authType",
        "token",
        "username",
        "password",
        "apiKey",
        "oauth2",
        "headers",
        "allowedHosts",
        "label",
        "expiresAt",
        "rotateAfter",
    }
    valid = _component(spec, "AuthUpdateBody")
    assert valid.is_valid({})
    assert valid.is_valid({name: None for name in update["properties"]})
    assert valid.is_valid({"authType": "bearer_token", "token": "t2"})
    assert valid.is_valid({"apiKey": {"key": "api_key", "position": "query"}})
    assert not valid.is_valid({"token": ""})
    assert not valid.is_valid({"authType": "OAUTH2"})
    assert not valid.is_valid({"apiKey": {"value": "v"}})


# -- the rules JSON Schema cannot say, in words ---------------------------------------------------


def test_rules_json_schema_cannot_say_are_stated_in_descriptions(spec: dict[str, Any]) -> None:
    headers = _schema(spec, "NoAuthCreate")["properties"]["headers"]["description"]
    for words in ("case-insensitively", "duplicate_header", "header_conflict", "apiKey.key", "32"):
        assert words in headers, words
    update = _schema(spec, "AuthUpdateBody")["properties"]
    assert "auth_type_immutable" in update["authType"]["description"]
    for name in ("token", "username", "password", "apiKey"):
        assert "ignored on other records" in update[name]["description"], name


# -- the document and the server agree ------------------------------------------------------------

BASE = "/v1/integrations/intg_openapi/auth"
API_KEY = {"key": "X-Api-Key", "value": "k-123", "position": "header"}
# (body, valid by the document): the server accepts exactly the valid ones.
CREATES: list[tuple[dict[str, Any], bool]] = [
    ({"authType": "API_KEY"}, False),
    ({"authType": "BEARER_TOKEN", "token": ""}, False),
    ({"authType": "NO_AUTH", "headers": [{"key": "Bad Name", "value": "v"}]}, False),
    ({"authType": "NO_AUTH", "headers": [{"key": "X(1)", "value": "v"}]}, False),
    ({"authType": "NO_AUTH", "headers": {"X-A": "1"}}, True),
    ({"authType": "NO_AUTH", "headers": [[{"key": "X-A", "value": "1"}]]}, True),
    ({"authType": "NO_AUTH", "headers": None}, False),
    ({"authType": "api_key", "apiKey": API_KEY}, True),
    (
        {"authType": "API_KEY", "apiKey": API_KEY, "token": 5, "username": [], "password": None},
        True,
    ),
    ({"authType": "API_KEY", "apiKey": {"key": "X-Api-Key"}}, False),
    ({"authType": "API_KEY", "apiKey": {**API_KEY, "position": "body"}}, False),
    ({"authType": "BASIC_AUTH", "username": "u", "password": ""}, True),
    ({"authType": "BASIC_AUTH", "username": "a:b", "password": "p"}, False),
    ({"authType": "BASIC_AUTH", "username": "u" * 257, "password": "p"}, False),
    ({"authType": "BEARER_TOKEN", "token": "t\r\nX-Injected: 1"}, False),
    (
        {
            "authType": "BEARER_TOKEN",
            "token": "t",
            "headers": [{"key": "authorization", "value": "x"}],
        },
        False,
    ),
    ({"authType": "bearer_token", "token": "t", "apiKey": {"anything": True}}, True),
    ({"authType": "OAUTH2", "token": "t"}, False),
    ({"token": "t"}, False),
]
# (body, valid by the document, status) on a BEARER_TOKEN record.
PATCHES: list[tuple[dict[str, Any], bool, int]] = [
    (
        {"token": None, "username": None, "password": None, "apiKey": None, "headers": None},
        True,
        200,
    ),
    ({"authType": None}, True, 200),
    ({"authType": "bearer_token", "token": "t2"}, True, 200),
    ({"headers": {"X-A": "1"}}, True, 200),
    ({"headers": [[{"key": "X-A", "value": "1"}]]}, True, 200),
    ({"token": ""}, False, 422),
    ({"headers": "X-A: 1"}, False, 422),
    ({"authType": "OAUTH2"}, False, 422),
    # Stated in words: authType is permanent, and another type's fields are ignored.
    ({"authType": "API_KEY"}, True, 422),
    ({"apiKey": {"value": "v"}}, False, 200),
]


@pytest.mark.parametrize(("body", "valid"), CREATES)
def test_the_server_accepts_exactly_the_create_bodies_the_document_does(
    spec: dict[str, Any], api: TestClient, body: dict[str, Any], valid: bool
) -> None:
    assert _component(spec, "AuthCreateBody").is_valid(body) is valid
    response = api.post(BASE, json=body)
    assert response.status_code == (200 if valid else 422), response.text


@pytest.mark.parametrize(("body", "valid", "status"), PATCHES)
def test_the_server_accepts_the_patch_bodies_the_document_does(
    spec: dict[str, Any], api: TestClient, body: dict[str, Any], valid: bool, status: int
) -> None:
    assert _component(spec, "AuthUpdateBody").is_valid(body) is valid
    created = api.post(BASE, json={"authType": "BEARER_TOKEN", "token": "t"}).json()
    response = api.patch(f"{BASE}/{created['authId']}", json=body)
    assert response.status_code == status, response.text
    if status == 200:
        assert _component(spec, "AuthOut").is_valid(response.json())


def test_answers_are_described_strictly(spec: dict[str, Any], api: TestClient) -> None:
    answers = ("AuthOut", "AuthList", "ResolveOut", "HeaderOut", "SecretHeaderOut", "ApiKeyOut")
    # The ones a type has alone: an error's `field`, resolve's `expiresAt` (OAuth 2.0 types).
    optional = {"field", "expiresAt"}
    for name in (*answers, "OAuth2Out", "VersionList", "VersionOut", "ErrorOut"):
        schema = _schema(spec, name)
        assert schema["additionalProperties"] is False, name
        assert set(schema["required"]) >= set(schema["properties"]) - optional, name
    record = _schema(spec, "AuthOut")["properties"]
    assert record["authType"] == {"$ref": "#/components/schemas/AuthType"}
    assert _schema(spec, "AuthType")["enum"] == [
        "NO_AUTH",
        "BASIC_AUTH",
        "BEARER_TOKEN",
        "API_KEY",
        "OAUTH2_CLIENT_CREDENTIALS",
        "OAUTH2_REFRESH_TOKEN",
    ]
    created = api.post(BASE, json={"authType": "api_key", "apiKey": API_KEY}).json()
    assert _component(spec, "AuthOut").is_valid(created)
    assert not _component(spec, "AuthOut").is_valid({**created, "token": "x"})
    assert not _component(spec, "AuthOut").is_valid({**created, "authType": "api_key"})
    assert _component(spec, "AuthList").is_valid(api.get(BASE).json())
    resolved = api.post(f"{BASE}/{created['authId']}/resolve").json()
    assert _component(spec, "ResolveOut").is_valid(resolved)


def test_the_record_has_no_secret_field(spec: dict[str, Any]) -> None:
    record = _schema(spec, "AuthOut")
    properties = set(record["properties"])
    assert {"authId", "integrationId", "authType", "headers", "createdAt", "updatedAt"} <= (
        properties
    )
    assert not properties & {"token", "password", "username", "secret"}
    assert set(_schema(spec, "ApiKeyOut")["properties"]) == {"key", "position"}
    assert set(_schema(spec, "AuthList")["properties"]) == {"data", "nextCursor"}
    assert set(_schema(spec, "ErrorDetail")["properties"]) == {"code", "message", "field"}


def test_every_field_name_is_camel_case(spec: dict[str, Any]) -> None:
    names = [
        (schema_name, name)
        for schema_name, schema in spec["components"]["schemas"].items()
        for location, value in _walk(schema)
        if location and location[-1] == "properties" and isinstance(value, dict)
        for name in value
    ]
    assert names
    assert [entry for entry in names if not CAMEL.fullmatch(entry[1])] == []
    for path, operations in spec["paths"].items():
        if path.startswith("/v1/"):
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "header":  # HTTP's own spelling: If-Match, ...
                        continue
                    assert CAMEL.fullmatch(parameter["name"]), parameter["name"]


def test_examples_hold_no_secret_value(spec: dict[str, Any]) -> None:
    examples = [
        value
        for location, value in _walk(spec)
        if location and location[-1] in ("example", "examples")
    ]
    assert len(examples) >= 4, "each create variant should show an example"
    for example in examples:
        for location, value in _walk(example):
            secret = location[-1:] in (("token",), ("password",)) or location[-2:] == (
                "apiKey",
                "value",
            )
            if secret:
                assert isinstance(value, str)
                assert PLACEHOLDER.fullmatch(value), (location, value)


def test_every_create_example_is_accepted_by_the_domain(spec: dict[str, Any]) -> None:
    for auth_type, (name, _required) in VARIANTS.items():
        for example in _schema(spec, name)["examples"]:
            assert _component(spec, "AuthCreateBody").is_valid(example)
            body = AuthCreateBody.model_validate(example)
            parse_credential(body.authType, body.credential_fields())
            assert body.authType.value == auth_type


# -- the document's patterns are the domain's rules ----------------------------------------------

NAMES = ["X-Api-Key", "a", "!#$%&'*+-.^_`|~", "Bad Name", "", "X:A", "\u00e9", "X\tA", "A\n", "(x)"]
VALUES = ["", "a b\tc", "~", "caf\u00e9", "a\r\nb", "\x7f", "x\n", "\x00", "\t"]


def _header_item(spec: dict[str, Any]) -> Any:
    shapes = _schema(spec, "NoAuthCreate")["properties"]["headers"]["anyOf"]
    return _validator(spec, shapes[0]["items"])


def _domain_accepts(key: str, value: str) -> bool:
    try:
        Header(key=key, value=value)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", NAMES)
def test_the_header_name_rule_is_the_domain_s(spec: dict[str, Any], name: str) -> None:
    assert _header_item(spec).is_valid({"key": name, "value": "v"}) is _domain_accepts(name, "v")


@pytest.mark.parametrize("value", VALUES)
def test_the_header_value_rule_is_the_domain_s(spec: dict[str, Any], value: str) -> None:
    assert _header_item(spec).is_valid({"key": "X", "value": value}) is _domain_accepts("X", value)
    token = _validator(spec, {"type": "string", "pattern": NON_EMPTY_FIELD_VALUE_PATTERN})
    assert token.is_valid(value) is (_domain_accepts("X", value) and value != "")
