"""log_event: the per-request lines, written straight to the facade's JSON handler when nothing
else would see them, and through logging otherwise, the same line either way."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator

import pytest

from vaultauth.logs import REQUEST_ID, JsonFormatter, JsonLineHandler, log_event, log_events

FIELDS = {"method": "POST", "route": "/v1/x/{id}", "status": 200, "duration_ms": 1.5}


Family = tuple[logging.Logger, logging.Logger, JsonLineHandler, io.StringIO]


@pytest.fixture
def family() -> Iterator[Callable[[], Family]]:
    """Makes a parent logger with the facade's handler (as logging_config sets it) and a
    child. Call it in the test body: pytest attaches its own capture handler to every
    non-propagating logger that exists when a test phase starts, and then the configuration
    is no longer the facade's own."""
    made: list[Family] = []

    def make() -> Family:
        parent = logging.getLogger(f"log_event_test_{uuid.uuid4().hex}")
        child = logging.getLogger(f"{parent.name}.access")
        stream = io.StringIO()
        handler = JsonLineHandler(stream)
        handler.setFormatter(JsonFormatter())
        parent.addHandler(handler)
        parent.setLevel(logging.INFO)
        parent.propagate = False
        made.append((parent, child, handler, stream))
        return made[-1]

    yield make
    for parent, _child, handler, _stream in made:
        parent.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def without_ts(line: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in line.items() if key != "ts"}


def test_the_direct_line_is_the_line_logging_writes(
    family: Callable[[], Family],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _parent, child, _handler, stream = family()
    token = REQUEST_ID.set("req-1")
    try:
        child.info("request", extra={"fields": FIELDS})
        handled: list[logging.LogRecord] = []
        monkeypatch.setattr(logging.Logger, "handle", lambda _self, record: handled.append(record))
        log_event(child, "request", FIELDS)
    finally:
        REQUEST_ID.reset(token)
    assert handled == []  # no LogRecord: written straight to the handler
    through_logging, direct = lines(stream)
    assert list(direct) == list(through_logging)  # the same keys, in the same order
    assert without_ts(direct) == without_ts(through_logging)
    assert direct["request_id"] == "req-1"
    assert direct["logger"] == child.name


def test_any_other_configuration_gets_the_record_through_logging(
    family: Callable[[], Family],
) -> None:
    _parent, child, _handler, stream = family()
    seen: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    child.addHandler(Capture())
    log_event(child, "request", FIELDS)
    assert [record.fields for record in seen] == [FIELDS]  # type: ignore[attr-defined]
    assert without_ts(lines(stream)[0])["status"] == 200  # and it still reaches the parent's


def test_a_filter_is_honoured(
    family: Callable[[], Family],
) -> None:
    _parent, child, handler, stream = family()
    handler.addFilter(lambda record: record.getMessage() != "request")
    try:
        log_event(child, "request", FIELDS)
    finally:
        handler.filters.clear()
    assert stream.getvalue() == ""


def test_nothing_is_written_below_the_level(
    family: Callable[[], Family],
) -> None:
    _parent, child, _handler, stream = family()
    child.setLevel(logging.WARNING)
    log_event(child, "request", FIELDS)
    assert stream.getvalue() == ""


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


AUDIT = {"operation": "resolve", "status": 200}


def test_a_requests_lines_are_written_together(family: Callable[[], Family]) -> None:
    parent, child, handler, _stream = family()
    audit = logging.getLogger(f"{parent.name}.audit")
    counting = CountingStream()
    handler.setStream(counting)
    log_events([(child, "request", FIELDS), (audit, "api call", AUDIT)])
    assert counting.flushes == 1
    access_line, audit_line = lines(counting)
    assert (access_line["logger"], access_line["status"]) == (child.name, 200)
    assert (audit_line["logger"], audit_line["operation"]) == (audit.name, "resolve")
    # The same lines log_event writes one by one.
    log_event(child, "request", FIELDS)
    log_event(audit, "api call", AUDIT)
    assert [without_ts(line) for line in lines(counting)[2:]] == [
        without_ts(access_line),
        without_ts(audit_line),
    ]


def test_lines_bound_elsewhere_go_one_by_one(family: Callable[[], Family]) -> None:
    parent, child, _handler, stream = family()
    audit = logging.getLogger(f"{parent.name}.audit")
    seen: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    audit.addHandler(Capture())
    log_events([(child, "request", FIELDS), (audit, "api call", AUDIT)])
    assert [record.getMessage() for record in seen] == ["api call"]
    assert [line["message"] for line in lines(stream)] == ["request", "api call"]


def test_a_disabled_logger_writes_nothing_of_the_pair(family: Callable[[], Family]) -> None:
    parent, child, _handler, stream = family()
    audit = logging.getLogger(f"{parent.name}.audit")
    audit.setLevel(logging.WARNING)
    log_events([(child, "request", FIELDS), (audit, "api call", AUDIT)])
    assert [line["message"] for line in lines(stream)] == ["request"]
