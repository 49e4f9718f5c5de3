"""The local JobLauncher: ``cvstudio train-iteration`` as a child process of the server.

Running the trainer as a process keeps torch's memory out of the server and lets a crash be seen
for what it is. The child watches its parent and stops when the server is gone, so that a
restart never trains the same iteration twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from shared.contracts.jobs import TrainIteration

__all__ = ["ChildProcessLauncher"]


class ChildProcessLauncher:
    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir.resolve()
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._stopping = False

    def run(self, job: TrainIteration) -> str | None:
        command = [
            sys.executable, "-m", "shared.cli", "train-iteration",
            "--data-dir", str(self._data_dir),
            "--parent-pid", str(os.getpid()),
            job.project_id, job.iteration_id,
        ]  # fmt: skip
        with self._lock:
            if self._stopping:
                return None
            child = self._child = subprocess.Popen(command)
        code = child.wait()
        with self._lock:
            self._child = None
            if self._stopping:
                return None  # interrupted by our own shutdown: resumed on the next start
        return f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            if self._child is not None and self._child.poll() is None:
                self._child.send_signal(signal.SIGTERM)
