"""Fixtures of the client tests: the facade served over real HTTP, a recording upstream."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.live import serve_in_thread
from tests.support.upstream import Upstream, run_upstream
from vaultauth.api import create_app
from vaultauth.keys import Scope
from vaultauth.settings import Settings


@pytest.fixture
def facade_url(settings: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(settings)) as url:
        yield url


@pytest.fixture
def admin(facade_url: str, make_key: Callable[..., str]) -> Iterator[httpx.Client]:
    """An all-scopes client of tenant `acme` for creating and changing records."""
    with httpx.Client(base_url=facade_url, headers={"X-API-Key": make_key()}) as client:
        yield client


@pytest.fixture
def reader_key(make_key: Callable[..., str]) -> str:
    """What a calling service holds: a key of tenant `acme` with credentials:read only."""
    return make_key("acme", [Scope.CREDENTIALS_READ])


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with run_upstream() as server:
        yield server
