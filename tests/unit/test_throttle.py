"""FailedAuthThrottle: a sliding minute per address, bounded memory, off at 0."""

from __future__ import annotations

from vaultauth.throttle import WINDOW_SECONDS, FailedAuthThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_limited_past_the_limit_and_freed_as_the_window_slides() -> None:
    clock = Clock()
    throttle = FailedAuthThrottle(3, clock=clock)
    assert [throttle.failed("10.0.0.1") for _ in range(3)] == [None, None, None]
    clock.now += 10
    wait = throttle.failed("10.0.0.1")
    assert wait == WINDOW_SECONDS - 10  # until the oldest failure leaves the window
    assert throttle.failed("10.0.0.2") is None  # another address counts for itself
    clock.now += WINDOW_SECONDS - 10
    assert throttle.failed("10.0.0.1") is None


def test_zero_turns_it_off() -> None:
    throttle = FailedAuthThrottle(0)
    assert all(throttle.failed("a") is None for _ in range(1000))


def test_memory_is_bounded_by_the_number_of_addresses() -> None:
    throttle = FailedAuthThrottle(1, max_addresses=2)
    for address in ("a", "b", "c"):
        throttle.failed(address)
    assert throttle.failed("a") is None  # "a" was forgotten to make room for "c"
    assert throttle.failed("c") is not None
