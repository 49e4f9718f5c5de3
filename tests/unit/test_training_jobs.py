"""Training on a trainer that runs elsewhere (a Container Apps job): one start per iteration, refused
starts and misconfigurations end ``Failed`` with the reason, passing failures are left to the queue,
and trainings whose progress stands still are ended by the sweep. On the in-memory stores, with an
in-memory launcher (the port's honest fake: it records, accepts, refuses or fails); the real
launcher against a fake Resource Manager is in ``tests/functions/test_training_queue.py``."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from shared.bootstrap import build_job_starter, build_launcher, build_services
from shared.contracts.jobs import TrainIteration
from shared.domain.clock import utc_ago
from shared.domain.entities import Iteration
from shared.domain.enums import IterationStatus
from shared.domain.errors import BadRequest
from shared.jobs.child_process import ChildProcessLauncher
from shared.jobs.container_apps import ContainerAppsLauncher, JobId
from shared.jobs.training_jobs import LaunchRefused, TrainingJobs
from shared.jobs.worker import LocalWorker
from shared.settings import InvalidSettings, Settings
from tests.unit.services.fakes import World, red_green_project

ROOT = Path(__file__).resolve().parents[2]
JOB_ID = "/subscriptions/6f1c2a9e-2b7d-4c55-9a0e-0d3c1f1e7a42/resourceGroups/rg-cv/providers/Microsoft.App/jobs/train"
AZURE = {
    "storage": "UseDevelopmentStorage=true",
    "cosmos_endpoint": "https://127.0.0.1:1/",
    "training_key": "t" * 16,
    "prediction_key": "p" * 16,
}


@pytest.fixture
def world() -> World:
    return World()


class Launcher:
    """Starts nothing, but answers as told: accepted (None), refused for good, or failing for now."""

    def __init__(self) -> None:
        self.started: list[TrainIteration] = []
        self.answer: Exception | None = None

    def run(self, job: TrainIteration) -> str | None:
        if self.answer is not None:
            raise self.answer
        self.started.append(job)
        return None

    def stop(self) -> None:
        pass


def _elsewhere(world: World, launcher: Launcher) -> TrainingJobs:
    return TrainingJobs(world.projects, world.iterations, launcher, starts_elsewhere=True)


def _queued(world: World) -> Iteration:
    iteration = red_green_project(world, f"Colours {time.monotonic_ns()}").iteration
    world.messages()  # taken off the queue: the tests hand the job over themselves
    return iteration


def _job(iteration: Iteration) -> TrainIteration:
    return TrainIteration(iteration.project_id, iteration.id)


def test_an_iteration_starts_one_execution_however_often_its_message_comes(world: World) -> None:
    launcher = Launcher()
    jobs = _elsewhere(world, launcher)
    iteration = _queued(world)
    for _ in range(3):
        jobs.train_iteration(_job(iteration))
    assert launcher.started == [_job(iteration)]
    started = world.iterations.get(iteration.project_id, iteration.id)
    assert (started.status, started.attempts) == (IterationStatus.TRAINING, 1)
    assert started.progress is not None and started.progress.stage.startswith("starting")


def test_a_refused_start_ends_the_iteration_failed_and_frees_the_project(world: World) -> None:
    launcher = Launcher()
    launcher.answer = LaunchRefused("the job was not found")
    iteration = _queued(world)
    _elsewhere(world, launcher).train_iteration(_job(iteration))
    failed = world.iterations.get(iteration.project_id, iteration.id)
    assert failed.status is IterationStatus.FAILED
    assert failed.training_error_details == "Training could not be started: the job was not found"
    assert world.train(iteration.project_id).status is IterationStatus.TRAINING


def test_a_passing_failure_propagates_keeps_its_reason_and_lets_the_next_delivery_start(world: World) -> None:
    launcher = Launcher()
    jobs = _elsewhere(world, launcher)
    iteration = _queued(world)
    launcher.answer = ConnectionError("ARM could not be reached\nsecond line")
    with pytest.raises(ConnectionError):
        jobs.train_iteration(_job(iteration))
    waiting = world.iterations.get(iteration.project_id, iteration.id)
    assert (waiting.status, waiting.attempts) == (IterationStatus.TRAINING, 0)
    assert waiting.start_error == "ConnectionError: ARM could not be reached"
    launcher.answer = None
    jobs.train_iteration(_job(iteration))
    assert launcher.started == [_job(iteration)]


def test_a_message_given_up_on_fails_only_an_iteration_whose_job_never_started(world: World) -> None:
    launcher = Launcher()
    never, started = _queued(world), _queued(world)
    launcher.answer = TimeoutError("no answer")
    with pytest.raises(TimeoutError):
        _elsewhere(world, launcher).train_iteration(_job(never))
    launcher.answer = None
    _elsewhere(world, launcher).train_iteration(_job(started))

    failed = world.iterations.not_started(never.project_id, never.id, 5)
    assert failed is not None and failed.status is IterationStatus.FAILED
    assert failed.training_error_details == "Training could not be started after 5 attempts: TimeoutError: no answer"
    assert world.iterations.not_started(started.project_id, started.id, 5) is None
    assert world.iterations.get(started.project_id, started.id).status is IterationStatus.TRAINING


def test_the_sweep_ends_what_stood_still_and_only_that(world: World) -> None:
    launcher = Launcher()
    jobs = _elsewhere(world, launcher)
    quiet, moving, queued_long_ago = _queued(world), _queued(world), _queued(world)
    for iteration in (quiet, moving):
        jobs.train_iteration(_job(iteration))
    long_ago = utc_ago(timedelta(minutes=31))
    for iteration in (quiet, moving, queued_long_ago):
        world.iterations.update(iteration.project_id, iteration.id, lambda i: i.with_changes(progress_at=long_ago))
    world.iterations.report_progress(moving.project_id, moving.id, "training: fitting", 30)  # it moved: clock reset

    ended = world.iterations.fail_stalled(30 * 60)

    assert sorted(i.id for i in ended) == sorted([quiet.id, queued_long_ago.id])
    details = {i.id: i.training_error_details or "" for i in ended}
    assert "stopped reporting progress: nothing for 30 minutes since 'starting" in details[quiet.id]
    assert details[queued_long_ago.id] == "The training job did not start within 30 minutes; train again."
    assert world.iterations.get(moving.project_id, moving.id).status is IterationStatus.TRAINING
    assert world.iterations.fail_stalled(30 * 60) == []  # nothing twice
    assert world.train(quiet.project_id).status is IterationStatus.TRAINING  # its project is free again
    with pytest.raises(BadRequest):
        world.train(moving.project_id)


def test_an_iteration_written_before_progress_times_is_timed_by_its_last_change(world: World) -> None:
    iteration = _queued(world)
    doc = world.iterations.get(iteration.project_id, iteration.id).to_doc()
    doc.pop("progressAt")
    old = Iteration.from_doc(doc)
    assert old.progress_at is None
    world.iterations.update(iteration.project_id, iteration.id, lambda i: i.with_changes(progress_at=None))
    assert world.iterations.fail_stalled(60) == []  # lastModified is now
    assert [i.id for i in world.iterations.fail_stalled(0)] == [iteration.id]


def test_a_function_app_without_a_job_fails_each_training_with_what_to_set(world: World) -> None:
    iteration = _queued(world)
    build_job_starter(world.services).train_iteration(_job(iteration))
    failed = world.iterations.get(iteration.project_id, iteration.id)
    assert failed.status is IterationStatus.FAILED
    assert "set CVSTUDIO_TRAINING_JOB_ID" in (failed.training_error_details or "")


def test_a_malformed_job_id_is_a_settings_error_and_fails_the_function_apps_trainings(world: World) -> None:
    with pytest.raises(InvalidSettings) as refused:
        JobId.parse("/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/train")
    assert "CVSTUDIO_TRAINING_JOB_ID must be a Container Apps job's resource id" in str(refused.value)
    settings = Settings(**AZURE, training_job_id="train")
    services = build_services(settings, meta=world.meta, blobs=world.blobs, queue=world.queue)
    with pytest.raises(InvalidSettings):
        build_launcher(services)
    iteration = _queued(world)
    build_job_starter(services).train_iteration(_job(iteration))
    details = world.iterations.get(iteration.project_id, iteration.id).training_error_details or ""
    assert details.startswith("Training could not be started: CVSTUDIO_TRAINING_JOB_ID must be")


def test_a_job_id_is_read_in_any_casing() -> None:
    assert JobId.parse(JOB_ID.upper().replace("MICROSOFT.APP", "microsoft.app") + "/") == JobId(
        "6F1C2A9E-2B7D-4C55-9A0E-0D3C1F1E7A42", "RG-CV", "TRAIN"
    )


def test_the_runner_picks_the_launcher(world: World) -> None:
    def launcher(**given: str) -> object:
        settings = Settings(**AZURE, **given)  # type: ignore[arg-type]
        return build_launcher(build_services(settings, meta=world.meta, blobs=world.blobs, queue=world.queue))

    assert isinstance(launcher(training_job_id=JOB_ID), ContainerAppsLauncher)
    # CVSTUDIO_TRAINING_RUNNER=local: the whole Azure flow on this machine, even with a job configured
    assert isinstance(launcher(training_job_id=JOB_ID, training_runner="local"), ChildProcessLauncher)
    assert isinstance(launcher(), ChildProcessLauncher)


def test_the_worker_starts_queued_jobs_and_sweeps(world: World) -> None:
    launcher = Launcher()
    swept = threading.Event()
    iteration = red_green_project(world, "Worker").iteration  # its message waits on the queue
    worker = LocalWorker(
        world.queue, _elsewhere(world, launcher), launcher, world.training, sweep=swept.set, sweep_every=0.05
    )
    worker.start()
    try:
        assert swept.wait(5)
        deadline = time.monotonic() + 5
        while not launcher.started and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
    # started once, though the worker's start re-enqueued it too (the server stopped mid-training)
    assert launcher.started == [_job(iteration)]


def test_cvstudio_serve_refuses_a_malformed_job_id_with_one_line(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "CVSTUDIO_STORAGE": "UseDevelopmentStorage=true",
        "CVSTUDIO_COSMOS_ENDPOINT": "https://127.0.0.1:1/",
        "CVSTUDIO_TRAINING_KEY": "t" * 16,
        "CVSTUDIO_PREDICTION_KEY": "p" * 16,
        "CVSTUDIO_TRAINING_JOB_ID": "cvstudio-train",
    }
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli", "serve", "--data-dir", str(tmp_path), "--port", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("cvstudio: CVSTUDIO_TRAINING_JOB_ID must be a Container Apps job's resource id")
    assert result.stderr.strip().count("\n") == 0
