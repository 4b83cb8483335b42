"""The OpenAPI document at /openapi.json matches the contract: endpoints, camelCase, no secrets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vaultauth.ids import ID_PATTERN

LIST_PATH = "/v1/integrations/{integrationId}/auth"
ITEM_PATH = "/v1/integrations/{integrationId}/auth/{authId}"
ENDPOINTS = [
    ("post", LIST_PATH, "200", "AuthOut"),
    ("get", LIST_PATH, "200", "AuthList"),
    ("get", ITEM_PATH, "200", "AuthOut"),
    ("patch", ITEM_PATH, "200", "AuthOut"),
    ("delete", ITEM_PATH, "204", None),
]
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
    assert response.json()["openapi"].startswith("3.")


@pytest.mark.parametrize(("method", "path", "status", "schema"), ENDPOINTS)
def test_the_five_endpoints(
    spec: dict[str, Any], method: str, path: str, status: str, schema: str | None
) -> None:
    operation = spec["paths"][path][method]
    responses = operation["responses"]
    assert status in responses
    if schema is not None:
        assert _ref(responses[status]["content"]["application/json"]["schema"]) == schema
    for error_status in ("401", "403", "422", "503"):
        assert _ref(responses[error_status]["content"]["application/json"]["schema"]) == "ErrorOut"
    parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "path"}
    assert set(parameters) == set(re.findall(r"{(\w+)}", path))
    for parameter in parameters.values():
        assert parameter["required"] is True
        assert parameter["schema"]["pattern"] == ID_PATTERN
    if method in ("post", "patch"):
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert _ref(body) == ("AuthCreateBody" if method == "post" else "AuthUpdateBody")


def test_list_takes_limit_and_cursor(spec: dict[str, Any]) -> None:
    parameters = {p["name"]: p for p in spec["paths"][LIST_PATH]["get"]["parameters"]}
    assert parameters["limit"]["in"] == "query"
    assert parameters["limit"]["schema"]["maximum"] == 200
    assert parameters["limit"]["schema"]["default"] == 50
    assert parameters["cursor"]["in"] == "query"


def test_request_bodies_carry_the_contract_s_fields(spec: dict[str, Any]) -> None:
    create = _schema(spec, "AuthCreateBody")
    assert set(create["properties"]) == {
        "authType",
        "token",
        "username",
        "password",
        "apiKey",
        "headers",
        "allowedHosts",
        "label",
        "expiresAt",
        "rotateAfter",
    }
    assert create["required"] == ["authType"]
    update = _schema(spec, "AuthUpdateBody")
    assert set(update["properties"]) == set(create["properties"])
    assert not update.get("required")
    for name in ("token", "password", "apiKey"):
        assert create["properties"][name]["writeOnly"] is True
    assert create["properties"]["username"]["maxLength"] == 256
    assert create["properties"]["password"]["maxLength"] == 512
    api_key = create["properties"]["apiKey"]["properties"]
    assert set(api_key) == {"key", "value", "position"}
    assert api_key["position"]["enum"] == ["header", "query"]
    assert _schema(spec, "AuthType")["enum"] == ["NO_AUTH", "BASIC_AUTH", "BEARER_TOKEN", "API_KEY"]


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
    assert examples, "the create body should show an example"
    for example in examples:
        for location, value in _walk(example):
            secret = location[-1:] in (("token",), ("password",)) or location[-2:] == (
                "apiKey",
                "value",
            )
            if secret:
                assert isinstance(value, str)
                assert PLACEHOLDER.fullmatch(value), (location, value)
