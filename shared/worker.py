"""The local training worker: runs queued training, one iteration at a time, in a child process.

Used by ``cvstudio serve`` (Azure runs the same trainer as a Container Apps job instead). The
child is ``cvstudio train-iteration``; running it as a process keeps torch's memory out of the
server and lets a crash be seen for what it is. On start the worker re-queues every iteration
still marked ``Training`` (the server was stopped mid-training). An iteration whose trainer died,
or that was interrupted too often, is marked ``Failed`` with the reason: never ``Training``
forever.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from shared.bootstrap import Services
from shared.domain.entities import TRAINING
from shared.domain.errors import NotFound

__all__ = ["LocalTrainingWorker", "MAX_ATTEMPTS"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # a server stopped during training resumes it once, then gives up


class LocalTrainingWorker:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        for iteration in self._services.iterations.training_iterations():
            log.info("resuming %s of project %s", iteration.name, iteration.project_id)
            self._services.iterations.requeue(iteration)
        self._thread = threading.Thread(target=self._loop, name="training-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            if self._child is not None and self._child.poll() is None:
                self._child.send_signal(signal.SIGTERM)
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            message = self._services.queue.get(timeout=0.5)
            if message is None or message.get("type") != "train":
                continue
            try:
                self._train(message["projectId"], message["iterationId"])
            except Exception:
                log.exception("training worker error")

    def _train(self, project_id: str, iteration_id: str) -> None:
        iterations = self._services.iterations
        try:
            iteration = iterations.get(project_id, iteration_id)
        except NotFound:
            return
        if iteration.status != TRAINING:
            return
        iteration = iterations.begin_attempt(project_id, iteration_id)
        if iteration.attempts > MAX_ATTEMPTS:
            iterations.fail(
                project_id, iteration_id, "Training was interrupted (the server stopped) too many times; train again."
            )
            return
        command = [
            sys.executable, "-m", "shared.cli", "train-iteration",
            "--data-dir", str(Path(self._services.settings.data_dir).resolve()),
            "--parent-pid", str(os.getpid()),
            project_id, iteration_id,
        ]  # fmt: skip
        with self._lock:
            if self._stopping.is_set():
                return
            self._child = subprocess.Popen(command)
        code = self._child.wait()
        with self._lock:
            self._child = None
        if self._stopping.is_set():
            return  # interrupted by our own shutdown: resumed on the next start
        if iterations.get(project_id, iteration_id).status == TRAINING:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            iterations.fail(
                project_id,
                iteration_id,
                f"The trainer stopped unexpectedly (it {how}); train again, or check the server log.",
            )
