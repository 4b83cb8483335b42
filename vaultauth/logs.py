"""JSON logs: one object per line, each carrying the id of the request it belongs to.

Every line has `ts`, `level`, `logger`, `message` and `request_id` (null outside a request),
plus the fields a call passes as `extra={"fields": {...}}`. An exception is logged as its type
and stack frames only, never its message: third-party messages can carry Vault's URL and body.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json

REQUEST_ID: ContextVar[str | None] = ContextVar("vaultauth_request_id", default=None)

# What we accept from a client's X-Request-ID; anything else is replaced by our own id.
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


# Generated ids: a random per-process prefix and a counter, unique across processes and cheaper
# than a uuid4 per request (they identify a request; they grant nothing).
_ID_PREFIX = os.urandom(8).hex()
_id_counter = itertools.count(1)


def _new_id_prefix() -> None:
    global _ID_PREFIX
    _ID_PREFIX = os.urandom(8).hex()


os.register_at_fork(after_in_child=_new_id_prefix)


def request_id_from(incoming: str | None) -> str:
    """The client's X-Request-ID when it is a plain token, else a fresh one."""
    if incoming is not None and _REQUEST_ID_RE.fullmatch(incoming):
        return incoming
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


def _encode_line(line: dict[str, Any]) -> str:
    """Compact JSON (UTF-8 text, as RFC 8259 has it); what JSON cannot hold becomes `str()`.
    pydantic-core's encoder: ~0.8 µs a line where json's takes ~3, and there are two per request."""
    return to_json(line, fallback=str).decode()


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._second_text = ""

    def _timestamp(self, created: float) -> str:
        """`2026-11-30T16:58:37.435+00:00`; the text up to the second is reused within it (a
        line costs a few microseconds, and there are two per request)."""
        second = int(created)
        if second != self._second:
            moment = datetime.fromtimestamp(second, UTC)
            self._second, self._second_text = second, moment.strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._second_text}.{int((created - second) * 1000):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": REQUEST_ID.get(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _exc, tb = record.exc_info
            line["exc_type"] = exc_type.__name__
            line["stack"] = [
                f"{frame.filename}:{frame.lineno} in {frame.name}"
                for frame in traceback.extract_tb(tb)
            ]
        return _encode_line(line)


def skip_unused_record_fields() -> None:
    """Stop `logging` collecting what our JSON lines never show (thread and process names, the
    caller's file and line): ~6 of the ~16 µs a log line costs, once per request. These are the
    switches the logging HOWTO's "Optimization" section names."""
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None


def logging_config(level: str = "info") -> dict[str, Any]:
    """A `logging.config.dictConfig` (also uvicorn's `log_config`) sending JSON to stderr.

    uvicorn's own access log is silenced: the facade writes one access line per request itself,
    with the route template rather than the raw path and query.
    """
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "vaultauth": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }
