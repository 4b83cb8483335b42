"""The data dir is created 0700 and the SQLite index (with its -wal and -shm) 0600, whatever
the umask, for `serve` and `dev` alike (both open the index through create_index_engine)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from vaultauth.index.migrate import upgrade
from vaultauth.index.sql import create_index_engine


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # what most shells hand a process
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_a_new_data_dir_and_index_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    database = data_dir / "index.sqlite3"
    engine = create_index_engine(f"sqlite:///{database}", pool_size=1)
    try:
        upgrade(engine)
        with engine.begin() as connection:
            connection.execute(text("SELECT count(*) FROM auth_records"))
        for suffix in ("", "-wal", "-shm"):
            path = Path(f"{database}{suffix}")
            assert path.exists(), path
            assert mode(path) == 0o600, (path, oct(mode(path)))
    finally:
        engine.dispose()
    assert mode(data_dir) == 0o700


@pytest.mark.usefixtures("open_umask")
def test_an_existing_index_file_is_tightened(tmp_path: Path) -> None:
    database = tmp_path / "index.sqlite3"
    database.touch(mode=0o644)
    database.chmod(0o644)
    engine = create_index_engine(f"sqlite:///{database}", pool_size=1)
    engine.dispose()
    assert mode(database) == 0o600
