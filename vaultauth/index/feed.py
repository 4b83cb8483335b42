"""The index's change feed: which records and API keys changed, told to every replica.

The index itself announces every change (triggers written by migration 0002), so a change made
by any replica, any worker process, the CLI or `reconcile` reaches every cache:
- SQLite: triggers append `record:<tenant>/<integrationId>/<authId>` or `key:<keyId>` rows to
  `index_changes`; each process polls for rows past the last one it saw. SQLite has one writer
  at a time, so row numbers follow commit order and a poll never skips a change.
- PostgreSQL: triggers `pg_notify('vaultauth_changes', subject)`; each process LISTENs on a
  connection of its own. PostgreSQL delivers notifications in commit order, so after a process
  receives a heartbeat it sent itself, every change committed before that heartbeat was sent
  has been delivered.

`is_fresh()` says whether the caches may answer: the last confirmed sync point (a poll's start,
or a heartbeat's send time) is at most `bound` seconds old. A feed that cannot reach the index
stops confirming, and after `bound` seconds every read goes to the index again (which then
answers, or fails with 503). After a gap it may have missed changes in (a reconnect, pruned
rows), the feed tells its listener to forget everything.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc

log = logging.getLogger("vaultauth.feed")

CHANNEL = "vaultauth_changes"
RECORD = "record:"
KEY = "key:"
# Rows older than this are pruned; a process that falls further behind forgets its caches.
RETENTION_SECONDS = 600.0
_PRUNE_EVERY = 60.0
# Further behind than this, forgetting every cache is cheaper than replaying the changes.
_MAX_CATCH_UP = 10_000


class FeedListener(Protocol):
    def changed(self, subject: str) -> None:
        """`subject` (e.g. `record:acme/intg_1/auth_x`) changed in the index."""

    def reset(self) -> None:
        """Changes may have been missed: forget everything cached."""


class ChangeFeed:
    """Base of the two feeds: a daemon thread and the freshness clock."""

    def __init__(
        self,
        bound: float,
        *,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bound = bound
        self.interval = interval if interval is not None else bound / 5
        self._clock = clock
        self._synced_at = -float("inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: FeedListener | None = None

    def is_fresh(self) -> bool:
        return self._clock() - self._synced_at <= self.bound

    def start(self, listener: FeedListener) -> None:
        self._listener = listener
        self._thread = threading.Thread(target=self._run, name="vaultauth-change-feed", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _confirm(self, synced_at: float) -> None:
        self._synced_at = max(self._synced_at, synced_at)

    def _deliver(self, subject: str) -> None:
        assert self._listener is not None
        self._listener.changed(subject)

    def _reset(self) -> None:
        assert self._listener is not None
        self._listener.reset()

    def _run(self) -> None:
        raise NotImplementedError


class SqliteChangeFeed(ChangeFeed):
    """Polls `index_changes` every `interval` seconds."""

    def __init__(
        self,
        engine: Engine,
        bound: float,
        *,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(bound, interval=interval, clock=clock)
        self._engine = engine
        self._last_seq: int | None = None
        self._next_prune = 0.0
        self._prune_marks: list[tuple[float, int]] = []  # (when, last seq seen then)

    def poll_once(self) -> None:
        """Deliver every change past the last one seen, then confirm freshness."""
        started = self._clock()
        with self._engine.connect() as connection:
            # Committed rows only: AUTOINCREMENT's counter moves in the writing transaction.
            high = int(
                connection.execute(
                    text("SELECT seq FROM sqlite_sequence WHERE name = 'index_changes'")
                ).scalar()
                or 0
            )
            last = self._last_seq
            if last is None or high < last or high - last > _MAX_CATCH_UP:
                self._reset()  # first poll, a replaced index file, or too far behind
            elif high > last:
                subjects = (
                    connection.execute(
                        text(
                            "SELECT subject FROM index_changes WHERE seq > :low AND seq <= :high "
                            "ORDER BY seq"
                        ),
                        {"low": last, "high": high},
                    )
                    .scalars()
                    .all()
                )
                if len(subjects) != high - last:
                    self._reset()  # rows we never saw were pruned
                else:
                    for subject in subjects:
                        self._deliver(subject)
            self._last_seq = high
        self._confirm(started)
        self._maybe_prune(started, high)

    def _maybe_prune(self, now: float, seen: int) -> None:
        """Every minute, delete the rows every process had RETENTION_SECONDS to see."""
        if now < self._next_prune:
            return
        self._next_prune = now + _PRUNE_EVERY
        self._prune_marks.append((now, seen))
        due = [seq for when, seq in self._prune_marks if when <= now - RETENTION_SECONDS]
        if not due:
            return
        self._prune_marks = [m for m in self._prune_marks if m[0] > now - RETENTION_SECONDS]
        with self._engine.begin() as connection:
            connection.execute(
                text("DELETE FROM index_changes WHERE seq <= :seq"), {"seq": max(due)}
            )

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self.poll_once()
                if failing:
                    log.info("change feed: the index answers again")
                failing = False
            except (sa_exc.SQLAlchemyError, OSError) as exc:
                if not failing:
                    log.warning("change feed: cannot poll the index (%s)", type(exc).__name__)
                failing = True
            self._stop.wait(self.interval)


class PostgresChangeFeed(ChangeFeed):
    """LISTENs on a connection of its own and confirms freshness with heartbeats it sends
    itself (PostgreSQL delivers notifications in commit order)."""

    def __init__(self, conninfo: str, bound: float, *, interval: float | None = None) -> None:
        super().__init__(bound, interval=interval)
        self._conninfo = conninfo
        self._heartbeat_channel = f"vaultauth_hb_{secrets.token_hex(6)}"

    def _run(self) -> None:
        import psycopg

        failing = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    conn.execute(f"LISTEN {self._heartbeat_channel}")
                    self._reset()  # whatever was committed before LISTEN was never delivered
                    if failing:
                        log.info("change feed: listening to the index again")
                    failing = False
                    self._listen(conn)
            except psycopg.Error as exc:
                if not failing:
                    log.warning("change feed: cannot listen to the index (%s)", type(exc).__name__)
                failing = True
                self._stop.wait(self.interval)

    def _listen(self, conn: object) -> None:
        import psycopg

        assert isinstance(conn, psycopg.Connection)
        beat = 0
        while not self._stop.is_set():
            beat += 1
            sent_at = self._clock()
            conn.execute("SELECT pg_notify(%s, %s)", (self._heartbeat_channel, str(beat)))
            for note in conn.notifies(timeout=self.interval):
                if note.channel == CHANNEL:
                    self._deliver(note.payload)
                elif note.payload == str(beat):
                    self._confirm(sent_at)


def change_feed_for(engine: Engine, bound: float) -> ChangeFeed:
    """The feed that fits the index's database."""
    if engine.dialect.name == "postgresql":
        conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresChangeFeed(conninfo, bound)
    return SqliteChangeFeed(engine, bound)
