"""On an SQLite index a list page is read on the event loop's own connection (a page in a worker
thread costs 3-5x the CPU: the thread and the loop fight for the GIL at every row), and a busy
database sends it to a worker thread after all; the page is the same either way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vaultauth.index import async_sql
from vaultauth.index.async_sql import AsyncSqlIndex
from vaultauth.index.loop_sqlite import Busy, LoopSqliteQueries
from vaultauth.models import AuthRecord, AuthType, Header
from vaultauth.settings import Settings
from vaultauth.wiring import build_index

pytestmark = pytest.mark.anyio


@pytest.fixture
def index(tmp_path: Path) -> Iterator[AsyncSqlIndex]:
    settings = Settings(
        index_url=f"sqlite:///{tmp_path}/index.db", data_dir=tmp_path, index_auto_migrate=True
    )
    engine, sql = build_index(settings)
    began = datetime(2026, 11, 30, tzinfo=UTC)
    for n in range(5):
        moment = began + timedelta(seconds=n)
        sql.insert(
            AuthRecord(
                tenant="acme",
                integration_id="intg_list",
                auth_id=f"auth_{n:012d}",
                auth_type=AuthType.BEARER_TOKEN,
                headers=(Header(key="Accept", value="application/json"),) if n % 2 else (),
                api_key_name=None,
                api_key_position=None,
                version=1,
                created_at=moment,
                updated_at=moment,
            )
        )
    async_index = AsyncSqlIndex(sql)
    yield async_index
    async_index.close()
    engine.dispose()


def _no_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    hops: list[str] = []

    async def run_sync(*_args: Any, **_kwargs: Any) -> Any:
        hops.append("thread")
        raise AssertionError("a list page went to a worker thread")

    monkeypatch.setattr(async_sql.to_thread, "run_sync", run_sync)
    return hops


async def test_a_page_is_read_on_the_loop(
    index: AsyncSqlIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    through_the_pool = index.sql.list_page("acme", "intg_list", limit=3, cursor=None)
    hops = _no_threads(monkeypatch)
    first = await index.list_page("acme", "intg_list", limit=3, cursor=None)
    rest = await index.list_page("acme", "intg_list", limit=3, cursor=first.next_cursor)
    assert hops == []
    assert first == through_the_pool
    assert [r.auth_id for r in first.records] == [f"auth_{n:012d}" for n in (4, 3, 2)]
    assert [r.auth_id for r in rest.records] == [f"auth_{n:012d}" for n in (1, 0)]
    assert rest.next_cursor is None
    assert first.records[1].headers == (Header(key="Accept", value="application/json"),)
    assert first.records[0].headers == ()


async def test_a_busy_database_sends_the_page_to_a_thread(
    index: AsyncSqlIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = index.sql.list_page("acme", "intg_list", limit=10, cursor=None)

    def busy(*_args: Any, **_kwargs: Any) -> Any:
        raise Busy

    monkeypatch.setattr(LoopSqliteQueries, "list_rows", busy)
    assert await index.list_page("acme", "intg_list", limit=10, cursor=None) == expected
    assert len(expected.records) == 5
