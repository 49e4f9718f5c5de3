"""The local launcher's heartbeat: the clock that lets another server resume a training whose
server is gone keeps moving while the trainer runs, and stops with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shared.contracts.jobs import TrainIteration
from shared.jobs.child_process import ChildProcessLauncher


def test_the_heartbeat_beats_while_the_trainer_runs_and_a_failed_beat_does_not_stop_the_wait(tmp_path: Path) -> None:
    job = TrainIteration("project", "iteration")
    beats: list[TrainIteration] = []

    def heartbeat(beating: TrainIteration) -> None:
        beats.append(beating)
        if len(beats) == 1:
            raise ConnectionError("the store is away for a moment")

    launcher = ChildProcessLauncher(tmp_path, heartbeat=heartbeat, heartbeat_every=0.1)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.65)"])
    assert launcher._wait(child, job) == 0
    assert 4 <= len(beats) <= 7 and set(beats) == {job}
    # A trainer that has ended is not beaten for.
    done = len(beats)
    quick = subprocess.Popen([sys.executable, "-c", "pass"])
    quick.wait()
    assert launcher._wait(quick, job) == 0 and len(beats) == done
