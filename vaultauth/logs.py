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
import time
import traceback
from collections.abc import Sequence
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
        fields = getattr(record, "fields", None)
        line = self.line(
            record.created,
            record.levelname.lower(),
            record.name,
            record.getMessage(),
            fields if isinstance(fields, dict) else None,
        )
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _exc, tb = record.exc_info
            line["exc_type"] = exc_type.__name__
            line["stack"] = [
                f"{frame.filename}:{frame.lineno} in {frame.name}"
                for frame in traceback.extract_tb(tb)
            ]
        return _encode_line(line)

    def line(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        fields: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """The object of one line (the fields after the five every line has)."""
        line: dict[str, Any] = {
            "ts": self._timestamp(created),
            "level": level,
            "logger": logger,
            "message": message,
            "request_id": REQUEST_ID.get(),
        }
        if fields:
            line.update(fields)
        return line


class JsonLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The facade's handler: JSON lines (JsonFormatter) to a stream, stderr by default. It can
    also write an event without a LogRecord (`write_event`, used by `log_event`)."""

    def write_event(self, logger: str, message: str, fields: dict[str, Any]) -> None:
        self.write_events([(logger, message, fields)])

    def write_events(self, events: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """INFO lines of (logger name, message, fields), written and flushed together."""
        formatter = self.formatter
        assert isinstance(formatter, JsonFormatter)
        now = time.time()
        text = "".join(
            _encode_line(formatter.line(now, "info", logger, message, fields)) + self.terminator
            for logger, message, fields in events
        )
        try:
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(text)
                self.stream.flush()
        except Exception:
            logger, message, _fields = events[0]
            self.handleError(logging.makeLogRecord({"name": logger, "msg": message}))


def log_event(logger: logging.Logger, message: str, fields: dict[str, Any]) -> None:
    """`logger.info(message, extra={"fields": fields})`, the kind of line every request writes
    (two per API call: access and audit; `log_events` writes them together).

    In the facade's own configuration the record would meet nothing but one JsonLineHandler:
    then the line is written to it directly, the same line for a third of the CPU (a LogRecord
    and logging's dispatch cost about as much as a cached resolve's other work; see
    docs/benchmarks.md). Any other configuration (more handlers, filters, another formatter,
    a test's capture handler) gets the LogRecord, through logging as usual.
    """
    log_events([(logger, message, fields)])


def log_events(events: Sequence[tuple[logging.Logger, str, dict[str, Any]]]) -> None:
    """`log_event` for each (logger, message, fields), in order. When the lines would all be
    written to the same JsonLineHandler, they are written together: a request's access and
    audit lines cost one write and one flush, not two."""
    enabled = [
        (event, _only_json_handler(event[0]))
        for event in events
        if event[0].isEnabledFor(logging.INFO)
    ]
    handlers = {handler for _event, handler in enabled}
    shared = handlers.pop() if len(handlers) == 1 else None
    if shared is not None:
        shared.write_events(
            [(logger.name, message, fields) for (logger, message, fields), _ in enabled]
        )
        return
    for (logger, message, fields), handler in enabled:
        if handler is None:
            logger.info(message, extra={"fields": fields})
        else:
            handler.write_event(logger.name, message, fields)


def _only_json_handler(logger: logging.Logger) -> JsonLineHandler | None:
    """The JsonLineHandler that alone would handle `logger`'s INFO records, if there is one:
    the logger has no handler nor filter and propagates to a parent with exactly that handler,
    which filters nothing and formats with JsonFormatter."""
    parent = logger.parent
    if logger.handlers or logger.filters or not logger.propagate or parent is None:
        return None
    if parent.filters or parent.propagate or len(parent.handlers) != 1:
        return None
    handler = parent.handlers[0]
    if (
        type(handler) is not JsonLineHandler
        or handler.filters
        or handler.level > logging.INFO
        or type(handler.formatter) is not JsonFormatter
    ):
        return None
    return handler


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
                "()": JsonLineHandler,
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
