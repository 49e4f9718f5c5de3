"""The training queue's functions (``functions/training_queue.py``), driven the way the host would.

``function_app`` is imported for real on the local Azure stack (Azurite and the Cosmos server),
configured with a Container Apps job whose Resource Manager is :mod:`tests.arm_fake` on loopback.
Trainings are queued by the product itself (``services.training.train``: a Base64 message on the
Azurite queue); the test plays the Functions host: it receives the message from Azurite, hands the
registered function a ``func.QueueMessage`` with the body and the dequeue count, deletes the
message when the function returns, leaves it for redelivery when it raises, and moves it to the
``-poison`` queue after ``maxDequeueCount`` failures. The launcher is the real
``azure-mgmt-appcontainers`` client with ``DefaultAzureCredential``, which gets its token from the
fake's App Service managed-identity endpoint, as in a Function App. No model is trained: these tests
are about the job.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueClient
from PIL import Image as PilImage

from functions import training_queue
from functions.runtime import services as services_of_app
from shared.bootstrap import Services
from shared.contracts.project_package import ImportRecord
from shared.domain.clock import utc_ago
from shared.domain.entities import Image, Iteration, Tombstone
from shared.domain.enums import IterationStatus
from shared.domain.errors import BadRequest, Code
from shared.domain.versioning import ContractError
from shared.services.image_uploads import NewImage
from shared.services.tombstones import Tombstones
from shared.services.training import TrainRequest
from tests.arm_fake import API_VERSION, FakeArm, start_fake_arm
from tests.azure_stack import AzureStack
from tests.servers import PREDICTION_KEY, TRAINING_KEY

REPO = Path(__file__).resolve().parents[2]
SUBSCRIPTION = "6f1c2a9e-2b7d-4c55-9a0e-0d3c1f1e7a42"
JOB_ID = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-cvstudio/providers/Microsoft.App/jobs/cvstudio-train"
TRAINER = {
    "name": "trainer",
    "image": "cvstudioacr.azurecr.io/cvstudio-train:2026.11",
    "args": ["train-iteration", "--help"],
    "env": [
        {"name": "CVSTUDIO_COSMOS_ENDPOINT", "value": "https://cvstudio.documents.azure.com:443/"},
        {"name": "CVSTUDIO_TRAINING_KEY", "secretRef": "training-key"},
    ],
    "resources": {"cpu": 4.0, "memory": "8Gi"},
}
# Environment that would choose another credential or another identity than the test's.
_FOREIGN_ENV = (
    "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE", "AZURE_USERNAME", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT",
    "IDENTITY_SERVER_THUMBPRINT", "AZURE_TOKEN_CREDENTIALS", "CVSTUDIO_ROLE", "CVSTUDIO_TRAINING_RUNNER",
    "CVSTUDIO_PUBLIC_BASE_URL", "CURL_CA_BUNDLE",
)  # fmt: skip


@dataclass
class TrainingHost:
    """The imported app's training functions, the product's services, the queues, the fake ARM."""

    functions: dict[str, Any]
    services: Services
    queue: QueueClient
    poison: QueueClient
    arm: FakeArm

    def function(self, name: str) -> Callable[..., None]:
        user_function: Callable[..., None] = self.functions[name].get_user_function()
        return user_function

    def deliver(self, queue: QueueClient | None = None, function: str = "start_training") -> Exception | None:
        """Deliver the next message of ``queue`` to ``function`` as the host does; what it raised, if anything."""
        queue = queue or self.queue
        received = queue.receive_message(visibility_timeout=30)
        assert received is not None, f"no message on {queue.queue_name}"
        body = base64.b64decode(received.content)  # the host decodes the Base64 body
        message = QueueMessage(
            id=received.id,
            body=body,
            dequeue_count=received.dequeue_count,
            pop_receipt=received.pop_receipt,
            insertion_time=received.inserted_on,
            expiration_time=received.expires_on,
        )
        try:
            self.function(function)(message)
        except Exception as exc:
            if (received.dequeue_count or 0) >= training_queue.MAX_DEQUEUE_COUNT:
                self.poison.send_message(received.content)  # given up on: moved to the poison queue
                queue.delete_message(received)
            else:  # visible again at once here (the host waits for visibilityTimeout)
                queue.update_message(received, pop_receipt=received.pop_receipt, visibility_timeout=0)
            return exc
        queue.delete_message(received)
        return None

    def queued(self, queue: QueueClient | None = None) -> int:
        return len((queue or self.queue).peek_messages(max_messages=32))

    def iteration(self, iteration: Iteration) -> Iteration:
        return self.services.iterations.get(iteration.project_id, iteration.id)

    def train(self) -> Iteration:
        """A project with 5 tagged images, and its iteration queued (Training): the message is on the queue."""
        s = self.services
        project = s.projects.create(f"job-{uuid.uuid4().hex[:8]}", classification_type="Multilabel")
        tag = s.tags.create(project.id, "leaf").tag
        items = [NewImage(f"leaf{n}.png", _png(n), None, [tag.id]) for n in range(5)]
        summary = s.uploads.create_images(s.uploads.target(project.id), items)
        assert [r.status for r in summary.images] == ["OK"] * 5
        iteration = s.training.train(project.id, _REQUEST)
        assert self.queued() == 1
        return iteration


def _png(n: int) -> bytes:
    out = io.BytesIO()
    PilImage.new("RGB", (32, 32), (40 * n % 256, 200, 30)).save(out, format="PNG")
    return out.getvalue()


_REQUEST = TrainRequest()


@pytest.fixture(scope="module")
def host(azure_stack: AzureStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainingHost]:
    folder = tmp_path_factory.mktemp("training-queue")
    arm = start_fake_arm(folder / "arm")
    arm.add_job(JOB_ID, [TRAINER])
    queue_name = f"training-{uuid.uuid4().hex[:12]}"
    env = {
        **azure_stack.settings_env(f"cvstudio-{uuid.uuid4().hex[:12]}"),
        "CVSTUDIO_DATA_DIR": str(folder / "data"),
        "CVSTUDIO_TRAINING_KEY": TRAINING_KEY,
        "CVSTUDIO_PREDICTION_KEY": PREDICTION_KEY,
        "CVSTUDIO_TRAINING_QUEUE": queue_name,
        "CVSTUDIO_TRAINING_JOB_ID": JOB_ID,
        "CVSTUDIO_ARM_ENDPOINT": arm.endpoint,
        **arm.identity_env,
        "REQUESTS_CA_BUNDLE": str(arm.ca_path),  # trust the fake ARM's certificate (requests honours it)
    }
    with pytest.MonkeyPatch.context() as patch:
        for name in _FOREIGN_ENV:
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        services_of_app.cache_clear()
        training_queue._training_jobs.cache_clear()
        module = (
            importlib.reload(sys.modules["function_app"])
            if "function_app" in sys.modules
            else importlib.import_module("function_app")
        )
        try:
            functions = {f.get_function_name(): f for f in module.app.get_functions()}
            queue = QueueClient.from_connection_string(azure_stack.storage_connection_string, queue_name)
            poison = QueueClient.from_connection_string(azure_stack.storage_connection_string, f"{queue_name}-poison")
            poison.create_queue()
            yield TrainingHost(functions, services_of_app(), queue, poison, arm)
            queue.close()
            poison.close()
        finally:
            services_of_app().meta.close()
            sys.modules.pop("function_app", None)
            services_of_app.cache_clear()
            training_queue._training_jobs.cache_clear()
            arm.stop()


@pytest.fixture(autouse=True)
def _arm_answers_again(host: TrainingHost) -> Iterator[None]:
    yield
    host.arm.start_answer = None
    host.arm.add_job(JOB_ID, [TRAINER])


def test_the_training_role_registers_the_queue_poison_and_sweep_triggers(host: TrainingHost) -> None:
    described = {name: json.loads(f.get_function_json()) for name, f in host.functions.items()}
    [start] = [b for b in described["start_training"]["bindings"] if b["type"] == "queueTrigger"]
    assert (start["queueName"], start["connection"]) == ("%CVSTUDIO_TRAINING_QUEUE%", "CVSTUDIO_STORAGE")
    [poison] = [b for b in described["training_not_started"]["bindings"] if b["type"] == "queueTrigger"]
    assert (poison["queueName"], poison["connection"]) == ("%CVSTUDIO_TRAINING_QUEUE%-poison", "CVSTUDIO_STORAGE")
    [timer] = [b for b in described["fail_stalled_trainings"]["bindings"] if b["type"] == "timerTrigger"]
    assert timer["schedule"] == "0 */5 * * * *"
    queues = json.loads((REPO / "host.json").read_text())["extensions"]["queues"]
    # the poison function's reason quotes the host's delivery count; messages are Base64 (storage_queue.py)
    assert queues["maxDequeueCount"] == training_queue.MAX_DEQUEUE_COUNT
    assert queues["messageEncoding"] == "base64"


def test_a_queued_training_starts_one_execution_of_the_job_with_its_ids_as_args(host: TrainingHost) -> None:
    iteration = host.train()
    before = len(host.arm.starts)

    assert host.deliver() is None

    [start] = host.arm.starts[before:]
    assert start.path == f"{JOB_ID}/start"
    assert start.api_version == API_VERSION
    [container] = start.body["containers"]
    assert container["args"] == ["train-iteration", iteration.project_id, iteration.id]
    # the rest of the job's container goes with it, as it is: an override replaces the whole container
    assert {k: v for k, v in container.items() if k != "args"} == {k: v for k, v in TRAINER.items() if k != "args"}
    assert host.arm.token_resources[-1] == host.arm.endpoint  # the token was asked for this ARM
    started = host.iteration(iteration)
    assert started.status is IterationStatus.TRAINING
    assert started.progress is not None and started.progress.stage.startswith("starting")
    assert host.queued() == 0

    # The same message again (queues deliver at least once; a server re-enqueues on start): no second execution.
    host.services.training.enqueue(started)
    assert host.deliver() is None
    assert len(host.arm.starts) == before + 1
    assert host.iteration(iteration).status is IterationStatus.TRAINING


@pytest.mark.parametrize("refusal", ["forbidden", "job missing"])
def test_a_start_refused_by_arm_ends_the_iteration_failed_with_arms_reason(host: TrainingHost, refusal: str) -> None:
    iteration = host.train()
    if refusal == "forbidden":
        message = (
            "The client '0c4d' with object id '0c4d' does not have authorization to perform action "
            f"'Microsoft.App/jobs/start/action' over scope '{JOB_ID}' or the scope is invalid."
        )
        host.arm.start_answer = (403, "AuthorizationFailed", message)
    else:
        host.arm.jobs.clear()
        message = "The Resource 'Microsoft.App/jobs/cvstudio-train' under resource group 'rg-cvstudio' was not found."

    assert host.deliver() is None  # handled: not retried, not poisoned

    failed = host.iteration(iteration)
    assert failed.status is IterationStatus.FAILED
    details = failed.training_error_details or ""
    assert details.startswith("Training could not be started:")
    assert message in details
    if refusal == "forbidden":
        assert "403 AuthorizationFailed" in details and "Container Apps Jobs Operator" in details
    else:
        assert "404 ResourceNotFound" in details and "CVSTUDIO_TRAINING_JOB_ID" in details
    assert host.queued() == 0
    # the project is free to train again
    again = host.services.training.train(iteration.project_id, _REQUEST)
    assert again.status is IterationStatus.TRAINING
    host.services.iterations.fail(again.project_id, again.id, "test over")
    host.queue.clear_messages()


def test_a_passing_arm_failure_raises_so_the_host_delivers_the_message_again(host: TrainingHost) -> None:
    iteration = host.train()
    host.arm.start_answer = (503, "ServiceUnavailable", "The service is busy; try again later.")
    before = len(host.arm.starts)

    raised = host.deliver()

    assert isinstance(raised, HttpResponseError) and raised.status_code == 503
    assert len(host.arm.starts) - before == 1  # retried by the queue, not by the client
    waiting = host.iteration(iteration)
    assert (waiting.status, waiting.attempts) == (IterationStatus.TRAINING, 0)
    assert "ServiceUnavailable" in (waiting.start_error or "")
    assert host.queued() == 1  # still on the queue

    host.arm.start_answer = None  # ARM is back: the next delivery starts the job
    assert host.deliver() is None
    assert len(host.arm.starts) - before == 2
    assert host.iteration(iteration).attempts == 1
    assert host.queued() == 0


def test_a_message_the_host_gives_up_on_ends_its_iteration_failed(host: TrainingHost) -> None:
    iteration = host.train()
    conflict = "The job 'cvstudio-train' is being updated; another operation is in progress."
    host.arm.start_answer = (409, "ContainerAppOperationInProgress", conflict)

    raised = [host.deliver() for _ in range(training_queue.MAX_DEQUEUE_COUNT)]

    assert all(isinstance(r, HttpResponseError) for r in raised)
    assert host.queued() == 0 and host.queued(host.poison) == 1
    assert host.iteration(iteration).status is IterationStatus.TRAINING
    assert host.deliver(host.poison, "training_not_started") is None
    failed = host.iteration(iteration)
    assert failed.status is IterationStatus.FAILED
    details = failed.training_error_details or ""
    assert details.startswith(f"Training could not be started after {training_queue.MAX_DEQUEUE_COUNT} attempts:")
    assert conflict in details


def test_a_message_no_cvstudio_reads_fails_and_its_poison_copy_is_dropped(host: TrainingHost) -> None:
    host.queue.send_message(base64.b64encode(b'{"type": "retrain-everything", "version": 1}').decode())
    raised = host.deliver()
    assert isinstance(raised, ContractError)  # the host retries it, then moves it to the poison queue
    host.queue.clear_messages()
    host.poison.send_message(base64.b64encode(b"not json").decode())
    assert host.deliver(host.poison, "training_not_started") is None
    assert host.queued(host.poison) == 0


def test_a_message_for_an_iteration_no_longer_training_starts_nothing(host: TrainingHost) -> None:
    iteration = host.train()
    host.services.iterations.fail(iteration.project_id, iteration.id, "cancelled by the test")
    before = len(host.arm.starts)
    assert host.deliver() is None
    assert len(host.arm.starts) == before
    assert host.iteration(iteration).training_error_details == "cancelled by the test"


def test_the_sweep_ends_trainings_whose_progress_stood_still(host: TrainingHost) -> None:
    stall = host.services.settings.training_stall_seconds
    long_ago = utc_ago(timedelta(seconds=stall + 60))
    iterations = host.services.iterations

    silent = host.train()  # started, then its job went quiet
    assert host.deliver() is None
    iterations.report_progress(silent.project_id, silent.id, "training: fitting", 40)
    iterations.update(silent.project_id, silent.id, lambda i: i.with_changes(progress_at=long_ago))

    never = host.train()  # its job never started
    host.arm.start_answer = (503, "ServiceUnavailable", "The service is busy.")
    assert isinstance(host.deliver(), HttpResponseError)
    host.queue.clear_messages()
    iterations.update(never.project_id, never.id, lambda i: i.with_changes(progress_at=long_ago))
    host.arm.start_answer = None

    busy = host.train()  # started, and reporting
    assert host.deliver() is None
    iterations.report_progress(busy.project_id, busy.id, "training: fitting", 10)

    host.function("fail_stalled_trainings")(TimerRequest(past_due=False))

    minutes = f"{round(stall / 60)} minutes"
    ended = host.iteration(silent)
    assert ended.status is IterationStatus.FAILED
    assert f"stopped reporting progress: nothing for {minutes} since 'training: fitting'" in (
        ended.training_error_details or ""
    )
    not_started = host.iteration(never)
    assert not_started.status is IterationStatus.FAILED
    details = not_started.training_error_details or ""
    assert f"did not start within {minutes}" in details and "ServiceUnavailable" in details
    assert host.iteration(busy).status is IterationStatus.TRAINING
    # an ended training frees its project
    with pytest.raises(BadRequest) as err:
        host.services.training.train(busy.project_id, _REQUEST)
    assert err.value.code is Code.BAD_REQUEST_TRAINING_ALREADY_IN_PROGRESS
    assert host.services.training.train(silent.project_id, _REQUEST).status is IterationStatus.TRAINING
    host.queue.clear_messages()


def test_the_sweep_enqueues_an_interrupted_delete_and_the_queue_trigger_finishes_it(host: TrainingHost) -> None:
    s = host.services
    project = s.projects.create(f"doomed-{uuid.uuid4().hex[:8]}")
    [stored] = s.uploads.create_images(s.uploads.target(project.id), [NewImage("x.png", _png(1))]).images
    assert stored.image is not None
    # a delete that wrote its tombstone and died (its first pass never ran), a while ago
    long_ago = utc_ago(timedelta(minutes=10))
    Tombstones(s.meta).record(Tombstone(Tombstone.PROJECT, project.id, project.id, project.name, long_ago))

    host.function("fail_stalled_trainings")(TimerRequest(past_due=False))
    assert host.queued() == 1
    assert host.deliver() is None

    assert s.projects.find(project.id) is None
    assert s.meta.count(Image.KIND, project.id) == 0
    assert not s.blobs.exists(stored.image.blob_key)
    assert s.projects.create(project.name).name == project.name  # its name is free
    host.function("fail_stalled_trainings")(TimerRequest(past_due=False))
    assert host.queued() == 0  # the last pass waits for the grace


def test_the_sweep_enqueues_an_import_whose_server_went_away_and_the_queue_trigger_goes_on_with_it(
    host: TrainingHost,
) -> None:
    s = host.services
    project = s.projects.create(f"imported-{uuid.uuid4().hex[:8]}")
    quiet = utc_ago(timedelta(minutes=10))
    # An import whose instance went away mid-copy; its package link no longer answers (a closed port).
    record = ImportRecord(project.id, "http://127.0.0.1:9/package", ImportRecord.IMPORTING, quiet, quiet, 3)
    s.meta.create(ImportRecord.KIND, project.id, record.to_doc())
    fresh = s.projects.create(f"importing-{uuid.uuid4().hex[:8]}")
    now = utc_ago(timedelta(seconds=1))
    s.meta.create(
        ImportRecord.KIND, fresh.id, ImportRecord(fresh.id, "http://127.0.0.1:9/p", "importing", now, now).to_doc()
    )

    host.function("fail_stalled_trainings")(TimerRequest(past_due=False))
    assert host.queued() == 1  # the quiet one only: the other's server may still be copying
    assert host.deliver() is None

    stored = s.meta.read(ImportRecord.KIND, project.id, project.id)
    ended = ImportRecord.from_doc(stored.doc)
    assert ended.state == ImportRecord.FAILED and ended.error
    assert "http://" not in ended.error  # a plain reason, never the (signed) link
    host.queue.clear_messages()
