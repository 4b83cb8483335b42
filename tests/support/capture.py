"""Where a secret could leak to, gathered for tests that look for it: every log record of every
logger (formatted the ways a log could show it), and the index's bytes."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from vaultauth.settings import Settings


class Everything(logging.Handler):
    """Keeps every record of every logger, formatted the ways a log could show it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(record.getMessage())
        self.texts.append(repr(record.__dict__))
        if record.exc_info and record.exc_info[1] is not None:
            self.texts.append("".join(traceback.format_exception(record.exc_info[1])))
        self.texts.append(logging.Formatter().format(record))


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> Iterator[Everything]:
    """DEBUG on every logger, records captured also from loggers that do not propagate."""
    handler = Everything()
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    caplog.set_level(logging.DEBUG)
    saved = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        if not logger.propagate or logger is logging.getLogger():
            logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, level in saved:
            logger.setLevel(level)
            logger.removeHandler(handler)


@contextmanager
def on_vaultauth_loggers(handler: logging.Handler) -> Iterator[None]:
    """`handler` on the `vaultauth` loggers at INFO for the block; the level is put back after."""
    logger = logging.getLogger("vaultauth")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def index_bytes(settings: Settings) -> bytes:
    """The SQLite index file and its -wal/-shm companions, or a dump of every PostgreSQL row."""
    url = make_url(settings.resolved_index_url())
    if url.get_backend_name() == "sqlite":
        assert url.database
        files = [Path(url.database + suffix) for suffix in ("", "-wal", "-shm")]
        assert files[0].exists()
        return b"".join(f.read_bytes() for f in files if f.exists())
    engine = create_engine(settings.resolved_index_url())
    try:
        with engine.connect() as connection:
            rows = [
                *connection.execute(text("SELECT * FROM auth_records")).all(),
                *connection.execute(text("SELECT * FROM api_keys")).all(),
            ]
    finally:
        engine.dispose()
    return repr(rows).encode()
