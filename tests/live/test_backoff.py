"""Reconnect delays: growth, cap, jitter bounds, a floor, and a reset only after a healthy connection."""

import random

import pytest

from tui.live.backoff import Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Extreme(random.Random):
    """Always draws the top (or the bottom) of the jitter range, to see the bounds exactly."""

    def __init__(self, top: bool):
        super().__init__(0)
        self.top = top

    def uniform(self, a: float, b: float) -> float:
        return b if self.top else a


def test_ceiling_doubles_up_to_the_cap():
    backoff = Backoff(base=0.5, cap=30.0, rng=Extreme(top=True))
    delays = [backoff.next_delay() for _ in range(10)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
    assert backoff.attempts == 10


def test_delay_never_below_half_the_base():
    backoff = Backoff(base=0.5, cap=30.0, rng=Extreme(top=False))
    assert {backoff.next_delay() for _ in range(20)} == {0.25}


def test_jitter_stays_within_bounds_and_spreads():
    backoff = Backoff(base=0.5, cap=10.0, rng=random.Random(3))
    for attempt in range(40):
        delay = backoff.next_delay()
        assert 0.25 <= delay <= min(10.0, 0.5 * 2**attempt)
    many = [Backoff(base=1.0, cap=10.0, rng=random.Random(seed)) for seed in range(50)]
    for b in many:
        for _ in range(5):
            b.next_delay()
    sixth = {round(b.next_delay(), 3) for b in many}
    assert len(sixth) > 40  # jittered: fifty channels do not all retry at the same instant


def test_huge_attempt_counts_do_not_overflow():
    backoff = Backoff(base=0.5, cap=30.0, rng=Extreme(top=True))
    backoff.attempts = 10_000
    assert backoff.next_delay() == 30.0


def test_reset_only_after_a_connection_that_lived_long_enough():
    clock = Clock()
    backoff = Backoff(base=0.5, cap=30.0, healthy_after=5.0, rng=Extreme(top=True), clock=clock)
    for _ in range(4):
        backoff.next_delay()
    # A server that accepts and then closes at once: the attempts keep growing.
    backoff.connected()
    clock.now += 1.0
    assert backoff.disconnected() is False
    assert backoff.attempts == 4
    assert backoff.next_delay() == 8.0
    # A connection that lived past healthy_after starts the count over.
    backoff.connected()
    clock.now += 5.0
    assert backoff.disconnected() is True
    assert backoff.attempts == 0
    assert backoff.next_delay() == 0.5


def test_disconnect_without_connect_is_not_healthy():
    clock = Clock()
    backoff = Backoff(clock=clock, rng=Extreme(top=True))
    backoff.next_delay()
    clock.now += 100.0
    assert backoff.disconnected() is False
    assert backoff.attempts == 1


def test_accept_then_close_loop_backs_off_to_the_cap():
    """The websockets failure mode: 1,500 reconnects in 2 s. With this backoff the waits add up instead."""
    clock = Clock()
    backoff = Backoff(base=0.5, cap=30.0, healthy_after=5.0, rng=random.Random(1), clock=clock)
    waited = 0.0
    for _ in range(30):
        backoff.connected()
        clock.now += 0.01  # accepted, then closed
        backoff.disconnected()
        delay = backoff.next_delay()
        waited += delay
        clock.now += delay
    assert waited > 200  # about 15 s per attempt once capped, so thirty attempts take minutes, not 2 s


@pytest.mark.parametrize("base,cap", [(0.5, 0.1), (2.0, 2.0)])
def test_odd_settings_stay_sane(base, cap):
    backoff = Backoff(base=base, cap=cap, rng=random.Random(0))
    for _ in range(10):
        assert base / 2 <= backoff.next_delay() <= max(cap, base / 2)
