"""Benchmarks for cvstudio: each module measures one area and contributes rows to one table.

A benchmark module (``benchmarks/<name>.py``, listed in ``benchmarks.__main__.BENCHMARKS``)
exposes ``run(args) -> list[Row]`` and, optionally, ``add_arguments(parser)`` for its own
command-line options. ``python -m benchmarks [name ...]`` runs the selected modules (default all),
prints one markdown table and writes the same rows to ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Row", "at_least", "at_most", "median", "progress"]


@dataclass(frozen=True)
class Row:
    """One measured result.

    ``target`` is the goal in words ("≥ 100 images/s"); ``met`` is True/False when the result was
    checked against it and None when there is no target (a figure reported for information).
    """

    name: str
    value: float | int | str | None
    unit: str = ""
    target: str = ""
    note: str = ""
    met: bool | None = None

    def result(self) -> str:
        if self.value is None:
            return "n/a"
        if isinstance(self.value, float):
            magnitude = abs(self.value)
            text = (
                f"{self.value:,.0f}"
                if magnitude >= 100
                else f"{self.value:,.1f}"
                if magnitude >= 10
                else f"{self.value:.2f}"
            )
        elif isinstance(self.value, int):
            text = f"{self.value:,}"
        else:
            text = self.value
        return f"{text} {self.unit}".strip()

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "result": self.result()}


def at_least(value: float | None, threshold: float) -> bool | None:
    return None if value is None else value >= threshold


def at_most(value: float | None, threshold: float) -> bool | None:
    return None if value is None else value <= threshold


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def progress(message: str) -> None:
    """One line of progress on stderr (stdout carries only the table)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)
