"""The local JobLauncher: ``cvstudio train-iteration`` as a child process of the server.

Running the trainer as a process keeps torch's memory out of the server and lets a crash be seen
for what it is. The child watches its parent and stops when the server is gone, so that a
restart never trains the same iteration twice. While the child runs, ``heartbeat`` is called
every ``heartbeat_every`` seconds: on a queue that several servers share, an iteration whose
clock stops (its server and trainer are gone) is resumed by another server.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from shared.contracts.jobs import ExportIteration, TrainIteration, job_args

__all__ = ["HEARTBEAT_SECONDS", "ChildProcessLauncher"]

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30.0


class ChildProcessLauncher:
    def __init__(
        self,
        data_dir: Path,
        *,
        heartbeat: Callable[[TrainIteration], None] | None = None,
        heartbeat_every: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._data_dir = data_dir.resolve()
        self._heartbeat = heartbeat
        self._heartbeat_every = heartbeat_every
        self._lock = threading.Lock()
        # A training and an export may run at once (the worker's two lanes).
        self._children: set[subprocess.Popen[bytes]] = set()
        self._stopping = False

    def run(self, job: TrainIteration | ExportIteration) -> str | None:
        command = [
            sys.executable, "-m", "shared.cli", *job_args(job),
            "--data-dir", str(self._data_dir),
            "--parent-pid", str(os.getpid()),
        ]  # fmt: skip
        with self._lock:
            if self._stopping:
                return None
            child = subprocess.Popen(command)
            self._children.add(child)
        code = self._wait(child, job)
        with self._lock:
            self._children.discard(child)
            if self._stopping:
                return None  # interrupted by our own shutdown: resumed on the next start
        return f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"

    def _wait(self, child: subprocess.Popen[bytes], job: TrainIteration | ExportIteration) -> int:
        while True:
            try:
                beats = self._heartbeat is not None and isinstance(job, TrainIteration)  # exports have no clock
                return child.wait(timeout=self._heartbeat_every if beats else None)
            except subprocess.TimeoutExpired:
                assert self._heartbeat is not None and isinstance(job, TrainIteration)
                try:
                    self._heartbeat(job)
                except Exception:  # a missed beat only lets another server resume it later
                    log.warning("training heartbeat failed", exc_info=True)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            for child in self._children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
