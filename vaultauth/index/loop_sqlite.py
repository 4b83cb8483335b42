"""The hot queries of an SQLite index, run on the event loop's own connection, never waiting.

An SQLite point query or insert costs 10-40 µs of CPU; handing it to a worker thread costs
more than that (a thread switch each way, and a GIL hand-off that can keep the event loop
waiting). So the event loop runs them itself on a connection of its own that never waits:
its busy timeout is zero, and a write that finds the database locked (by another process, or
by one of our threads) raises `Busy` at once; the caller then hands the query to a worker
thread, which waits its turn as before. Reads in WAL mode do not wait for writers at all.

Two more things keep the loop from stalling:
- this connection never checkpoints the WAL itself (that can mean fsyncs); every
  CHECKPOINT_EVERY writes a worker thread runs a passive checkpoint instead. Under steady load
  some reader always uses the WAL, so a passive checkpoint never restarts it and it grows with
  every write (5,000 creates left a 78 MB WAL beside a 1.3 MB database). Once it is past
  WAL_TRUNCATE_BYTES the checkpoint truncates it: that one waits for the readers of the moment
  and holds writers back meanwhile, which cost creates a sixth of their rate when done at every
  checkpoint, and costs little once every few thousand writes;
- writes of our own threads are serialised by the same lock the thread path uses, taken
  without waiting.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine

from vaultauth.errors import Conflict, IndexUnavailable
from vaultauth.index.driver import DriverQueries

CHECKPOINT_EVERY = 500
WAL_TRUNCATE_BYTES = 64 * 1024 * 1024


class Busy(Exception):
    """The database is locked by another writer: run the query in a worker thread."""


class LoopSqliteQueries(DriverQueries):
    """DriverQueries on one connection owned by the event loop's thread."""

    def __init__(self, engine: Engine, write_lock: threading.Lock) -> None:
        super().__init__(engine)
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:":
            raise ValueError("the event loop's own connection needs an SQLite file")
        self._database = database
        self._shared_write_lock = write_lock
        self._connection: sqlite3.Connection | None = None
        self._writes = 0
        self._checkpointing = False

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(
                self._database, timeout=0, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA wal_autocheckpoint=0")
            self._connection = connection
        return self._connection

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        """One statement in autocommit: it is its own transaction (triggers included), and a
        locked database fails it at once, before anything is written."""
        if not self._shared_write_lock.acquire(blocking=False):
            raise Busy
        try:
            cursor = self._connect().cursor()
            try:
                yield cursor
            except sqlite3.IntegrityError:
                raise Conflict("the record already exists") from None
            except sqlite3.OperationalError as exc:
                raise _busy_or_unavailable(exc) from None
            except sqlite3.Error:
                self.close()
                raise IndexUnavailable("the metadata index is unavailable") from None
        finally:
            self._shared_write_lock.release()
        self._writes += 1
        if self._writes % CHECKPOINT_EVERY == 0:
            self._checkpoint_soon()

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        try:
            cursor = self._connect().cursor()
            yield cursor
        except sqlite3.OperationalError as exc:
            raise _busy_or_unavailable(exc) from None
        except sqlite3.Error:
            self.close()
            raise IndexUnavailable("the metadata index is unavailable") from None

    def _checkpoint_soon(self) -> None:
        if self._checkpointing:
            return
        self._checkpointing = True
        asyncio.get_running_loop().run_in_executor(None, self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            mode = "TRUNCATE" if _wal_bytes(self._database) > WAL_TRUNCATE_BYTES else "PASSIVE"
            connection = sqlite3.connect(self._database, timeout=5)
            try:
                connection.execute(f"PRAGMA wal_checkpoint({mode})")
            finally:
                connection.close()
        except sqlite3.Error:
            pass  # the next one will do; SQLite's own connections checkpoint too
        finally:
            self._checkpointing = False


def _wal_bytes(database: str) -> int:
    try:
        return os.stat(database + "-wal").st_size
    except OSError:
        return 0


def _busy_or_unavailable(exc: sqlite3.OperationalError) -> Exception:
    if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return Busy()
    return IndexUnavailable("the metadata index is unavailable")
