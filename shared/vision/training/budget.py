"""Training-time budgets: one deadline type and the arithmetic every fit does with it.

A :class:`TimeBudget` is a deadline on a monotonic clock, or unlimited (Regular training has no
budget). Everything that spends wall clock asks it the same questions:

* the trainer: Advanced training's whole-iteration budget, less a tail kept for the held-out
  predictions and the export, shared out among its fits (:meth:`TimeBudget.less`,
  :meth:`TimeBudget.share`);
* the classifier: crop views only while they end within a share of its fit's budget, fine-tuning
  steps while one more ends in time (:meth:`TimeBudget.affords`), re-planned once from a measured
  step (:meth:`TimeBudget.affordable_steps`);
* the detector: :class:`StepPlanner` turns measured step times into an affordable step count,
  re-planning over the first three quarters of the fit.

Pure Python, so that it can be tested with a fake clock and no torch.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Clock", "StepPlanner", "TimeBudget"]

# A monotonic clock in seconds: time.monotonic by default; the classifier passes
# time.perf_counter, the clock it times its backbone passes with.
Clock = Callable[[], float]

# StepPlanner: re-plan at these steps, then every _REPLAN_EVERY steps in the first three quarters
# of the plan (so that the learning rate's tail stays smooth), from the median of the last
# _WINDOW step times (the first steps are slow, and a busy machine may calm down).
_REPLAN_AT = (5, 25)
_REPLAN_EVERY = 50
_WINDOW = 20


@dataclass(frozen=True)
class TimeBudget:
    """Wall clock to spend: ``deadline`` on ``clock`` (``None``: unlimited).

    ``seconds`` is its length when it was made (``None``: unlimited). Make one with
    :meth:`from_now` or :meth:`unlimited`.
    """

    deadline: float | None = None
    seconds: float | None = None
    clock: Clock = field(default=time.monotonic, repr=False, compare=False)

    @classmethod
    def from_now(cls, seconds: float | None, clock: Clock = time.monotonic) -> TimeBudget:
        """``seconds`` from now on ``clock``; ``None`` gives an unlimited budget."""
        if seconds is None:
            return cls(clock=clock)
        return cls(clock() + seconds, seconds, clock)

    @classmethod
    def unlimited(cls, clock: Clock = time.monotonic) -> TimeBudget:
        return cls(clock=clock)

    @property
    def limited(self) -> bool:
        return self.deadline is not None

    def left(self, now: float | None = None) -> float | None:
        """Seconds until the deadline (negative once past); ``None`` when unlimited."""
        if self.deadline is None:
            return None
        return self.deadline - (self.clock() if now is None else now)

    def less(self, seconds: float) -> TimeBudget:
        """The same budget ending ``seconds`` sooner: a reserve kept for what comes after."""
        if self.deadline is None or self.seconds is None:
            return self
        return TimeBudget(self.deadline - seconds, self.seconds - seconds, self.clock)

    def share(self, fraction: float, *, at_least: float = 0.0) -> TimeBudget:
        """A sub-budget starting now: ``fraction`` of the seconds left, but at least ``at_least``
        (a fit too short to do anything is useless; the caller overruns by that much instead).
        Unlimited stays unlimited."""
        if self.deadline is None:
            return self
        now = self.clock()
        seconds = max(at_least, fraction * (self.deadline - now))
        return TimeBudget(now + seconds, seconds, self.clock)

    def affords(self, seconds: float, margin: float = 0.0, now: float | None = None) -> bool:
        """Whether ``seconds`` more work, and ``margin`` after it, end by the deadline (always,
        when unlimited)."""
        if self.deadline is None:
            return True
        return (self.clock() if now is None else now) + seconds + margin <= self.deadline

    def affordable_steps(
        self,
        done: int,
        seconds_per_step: float,
        *,
        at_least: int,
        at_most: int,
        margin: float = 0.0,
        now: float | None = None,
    ) -> int:
        """Steps in all (``done`` already run) that end by the deadline, keeping ``margin``, at
        ``seconds_per_step`` each; clamped to ``at_least..at_most`` (``at_most`` when unlimited)."""
        if self.deadline is None:
            return at_most
        left = self.deadline - (self.clock() if now is None else now) - margin
        return min(at_most, max(at_least, done + int(left / seconds_per_step)))


class StepPlanner:
    """Fits an optimiser's step count into a budget from the step times measured so far.

    :meth:`record` each step's seconds. Before a step, :meth:`replan` gives the count to aim for:
    at steps 5 and 25, then every 50th step while in the first three quarters of the plan, the
    steps the budget affords at the median of the last 20 step times, between one more than done
    and ``wanted`` (so it can also go back up); other steps keep the plan. :meth:`affords_next`
    says whether one more step ends in time. Unlimited, or before any step was timed: the plan
    stands and every step is affordable.
    """

    def __init__(self, budget: TimeBudget, wanted: int) -> None:
        self.budget = budget
        self.wanted = wanted
        self._times: list[float] = []

    def record(self, seconds: float) -> None:
        self._times.append(seconds)

    @property
    def seconds_per_step(self) -> float | None:
        """The median of the last step times; ``None`` before the first."""
        return statistics.median(self._times[-_WINDOW:]) if self._times else None

    def replan(self, step: int, total: int, now: float) -> int:
        """The step count to aim for before running step ``step`` (``total``: the current plan)."""
        per_step = self.seconds_per_step
        if not self.budget.limited or per_step is None:
            return total
        due = step in _REPLAN_AT or (step % _REPLAN_EVERY == 0 and step < 3 * total // 4)
        if not due:
            return total
        return self.budget.affordable_steps(step, per_step, at_least=step + 1, at_most=self.wanted, now=now)

    def affords_next(self, now: float) -> bool:
        per_step = self.seconds_per_step
        return per_step is None or self.budget.affords(per_step, now=now)
