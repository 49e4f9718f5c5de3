"""The training-time budget: deadlines, shares, reserves and the detector's step planner, on a
fake clock (no sleeping)."""

from __future__ import annotations

import time

import pytest

from shared.vision.training import budget as budget_module
from shared.vision.training.budget import StepPlanner, TimeBudget


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_a_budget_is_a_deadline_from_now() -> None:
    clock = FakeClock()
    budget = TimeBudget.from_now(60.0, clock)
    assert budget.limited and budget.deadline == 1060.0 and budget.seconds == 60.0
    clock.advance(15.0)
    assert budget.left() == 45.0
    assert budget.left(now=1070.0) == -10.0


def test_unlimited_affords_everything_and_shares_stay_unlimited() -> None:
    for budget in (TimeBudget.unlimited(), TimeBudget.from_now(None)):
        assert not budget.limited and budget.left() is None and budget.seconds is None
        assert budget.affords(1e9, margin=1e9)
        assert budget.share(0.5, at_least=5.0).seconds is None
        assert budget.less(10.0).deadline is None
        assert budget.affordable_steps(3, 1.0, at_least=4, at_most=400) == 400


def test_the_default_clock_is_monotonic() -> None:
    before = time.monotonic()
    budget = TimeBudget.from_now(10.0)
    assert budget.deadline is not None and before + 10.0 <= budget.deadline <= time.monotonic() + 10.0


def test_less_keeps_a_reserve_at_the_end() -> None:
    clock = FakeClock()
    budget = TimeBudget.from_now(100.0, clock).less(7.0)
    assert budget.deadline == 1093.0 and budget.seconds == 93.0


def test_share_is_a_fraction_of_what_is_left_with_a_floor() -> None:
    clock = FakeClock()
    iteration = TimeBudget.from_now(600.0, clock).less(15.0)  # Advanced: the tail kept for the export
    clock.advance(85.0)
    half = iteration.share(0.5, at_least=5.0)
    assert half.seconds == 250.0 and half.deadline == 1085.0 + 250.0
    clock.advance(495.0)  # past the iteration's deadline: the floor still gives a usable fit
    assert iteration.share(1.0, at_least=5.0).seconds == 5.0


def test_affords_with_a_margin() -> None:
    clock = FakeClock()
    budget = TimeBudget.from_now(10.0, clock)
    assert budget.affords(9.5, margin=0.5)
    assert not budget.affords(9.5, margin=0.6)
    assert budget.affords(4.0, now=1006.0) and not budget.affords(4.1, now=1006.0)


def test_affordable_steps_counts_whole_steps_within_bounds() -> None:
    clock = FakeClock()
    budget = TimeBudget.from_now(10.0, clock)
    clock.advance(2.0)  # 8 s left
    assert budget.affordable_steps(2, 0.75, at_least=2, at_most=100) == 2 + 10
    assert budget.affordable_steps(2, 0.75, at_least=2, at_most=100, margin=0.5) == 2 + 10
    assert budget.affordable_steps(2, 0.75, at_least=2, at_most=100, margin=0.6) == 2 + 9
    assert budget.affordable_steps(2, 0.75, at_least=2, at_most=5) == 5
    assert budget.affordable_steps(2, 100.0, at_least=3, at_most=100) == 3
    assert budget.affordable_steps(2, 0.75, at_least=2, at_most=100, now=1009.0) == 2 + 1


def _run(planner: StepPlanner, clock: FakeClock, total: int, step_seconds: list[float]) -> tuple[int, list[int]]:
    """The detector's loop with fake steps: (steps run, the plans it aimed at)."""
    plans = [total]
    step = 0
    while step < total:
        started = clock()
        total = planner.replan(step, total, started)
        if total != plans[-1]:
            plans.append(total)
        if not planner.affords_next(started):
            break
        clock.advance(step_seconds[min(step, len(step_seconds) - 1)])
        step += 1
        planner.record(clock() - started)
    return step, plans


def test_step_planner_cuts_the_plan_to_the_budget_and_stops_in_time() -> None:
    clock = FakeClock()
    budget = TimeBudget.from_now(100.0, clock).less(3.0)
    steps, plans = _run(StepPlanner(budget, wanted=500), clock, 500, [2.0] * 5 + [0.5])
    # at step 5 (10 s spent, median 2 s): 5 + 87 / 2; at 25 (20 s spent, median 0.5 s): 25 + 77 / 0.5
    assert plans[:3] == [500, 5 + 43, 25 + 154]
    assert clock() <= budget.deadline  # type: ignore[operator]
    assert steps == plans[-1]


def test_step_planner_goes_back_up_but_never_beyond_what_was_wanted() -> None:
    clock = FakeClock()
    budget = TimeBudget.from_now(1000.0, clock)
    steps, plans = _run(StepPlanner(budget, wanted=300), clock, 300, [30.0] * 5 + [0.1])
    assert plans[1] == 5 + 850 // 30  # 33: slow first steps
    assert plans[-1] == 300 and steps == 300  # fast ones earn the recipe's count back


def test_step_planner_replans_only_on_schedule() -> None:
    clock = FakeClock()
    planner = StepPlanner(TimeBudget.from_now(1000.0, clock), wanted=400)
    assert planner.replan(0, 400, clock()) == 400  # nothing timed yet
    planner.record(100.0)
    assert planner.seconds_per_step == 100.0
    assert planner.replan(6, 400, clock()) == 400  # not a re-planning step
    assert planner.replan(5, 400, clock()) == 5 + 10
    assert planner.replan(50, 60, clock()) == 60  # 50 is past three quarters of 60
    assert planner.replan(50, 400, clock()) == 50 + 10
    assert planner.replan(5, 400, clock() + 999.0) == 6  # always one more step than done


def test_step_planner_uses_the_median_of_the_last_twenty_steps() -> None:
    planner = StepPlanner(TimeBudget.unlimited(), wanted=10)
    for seconds in [100.0] * 5 + [1.0, 3.0] * 10:
        planner.record(seconds)
    assert planner.seconds_per_step == 2.0
    assert planner.replan(5, 10, 0.0) == 10 and planner.affords_next(0.0)  # unlimited


def test_stopping_needs_a_whole_median_step_before_the_deadline() -> None:
    clock = FakeClock()
    planner = StepPlanner(TimeBudget.from_now(10.0, clock), wanted=10)
    assert planner.affords_next(clock())  # nothing timed: run the first step
    planner.record(4.0)
    assert planner.affords_next(1006.0) and not planner.affords_next(1006.5)


def test_public_names() -> None:
    assert budget_module.__all__ == sorted(budget_module.__all__)
    assert set(budget_module.__all__) == {"Clock", "StepPlanner", "TimeBudget"}


@pytest.mark.parametrize("fraction", [0.25, 0.5, 1.0])
def test_share_starts_now(fraction: float) -> None:
    clock = FakeClock()
    budget = TimeBudget.from_now(40.0, clock)
    clock.advance(20.0)
    part = budget.share(fraction)
    assert part.deadline == clock() + fraction * 20.0
