"""The rate limiter's token buckets and the client address it keys them by (services/common/server.py)."""

from __future__ import annotations

from attune.services.common.server import RateLimiter, client_address


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate():
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.admit("a") for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one call's worth at 2 calls/s
    assert [limiter.admit("a") for _ in range(2)] == [True, False]
    clock.now += 60  # refills up to the burst, not beyond
    assert [limiter.admit("a") for _ in range(4)] == [True, True, True, False]


def test_each_client_has_its_own_bucket_and_the_oldest_is_forgotten():
    clock = Clock()
    limiter = RateLimiter(1.0, 1, clock=clock, max_clients=2)
    assert limiter.admit("a") and not limiter.admit("a")
    assert limiter.admit("b"), "another client is not slowed by the first"
    assert limiter.admit("c")
    assert list(limiter.buckets) == ["b", "c"]
    assert limiter.admit("a"), "a forgotten client starts with a full bucket"


def test_the_default_burst_is_one_seconds_worth():
    assert RateLimiter(0.2).burst == 1
    assert RateLimiter(7.5).burst == 8


def test_the_client_is_its_address_whatever_the_port():
    assert client_address("ipv4:10.0.0.7:51234") == "ipv4:10.0.0.7"
    assert client_address("ipv6:[::1]:40000") == "ipv6:[::1]"
    assert client_address("unix:/tmp/socket") == "unix:/tmp/socket"
