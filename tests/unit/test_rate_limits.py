"""The token buckets behind the per-key request limits, on an injected clock; and what turns them on."""

from __future__ import annotations

import threading

import pytest

from shared.api.rate_limits import TokenBuckets, retry_after_seconds
from shared.settings import InvalidSettings, load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_rate_applies() -> None:
    clock = Clock()
    buckets = TokenBuckets(2.0, 3, clock=clock)
    assert [buckets.take(b"k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take(b"k") == pytest.approx(0.5)  # one token comes back every half second
    clock.now += 0.5
    assert buckets.take(b"k") == 0.0
    assert buckets.take(b"k") == pytest.approx(0.5)


def test_a_refused_request_costs_nothing_and_the_wait_shrinks() -> None:
    clock = Clock()
    buckets = TokenBuckets(1.0, 1, clock=clock)
    assert buckets.take(b"k") == 0.0
    assert [buckets.take(b"k") for _ in range(5)] == [pytest.approx(1.0)] * 5
    clock.now += 0.75
    assert buckets.take(b"k") == pytest.approx(0.25)
    clock.now += 0.25
    assert buckets.take(b"k") == 0.0


def test_idle_keys_refill_to_the_burst_and_no_further() -> None:
    clock = Clock()
    buckets = TokenBuckets(10.0, 2, clock=clock)
    buckets.take(b"k")
    clock.now += 3600
    assert [buckets.take(b"k") for _ in range(3)] == [0.0, 0.0, pytest.approx(0.1)]


def test_keys_are_limited_separately() -> None:
    clock = Clock()
    buckets = TokenBuckets(1.0, 1, clock=clock)
    assert buckets.take(b"a") == 0.0
    assert buckets.take(b"a") > 0
    assert buckets.take(b"b") == 0.0


def test_memory_is_bounded_by_forgetting_the_least_recently_used_key() -> None:
    clock = Clock()
    buckets = TokenBuckets(1.0, 1, max_keys=2, clock=clock)
    buckets.take(b"a")
    buckets.take(b"b")
    assert buckets.take(b"a") > 0  # a is now the most recently used
    buckets.take(b"c")  # b is forgotten
    assert len(buckets) == 2
    assert buckets.take(b"a") > 0, "a was used last, so it is still remembered (and still empty)"
    assert buckets.take(b"b") == 0.0, "b was forgotten, so it starts full again"


def test_threads_share_one_bucket_exactly() -> None:
    buckets = TokenBuckets(1.0, 50, clock=Clock())  # the clock stands still: no refill
    passed: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(20):
            ok = buckets.take(b"k") == 0.0
            with lock:
                passed.append(ok)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(passed), sum(passed)) == (160, 50)


@pytest.mark.parametrize(("wait", "seconds"), [(0.001, 1), (0.5, 1), (1.0, 1), (1.2, 2), (59.99, 60)])
def test_retry_after_is_whole_seconds_rounded_up_and_never_zero(wait: float, seconds: int) -> None:
    assert retry_after_seconds(wait) == seconds


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0), (float("inf"), 1)])
def test_a_bucket_that_could_never_work_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBuckets(rate, burst)


def test_limits_are_off_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRAINING_RATE_LIMIT", "PREDICTION_RATE_LIMIT", "TRAINING_RATE_BURST", "PREDICTION_RATE_BURST"):
        monkeypatch.delenv(f"CVSTUDIO_{name}", raising=False)
    settings = load_settings()
    assert (settings.training_rate_limit, settings.prediction_rate_limit) == (0.0, 0.0)
    monkeypatch.setenv("CVSTUDIO_TRAINING_RATE_LIMIT", "10")
    monkeypatch.setenv("CVSTUDIO_PREDICTION_RATE_BURST", "20")
    settings = load_settings()
    assert (settings.training_rate_limit, settings.prediction_rate_burst) == (10.0, 20)


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "ten"])
def test_a_rate_limit_that_is_not_a_rate_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CVSTUDIO_PREDICTION_RATE_LIMIT", value)
    with pytest.raises(InvalidSettings, match="prediction_rate_limit"):
        load_settings()
