"""One token request per expiry per record across real facade processes.

Facades here are `vaultauth serve` processes sharing one OpenBao and one index, asking a real
token endpoint on loopback (tests/support/oauth.py) that counts requests and, for refresh
tokens, issues single-use ones and records any that is presented twice:
- two replicas on one PostgreSQL index, 50 concurrent resolves on each: one request;
- `serve --workers 2` on SQLite, 100 concurrent resolves: one request;
- a refresh token chain through several expiries across two replicas: no token sent twice;
- the facade holding the lease is killed mid-request: another takes over once it expires;
- a facade killed right after a refresh: the rotated refresh token is in Vault, nothing lost.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import postgres_schema
from tests.support.facade import (
    Facade,
    running_facade,
    settings_env,
    start_facade,
    two_running_facades,
)
from tests.support.oauth import TokenServer, run_token_server
from tests.support.processes import stop_process, wait_until
from vaultauth.admin import create_key
from vaultauth.keys import Scope
from vaultauth.settings import Settings

pytestmark = pytest.mark.slow

BASE = "/v1/integrations/intg_oauth/auth"
SECRET = "cs-processes-1"
SCOPES = [Scope.AUTH_READ, Scope.AUTH_WRITE, Scope.CREDENTIALS_READ]


@pytest.fixture
def endpoint() -> Iterator[TokenServer]:
    with run_token_server(client_secret=SECRET) as server:
        yield server


def _env(settings: Settings, home: Path, **more: str) -> dict[str, str]:
    return settings_env(
        settings,
        home,
        VAULTAUTH_OAUTH_INSECURE_HOSTS="127.0.0.1",
        VAULTAUTH_OAUTH_ALLOWED_HOSTS="127.0.0.1",
        **more,
    )


def _create(facade: Facade, key: str, endpoint: TokenServer, grant: str, **more: Any) -> str:
    oauth2 = {
        "tokenUrl": endpoint.url,
        "clientId": endpoint.client_id,
        "clientSecret": SECRET,
        **more,
    }
    with facade.client(key) as client:
        created = client.post(BASE, json={"authType": grant, "oauth2": oauth2})
    assert created.status_code == 200, created.text
    auth_id: str = created.json()["authId"]
    return auth_id


async def _burst(urls: list[str], key: str, auth_id: str, each: int) -> list[httpx.Response]:
    """`each` concurrent resolves on every facade in `urls`, all started together."""

    async def on(url: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=each)
        async with httpx.AsyncClient(
            base_url=url, headers={"X-API-Key": key}, timeout=30, limits=limits, trust_env=False
        ) as client:
            calls = [client.post(f"{BASE}/{auth_id}/resolve") for _ in range(each)]
            return list(await asyncio.gather(*calls))

    answers = await asyncio.gather(*(on(url) for url in urls))
    return [response for per_facade in answers for response in per_facade]


def _tokens(responses: list[httpx.Response]) -> set[str]:
    assert [r.status_code for r in responses] == [200] * len(responses), responses[0].text
    return {r.json()["headers"]["Authorization"] for r in responses}


@pytest.fixture
def pg_settings(settings: Settings) -> Iterator[Settings]:
    with postgres_schema("the two-replica OAuth test", required=False) as url:
        yield settings.model_copy(update={"index_url": SecretStr(url)})


@pytest.fixture
def two_replicas(pg_settings: Settings, tmp_path: Path) -> Iterator[tuple[Facade, Facade]]:
    with two_running_facades(_env(pg_settings, tmp_path), tmp_path, "replica") as facades:
        yield facades


def test_fifty_resolves_on_each_of_two_replicas_make_one_token_request(
    pg_settings: Settings, two_replicas: tuple[Facade, Facade], endpoint: TokenServer
) -> None:
    key = create_key(pg_settings, "acme", SCOPES)
    first, second = two_replicas
    auth_id = _create(first, key, endpoint, "OAUTH2_CLIENT_CREDENTIALS")
    endpoint.delay = 0.5  # every caller arrives while the one request is under way
    responses = asyncio.run(_burst([first.url, second.url], key, auth_id, 50))
    assert len(_tokens(responses)) == 1
    assert endpoint.count() == 1


def test_a_refresh_token_chain_across_replicas_never_sends_one_twice(
    pg_settings: Settings, two_replicas: tuple[Facade, Facade], endpoint: TokenServer
) -> None:
    key = create_key(pg_settings, "acme", SCOPES)
    first, second = two_replicas
    endpoint.rotate = True
    endpoint.expires_in = 2  # refreshed every second
    refresh_token = endpoint.add_refresh_token()
    auth_id = _create(first, key, endpoint, "OAUTH2_REFRESH_TOKEN", refreshToken=refresh_token)
    seen: set[str] = set()
    deadline = time.monotonic() + 4.5
    while time.monotonic() < deadline:
        seen |= _tokens(asyncio.run(_burst([first.url, second.url], key, auth_id, 10)))
        time.sleep(0.2)
    presented = [r.form["refresh_token"] for r in endpoint.requests]
    assert endpoint.reused == []
    assert len(presented) == len(set(presented))  # each single-use token sent once
    assert presented[0] == refresh_token
    assert 4 <= len(presented) <= 6  # one per expiry, not one per resolve
    assert len(seen) == len(presented)


def test_two_workers_on_sqlite_make_one_token_request(
    settings: Settings, tmp_path: Path, endpoint: TokenServer
) -> None:
    key = create_key(settings, "acme", SCOPES)
    env = _env(settings, tmp_path, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    with running_facade(env, tmp_path, "workers", "--workers", "2") as facade:
        auth_id = _create(facade, key, endpoint, "OAUTH2_CLIENT_CREDENTIALS")
        endpoint.delay = 0.5
        # Fresh connections, so the kernel spreads them over both workers.
        responses = asyncio.run(_burst([facade.url], key, auth_id, 100))
    assert len(_tokens(responses)) == 1
    assert endpoint.count() == 1


def test_when_the_lease_holder_dies_another_facade_takes_over(
    settings: Settings, tmp_path: Path, endpoint: TokenServer
) -> None:
    key = create_key(settings, "acme", SCOPES)
    env = _env(settings, tmp_path, VAULTAUTH_OAUTH_TIMEOUT="2")  # a lease of 6 s
    holder = start_facade(env, tmp_path, "holder")
    try:
        auth_id = _create(holder, key, endpoint, "OAUTH2_CLIENT_CREDENTIALS")
        endpoint.delay = 30  # the holder's request hangs

        def resolve_on_the_holder() -> None:
            try:
                httpx.post(
                    f"{holder.url}{BASE}/{auth_id}/resolve", headers={"X-API-Key": key}, timeout=60
                )
            except httpx.HTTPError:
                pass  # killed while answering: expected

        hanging = threading.Thread(target=resolve_on_the_holder, daemon=True)
        hanging.start()
        wait_until(lambda: endpoint.count() == 1, 10, "the holder's token request")
        endpoint.delay = 0
        holder.kill()
        leased_at = time.monotonic()
    finally:
        stop_process(holder.process)
    with running_facade(env, tmp_path, "successor") as successor, successor.client(key) as client:
        response = client.post(f"{BASE}/{auth_id}/resolve")
        if response.status_code == 503:  # startup took long enough that the wait ran out
            assert response.json()["error"]["code"] == "oauth_token_pending"
            time.sleep(float(response.headers["retry-after"]))
            response = client.post(f"{BASE}/{auth_id}/resolve")
    assert response.status_code == 200, response.text
    assert time.monotonic() - leased_at >= 5  # not before the dead holder's lease expired
    assert endpoint.count() == 2
    assert response.json()["headers"]["Authorization"] == f"Bearer {endpoint.issued[-1]}"


def test_a_facade_killed_after_a_refresh_loses_no_refresh_token(
    settings: Settings, tmp_path: Path, endpoint: TokenServer
) -> None:
    key = create_key(settings, "acme", SCOPES)
    endpoint.rotate = True
    endpoint.expires_in = 2
    refresh_token = endpoint.add_refresh_token()
    env = _env(settings, tmp_path)
    first = start_facade(env, tmp_path, "first")
    try:
        auth_id = _create(first, key, endpoint, "OAUTH2_REFRESH_TOKEN", refreshToken=refresh_token)
        with first.client(key) as client:
            assert client.post(f"{BASE}/{auth_id}/resolve").status_code == 200
        first.kill()  # at once: no shutdown, nothing flushed
    finally:
        stop_process(first.process)
    time.sleep(1.1)  # the token needs refreshing now
    with running_facade(env, tmp_path, "second") as second, second.client(key) as client:
        response = client.post(f"{BASE}/{auth_id}/resolve")
    assert response.status_code == 200, response.text
    presented = [r.form["refresh_token"] for r in endpoint.requests]
    assert len(presented) == 2
    assert presented[0] == refresh_token
    assert presented[1] != refresh_token  # the rotated one, read back from Vault
    assert endpoint.reused == []
