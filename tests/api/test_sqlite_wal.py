"""The SQLite index's write-ahead log stays bounded under steady concurrent load.

A passive checkpoint never restarts the WAL while some reader is always using it, so it grew
with every write (about 16 KB a create); vaultauth/index/loop_sqlite.py truncates it once it is
past WAL_TRUNCATE_BYTES (lowered here, so that a few checkpoints cross it).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import index_backend
from vaultauth.index import loop_sqlite
from vaultauth.index.loop_sqlite import CHECKPOINT_EVERY
from vaultauth.settings import Settings

CREATES = 3 * CHECKPOINT_EVERY
TRUNCATE_ABOVE = 4 * 1024 * 1024
# Truncated past 4 MB at each checkpoint (every CHECKPOINT_EVERY writes, ~8 MB of WAL) it stays
# under 4 + 8 MB; never restarted, 1,500 creates leave about 24 MB.
WAL_LIMIT_BYTES = 14 * 1024 * 1024


@pytest.mark.skipif(index_backend() != "sqlite", reason="the SQLite index's WAL only")
def test_the_wal_does_not_grow_with_every_write(
    api: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop_sqlite, "WAL_TRUNCATE_BYTES", TRUNCATE_ABOVE)
    database = Path(settings.resolved_index_url().removeprefix("sqlite:///"))
    base = "/v1/integrations/intg_wal/auth"

    def create_and_read(n: int) -> None:
        created = api.post(base, json={"authType": "BEARER_TOKEN", "token": f"wal-{n}"})
        assert created.status_code == 200, created.text
        assert api.get(f"{base}/{created.json()['authId']}").status_code == 200

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create_and_read, range(CREATES)))
    wal = database.with_name(database.name + "-wal")
    assert database.stat().st_size > 0
    assert wal.stat().st_size < WAL_LIMIT_BYTES, f"WAL of {wal.stat().st_size:,} bytes"
