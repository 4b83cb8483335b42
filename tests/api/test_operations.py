"""/healthz, /readyz, /metrics, request ids and JSON logs; none of them may carry a secret."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.capture import on_vaultauth_loggers
from tests.support.processes import free_port
from vaultauth.api import create_app
from vaultauth.logs import JsonFormatter
from vaultauth.settings import Settings
from vaultauth.wiring import Runtime

CANARY = "CANARY-7f3a9c1e-do-not-leak"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything the `vaultauth` loggers write during the test, as the JSON the server writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    with on_vaultauth_loggers(handler):
        yield stream


def test_healthz_and_readyz_answer_without_a_key(app_client: TestClient) -> None:
    assert app_client.get("/healthz").json() == {"status": "ok"}
    ready = app_client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"vault": "ok", "vault_login": "ok", "index": "ok"},
    }


def test_request_id_is_taken_from_the_caller_or_generated(app_client: TestClient) -> None:
    assert app_client.get("/healthz", headers={"X-Request-ID": "req-42"}).headers[
        "X-Request-ID"
    ] == ("req-42")
    generated = app_client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    # Not a plain token (log injection, overlong): replaced by our own.
    odd = app_client.get("/healthz", headers={"X-Request-ID": "a b\tc" + "x" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["X-Request-ID"])
    # Also on errors answered before any route (unknown path, 401).
    assert app_client.get("/nope", headers={"X-Request-ID": "r-404"}).headers["X-Request-ID"] == (
        "r-404"
    )


def test_metrics_count_requests_by_route_template_and_time_vault_calls(
    api: TestClient,
) -> None:
    created = api.post(
        "/v1/integrations/intg_m/auth", json={"authType": "BEARER_TOKEN", "token": "t0k"}
    ).json()
    api.get(f"/v1/integrations/intg_m/auth/{created['authId']}")
    api.get("/v1/integrations/intg_m/auth/auth_missing")
    api.post(f"/v1/integrations/intg_m/auth/{created['authId']}/resolve")
    text = api.get("/metrics").text
    route = "/v1/integrations/{integrationId}/auth/{authId}"
    assert f'vaultauth_http_requests_total{{method="GET",route="{route}",status="200"}} 1.0' in (
        text
    )
    assert f'vaultauth_http_requests_total{{method="GET",route="{route}",status="404"}} 1.0' in (
        text
    )
    assert 'vaultauth_http_request_duration_seconds_bucket{le="0.001",method="POST"' in text
    assert 'vaultauth_vault_call_duration_seconds_count{operation="write"} 1.0' in text
    assert 'vaultauth_vault_call_duration_seconds_count{operation="read"} 1.0' in text
    assert "intg_m" not in text  # label values are templates, never ids
    assert created["authId"] not in text


def test_vault_errors_are_counted_by_operation_and_code(api: TestClient) -> None:
    created = api.post(
        "/v1/integrations/intg_e/auth", json={"authType": "BEARER_TOKEN", "token": "t0k"}
    ).json()
    # Both PATCHes read the same version; the second CAS write must lose.
    runtime = api.app.state.runtime  # type: ignore[attr-defined]
    record = runtime.sql_index.get("acme", "intg_e", created["authId"])
    path_version = record.version
    api.patch(f"/v1/integrations/intg_e/auth/{created['authId']}", json={"token": "t1"})
    runtime.sql_index.update(record, expected_version=path_version + 1)  # index back to v1
    conflict = api.patch(f"/v1/integrations/intg_e/auth/{created['authId']}", json={"token": "x"})
    assert conflict.status_code == 409
    text = api.get("/metrics").text
    assert 'vaultauth_vault_call_errors_total{code="conflict",operation="write"} 1.0' in text


def test_a_made_up_method_is_labelled_other(api: TestClient, json_log: io.StringIO) -> None:
    # Any token is a valid method on the wire; as a label each would be a new series.
    response = api.request("CANARYVERB", "/v1/integrations/intg_m/auth")
    assert response.status_code == 405
    text = api.get("/metrics").text
    assert "CANARYVERB" not in text
    assert 'method="OTHER"' in text
    assert "CANARYVERB" not in json_log.getvalue()


def test_each_app_has_its_own_registry(settings: Settings) -> None:
    first, second = create_app(settings), create_app(settings)
    with TestClient(first) as one, TestClient(second) as two:
        one.get("/healthz")
        one.get("/healthz")
        two.get("/healthz")
        line = 'vaultauth_http_requests_total{method="GET",route="/healthz",status="200"}'
        assert f"{line} 2.0" in one.get("/metrics").text
        assert f"{line} 1.0" in two.get("/metrics").text


def test_json_logs_carry_request_ids_and_no_secret(api: TestClient, json_log: io.StringIO) -> None:
    created = api.post(
        "/v1/integrations/intg_c/auth",
        json={
            "authType": "API_KEY",
            "apiKey": {"key": "X-Key", "value": CANARY},
            "headers": [{"key": "Accept", "value": "json"}],
        },
        headers={"X-Request-ID": "req-create"},
    )
    assert created.status_code == 200
    auth_id = created.json()["authId"]
    responses = [
        created,
        api.patch(
            f"/v1/integrations/intg_c/auth/{auth_id}",
            json={"apiKey": {"key": "X-Key", "value": CANARY}},
        ),
        # Rejected inputs that carry the canary: bad type, too long, clash, body too large.
        api.post("/v1/integrations/intg_c/auth", json={"authType": "BEARER_TOKEN", "token": 7}),
        api.post(
            "/v1/integrations/intg_c/auth",
            json={"authType": "BASIC_AUTH", "username": "u", "password": CANARY * 100},
        ),
        api.post(
            "/v1/integrations/intg_c/auth",
            json={
                "authType": "BEARER_TOKEN",
                "token": CANARY,
                "headers": [{"key": "Authorization", "value": CANARY}],
            },
        ),
        api.post("/v1/integrations/intg_c/auth", content=CANARY * 5000),
        api.get(f"/v1/integrations/intg_c/auth/{auth_id}"),
        api.get("/metrics"),
        api.get("/readyz"),
    ]
    for response in responses:
        assert CANARY not in response.text
        assert CANARY not in str(response.headers)
    resolved = api.post(f"/v1/integrations/intg_c/auth/{auth_id}/resolve")
    assert resolved.json()["headers"]["X-Key"] == CANARY  # the one place it may appear

    lines = json_log.getvalue().splitlines()
    assert len(lines) >= len(responses) + 1
    assert CANARY not in json_log.getvalue()
    parsed = [json.loads(line) for line in lines]
    access = [p for p in parsed if p["logger"] == "vaultauth.access"]
    assert len(access) == len(responses) + 1
    for entry in parsed:
        assert entry["request_id"], entry
        assert {"ts", "level", "logger", "message"} <= entry.keys()
    first = access[0]
    assert first["request_id"] == "req-create"
    assert first["route"] == "/v1/integrations/{integrationId}/auth"
    assert (first["method"], first["status"]) == ("POST", 200)
    statuses = [a["status"] for a in access]
    assert statuses[:6] == [200, 200, 422, 422, 422, 413]


def test_an_unexpected_error_is_500_with_the_request_id_and_logged_by_type_only(
    api: TestClient, json_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = api.app.state.runtime  # type: ignore[attr-defined]

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(CANARY)

    monkeypatch.setattr(runtime.service, "get", boom)
    response = api.get("/v1/integrations/intg_x/auth/auth_x", headers={"X-Request-ID": "r-500"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.headers["X-Request-ID"] == "r-500"
    assert CANARY not in json_log.getvalue()
    errors = [json.loads(line) for line in json_log.getvalue().splitlines()]
    logged = [e for e in errors if e["level"] == "error"]
    assert logged
    assert logged[0]["exc_type"] == "RuntimeError"
    assert logged[0]["request_id"] == "r-500"
    assert [e["status"] for e in errors if e["logger"] == "vaultauth.access"] == [500]


def test_resolve_cache_and_vault_login_counters_are_exported(
    settings: Settings, make_key: Callable[..., str]
) -> None:
    cached = settings.model_copy(update={"resolve_cache_ttl": 60.0})
    with TestClient(create_app(cached)) as client:
        client.headers["X-API-Key"] = make_key()
        created = client.post(
            "/v1/integrations/intg_c/auth", json={"authType": "BEARER_TOKEN", "token": "t0k"}
        ).json()
        for _ in range(3):
            client.post(f"/v1/integrations/intg_c/auth/{created['authId']}/resolve")
        text = client.get("/metrics").text
    assert 'vaultauth_cache_requests_total{cache="resolve",result="miss"} 1.0' in text
    assert 'vaultauth_cache_requests_total{cache="resolve",result="hit"} 2.0' in text
    assert 'vaultauth_cache_requests_total{cache="record",result="hit"} 2.0' in text
    assert 'vaultauth_vault_logins_total{event="login"}' in text


def test_the_runtime_is_closed_off_the_event_loop(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Closing joins the Vault login and change-feed threads (up to 10 s each) and disposes of
    # the engine's pool: blocking, so it must not run on the event loop.
    app = create_app(settings)
    ran_on_loop: list[bool] = []
    with TestClient(app) as client:
        runtime: Runtime = app.state.runtime
        close_blocking = runtime._close_blocking

        def recording() -> None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                ran_on_loop.append(False)
            else:
                ran_on_loop.append(True)
            close_blocking()

        monkeypatch.setattr(runtime, "_close_blocking", recording)
        assert client.get("/healthz").status_code == 200
    assert ran_on_loop == [False]


def test_metrics_can_have_a_listener_of_their_own(
    settings: Settings, make_key: Callable[..., str]
) -> None:
    port = free_port(1)
    separate = settings.model_copy(update={"metrics_port": port})
    with TestClient(create_app(separate)) as client:
        client.headers["X-API-Key"] = make_key()
        assert client.get("/v1/integrations/intg_mp/auth").status_code == 200
        assert client.get("/metrics").status_code == 404  # the API port: the API and probes
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert scraped.status_code == 200
        assert 'route="/v1/integrations/{integrationId}/auth"' in scraped.text
    with pytest.raises(httpx.ConnectError):  # closed with the app
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
