"""HeldHeadTransport: the one write it keeps back leaves with the next, and is never lost."""

from __future__ import annotations

from vaultauth.api.http_protocol import HeldHeadTransport


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def make() -> tuple[HeldHeadTransport, RecordingTransport]:
    real = RecordingTransport()
    return HeldHeadTransport(real), real  # type: ignore[arg-type]


def test_a_held_head_leaves_with_the_body_in_one_write() -> None:
    held, real = make()
    held.hold_next_write()
    held.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert real.writes == []
    held.write(b"{}")
    assert real.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    held.write(b"next")  # nothing is held any more
    assert real.writes[-1] == b"next"


def test_writes_go_straight_through_unless_a_hold_was_asked() -> None:
    held, real = make()
    held.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    held.write(b"a")
    assert real.writes == [b"HTTP/1.1 100 Continue\r\n\r\n", b"a"]


def test_release_sends_what_is_held_once() -> None:
    held, real = make()
    held.release()  # nothing held: nothing written
    assert real.writes == []
    held.hold_next_write()
    held.write(bytearray(b"HTTP/1.1 204 No Content\r\n\r\n"))
    held.release()
    held.release()
    assert real.writes == [b"HTTP/1.1 204 No Content\r\n\r\n"]


def test_a_hold_that_met_no_write_is_dropped_by_release() -> None:
    held, real = make()
    held.hold_next_write()
    held.release()
    held.write(b"a")
    assert real.writes == [b"a"]


def test_close_sends_what_is_held_first() -> None:
    held, real = make()
    held.hold_next_write()
    held.write(b"head")
    held.close()
    assert real.writes == [b"head"]
    assert real.closed
    assert held.is_closing()


def test_abort_drops_what_is_held() -> None:
    held, real = make()
    held.hold_next_write()
    held.write(b"head")
    held.abort()
    held.release()
    assert real.writes == []
    assert real.aborted


def test_everything_else_is_the_transports_own() -> None:
    held, _real = make()
    assert held.get_extra_info("peername") == "info:peername"
