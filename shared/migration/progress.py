"""What `cvstudio migrate` says while it works (one progress line on stderr) and when it is done (a summary).

On a terminal the line is redrawn in place (``\\r``) at most ten times a second; elsewhere (a log, a pipe) a
new line is written at most every few seconds, so a long migration's log stays readable. Plain text only.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

__all__ = ["Progress", "Tally"]

_BAR_WIDTH = 24
_MAX_FAILURES_SHOWN = 20
_MAX_FAILURES_KEPT = 1000  # a run where every image fails must not keep a message per image


@dataclass
class Tally:
    projects_created: int = 0
    projects_resumed: int = 0
    projects_failed: int = 0
    tags_created: int = 0
    tags_existing: int = 0
    images_total: int = 0
    images_copied: int = 0
    images_present: int = 0  # on the target already: recorded in the state file, or OKDuplicate
    images_failed: int = 0
    failures: list[str] = field(default_factory=list)
    failure_count: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def images_done(self) -> int:
        return self.images_copied + self.images_present + self.images_failed

    @property
    def failed(self) -> bool:
        return bool(self.projects_failed or self.images_failed)


class Progress:
    """Thread-safe counters plus their display."""

    def __init__(self, stream: TextIO | None = None, *, interval_s: float | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s if interval_s is not None else (0.1 if self.tty else 5.0)
        self.tally = Tally()
        self.project = ""
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._shown_at = 0.0
        self._open_line = False

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self.tally, name, getattr(self.tally, name) + value)
        self.show()

    def fail(self, what: str, *, images: int = 0, project: bool = False) -> None:
        with self._lock:
            self.tally.images_failed += images
            self.tally.projects_failed += int(project)
            self.tally.failure_count += 1
            if len(self.tally.failures) < _MAX_FAILURES_KEPT:
                self.tally.failures.append(what)
        self.show()

    def note(self, text: str) -> None:
        """A line worth keeping (a project found by name, an iteration trained), printed above the bar."""
        with self._lock:
            self.tally.notes.append(text)
            self._write(text + "\n", clear=True)

    def start_project(self, name: str) -> None:
        self.project = name
        self.show(force=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def line(self) -> str:
        t = self.tally
        done, total = t.images_done, max(t.images_total, t.images_done)
        filled = _BAR_WIDTH * done // total if total else 0
        rate = t.images_copied / max(self.elapsed(), 1e-9)
        return (
            f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {done}/{total} images "
            f"({t.images_copied} copied, {t.images_present} already there, {t.images_failed} failed) "
            f"{rate:.1f} images/s  (project {self.project!r})"
        )

    def show(self, *, force: bool = False) -> None:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._shown_at < self.interval_s:
                return
            self._shown_at = now
            if self.tty:
                self._write("\r" + self.line() + "\x1b[K")
                self._open_line = True
            else:
                self._write(self.line() + "\n")

    def finish(self) -> None:
        with self._lock:
            self._write(self.line() + "\n", clear=True)

    def _write(self, text: str, *, clear: bool = False) -> None:
        if clear and self._open_line:
            text = "\r\x1b[K" + text
            self._open_line = False
        self.stream.write(text)
        self.stream.flush()

    def summary(self, *, throttled: int = 0, throttled_s: float = 0.0) -> str:
        t = self.tally
        elapsed = self.elapsed()
        lines = [
            "cvstudio migrate: summary",
            f"  projects: {t.projects_created} created, {t.projects_resumed} resumed, {t.projects_failed} failed",
            f"  tags:     {t.tags_created} created, {t.tags_existing} already there",
            f"  images:   {t.images_copied} copied, {t.images_present} already there, {t.images_failed} failed",
            f"  elapsed:  {elapsed:.1f} s, {t.images_copied / max(elapsed, 1e-9):.1f} images/s",
        ]
        if throttled:
            lines.append(f"  rate limits: {throttled} requests answered 429/503, waited {throttled_s:.1f} s in all")
        lines.extend(f"  {note}" for note in t.notes)
        shown = t.failures[:_MAX_FAILURES_SHOWN]
        if shown:
            lines.append("  failures:")
            lines.extend(f"    {failure}" for failure in shown)
            if t.failure_count > len(shown):
                lines.append(f"    ... and {t.failure_count - len(shown)} more")
        return "\n".join(lines)
