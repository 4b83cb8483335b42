"""Shared fixtures: one real OpenBao per session, an index per test (SQLite or PostgreSQL).

Switches (environment):
- VAULTAUTH_TEST_INDEX=sqlite|postgres   which index back end every test uses (default sqlite)
- VAULTAUTH_TEST_PG_URL                  PostgreSQL server for it (default 127.0.0.1:5432/test)
- VAULTAUTH_TEST_VAULT_ADDR / _TOKEN     use an external Vault instead of starting `bao server`
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import hvac
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tests.support.bao import DevBao, start_dev_bao
from vaultauth.admin import create_key
from vaultauth.api import create_app
from vaultauth.keys import Scope
from vaultauth.settings import Settings

ALL_SCOPES = [Scope.AUTH_READ, Scope.AUTH_WRITE, Scope.CREDENTIALS_READ]
# Seconds a cached record or key may lag a change made through another process.
CACHE_STALENESS_BOUND = 1.0
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (`pytest.mark.anyio`) run on asyncio, as the facade does."""
    return "asyncio"


@pytest.fixture(scope="session")
def vault() -> Iterator[DevBao]:
    external = os.environ.get("VAULTAUTH_TEST_VAULT_ADDR")
    if external:
        yield DevBao(
            addr=external,
            token=os.environ["VAULTAUTH_TEST_VAULT_TOKEN"],
            process=None,
            workdir=None,
        )
        return
    server = start_dev_bao()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def vault_client(vault: DevBao) -> Iterator[hvac.Client]:
    client = hvac.Client(url=vault.addr, token=vault.token, timeout=5)
    yield client
    client.adapter.close()


def index_backend() -> str:
    backend = os.environ.get("VAULTAUTH_TEST_INDEX", "sqlite")
    if backend not in ("sqlite", "postgres"):
        raise pytest.UsageError("VAULTAUTH_TEST_INDEX must be sqlite or postgres")
    return backend


@contextmanager
def postgres_schema(purpose: str, *, required: bool) -> Iterator[str]:
    """The URL of a fresh PostgreSQL schema, dropped afterwards.

    An unreachable server fails the test when `required` (or in CI); otherwise the test is
    skipped with a reason that says it did NOT run, so a laptop without PostgreSQL can still run
    the rest of the suite.
    """
    server = os.environ.get("VAULTAUTH_TEST_PG_URL", DEFAULT_PG_URL)
    schema = f"vaultauth_test_{secrets.token_hex(6)}"
    admin = create_engine(server)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        reason = f"{purpose} needs PostgreSQL, and {server} is unreachable ({type(exc).__name__})"
        if required or os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(f"NOT RUN: {reason}; CI runs it")
    try:
        yield f"{server}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def index_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty index for each test: an SQLite file, or a PostgreSQL schema."""
    if index_backend() == "sqlite":
        yield f"sqlite:///{tmp_path / 'index.sqlite3'}"
        return
    with postgres_schema("VAULTAUTH_TEST_INDEX=postgres", required=True) as url:
        yield url


@pytest.fixture
def settings(vault: DevBao, index_url: str, tmp_path: Path) -> Settings:
    return Settings(
        vault_addr=vault.addr,
        vault_token=vault.token,
        vault_prefix=f"t{secrets.token_hex(4)}",
        index_url=index_url,
        data_dir=tmp_path / "data",
        vault_timeout=2.0,
        retry_after_seconds=3,
        cache_staleness_bound=CACHE_STALENESS_BOUND,
        # Token requests go to the suite's own endpoints on loopback, never anywhere else.
        oauth_insecure_hosts="127.0.0.1",
        oauth_allowed_hosts="127.0.0.1",
    )


@pytest.fixture
def make_key(settings: Settings) -> Callable[..., str]:
    def make(tenant: str = "acme", scopes: list[Scope] | None = None) -> str:
        return create_key(settings, tenant, scopes if scopes is not None else ALL_SCOPES)

    return make


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def api(app_client: TestClient, make_key: Callable[..., str]) -> TestClient:
    """The app's client, carrying an all-scopes key of tenant `acme`."""
    app_client.headers["X-API-Key"] = make_key()
    return app_client
