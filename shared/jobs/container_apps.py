"""The Container Apps JobLauncher: one execution of the training job per iteration.

The job (``CVSTUDIO_TRAINING_JOB_ID``, its resource id) runs the training image, whose entry point is
``cvstudio``; an execution is started with its containers' args set to ``train-iteration PROJECT
ITERATION``, and reads Cosmos DB and Blob Storage through the job's own settings and identity. The
launcher only starts the execution: the trainer records its own end, as it does locally, and a
job that dies without saying so is found by its silence (``IterationService.fail_stalled``).

Starting an execution with an override replaces the template's containers, so the override is
complete: the job's current template is read (``jobs.get``) on every start and only the first
container's args are changed (its other containers, and the init containers, are passed on as
they are). Reading it every time, rather than once per process, means a job updated to a new image
is started as updated; it is one ARM read per training. What a job execution cannot override
(volume mounts) is left to the job.

ARM's answers are sorted here: a start refused for good (400, 401, 403, 404, and every other 4xx but
408, 409 and 429) raises :class:`~shared.jobs.training_jobs.LaunchRefused` with ARM's code and
message in plain words, and the iteration ends ``Failed``; anything else (5xx, throttling, a
conflict with an operation in progress, no token, no connection) propagates, so that the queue
delivers the message again, seconds later (host.json's ``visibilityTimeout``). The client itself
retries only what never got an answer (connection and read errors), not ARM's answers: the queue's
redelivery is the back-off, the function returns at once, and azure-core would leave the bodies of
the streamed answers it retries unread, their connections open.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from azure.core.exceptions import HttpResponseError

from shared.contracts.jobs import ExportIteration, TrainIteration, job_args
from shared.jobs.training_jobs import LaunchRefused
from shared.settings import InvalidSettings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.mgmt.appcontainers import ContainerAppsAPIClient
    from azure.mgmt.appcontainers.models import (
        BaseContainer,
        JobExecutionContainer,
        JobExecutionTemplate,
        JobTemplate,
    )

__all__ = ["ContainerAppsLauncher", "JobId"]

log = logging.getLogger(__name__)

_JOB_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)"
    r"/providers/Microsoft\.App/jobs/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)
# ARM's answers that a retry may change: a timeout, a conflict with an operation in progress, throttling.
_PASSING = {408, 409, 429}


@dataclass(frozen=True)
class JobId:
    """A Container Apps job's resource id, in its parts."""

    subscription: str
    group: str
    name: str

    @classmethod
    def parse(cls, resource_id: str) -> JobId:
        found = _JOB_ID.match(resource_id.strip())
        if found is None:
            raise InvalidSettings(
                "CVSTUDIO_TRAINING_JOB_ID must be a Container Apps job's resource id "
                "(/subscriptions/<subscription id>/resourceGroups/<group>/providers/Microsoft.App/jobs/<name>), "
                f"not {resource_id!r}."
            )
        return cls(found["subscription"], found["group"], found["name"])


class ContainerAppsLauncher:
    """Starts executions of one Container Apps job (``job_id``) through Azure Resource Manager at
    ``endpoint``, as ``credential`` (default: ``DefaultAzureCredential``, which takes a user-assigned
    identity from ``AZURE_CLIENT_ID``). The client is made on first use."""

    def __init__(
        self,
        job_id: str,
        *,
        endpoint: str = "https://management.azure.com",
        credential: TokenCredential | None = None,
    ) -> None:
        self._job = JobId.parse(job_id)
        self._endpoint = endpoint.rstrip("/")
        self._credential = credential
        self._client: ContainerAppsAPIClient | None = None
        self._lock = threading.Lock()

    def run(self, job: TrainIteration | ExportIteration) -> str | None:
        client = self._connected()
        with _refusals(self._job):
            found = client.jobs.get(self._job.group, self._job.name)
            template = _execution_template(self._job, found.properties.template if found.properties else None, job)
            poller = client.jobs.begin_start(self._job.group, self._job.name, template, polling=False)
        # Started: nothing after this may fail the start (a retried start would be a second execution).
        try:
            execution = poller.result().name
        except Exception:
            execution = "(its name not read)"
        log.info("started execution %s of the job %s for iteration %s", execution, self._job.name, job.iteration_id)
        return None  # it runs elsewhere: the trainer records its own end

    def stop(self) -> None:
        """Executions run on without this process: nothing to interrupt."""

    def _connected(self) -> ContainerAppsAPIClient:
        with self._lock:
            if self._client is None:
                from azure.mgmt.appcontainers import ContainerAppsAPIClient

                credential = self._credential
                if credential is None:
                    from azure.identity import DefaultAzureCredential

                    credential = DefaultAzureCredential()
                self._client = ContainerAppsAPIClient(
                    credential,
                    self._job.subscription,
                    base_url=self._endpoint,
                    credential_scopes=[f"{self._endpoint}/.default"],
                    retry_status=0,  # ARM's answers are retried by the queue, not here
                )
            return self._client


def _execution_template(
    job_id: JobId, template: JobTemplate | None, job: TrainIteration | ExportIteration
) -> JobExecutionTemplate:
    """The job's own containers, complete, with the first one's args set to run ``job`` (train or export)."""
    from azure.mgmt.appcontainers.models import JobExecutionTemplate

    containers = list(template.containers or []) if template is not None else []
    if not containers:
        raise LaunchRefused(
            f"the Container Apps job {job_id.name} has no container in its template; deploy the training image to it."
        )
    overrides = [_container(c) for c in containers]
    overrides[0].args = job_args(job)
    init = [_container(c) for c in (template.init_containers or [])] if template is not None else []
    return JobExecutionTemplate(containers=overrides, init_containers=init or None)


def _container(container: BaseContainer) -> JobExecutionContainer:
    from azure.mgmt.appcontainers.models import JobExecutionContainer

    return JobExecutionContainer(
        name=container.name,
        image=container.image,
        command=container.command,
        args=container.args,
        env=container.env,
        resources=container.resources,
    )


@contextmanager
def _refusals(job: JobId) -> Iterator[None]:
    """ARM's final refusals as :class:`LaunchRefused` in plain words; everything else as it is."""
    try:
        yield
    except HttpResponseError as exc:
        status = exc.status_code
        if status is None or not 400 <= status < 500 or status in _PASSING:
            raise
        raise LaunchRefused(_refusal(job, status, exc)) from exc


def _refusal(job: JobId, status: int, exc: HttpResponseError) -> str:
    error = exc.error
    code = (error.code if error is not None else None) or exc.reason or "no code"
    message = (error.message if error is not None else None) or str(exc).splitlines()[0]
    said = f"(Azure Resource Manager answered {status} {code}: {message})"
    where = f"the Container Apps job {job.name} in resource group {job.group}"
    if status == 404:
        return f"{where} was not found; check CVSTUDIO_TRAINING_JOB_ID {said}."
    if status in (401, 403):
        return (
            f"this app's identity may not start {where}; give it the Container Apps Jobs Operator role "
            f"on the job {said}."
        )
    return f"Azure Resource Manager refused to start {where} {said}."
