"""Publishing: an iteration made callable by the Prediction API under a name, and unpublishing.

A publish name is unique in its project (a claim, so two concurrent publishes cannot both take
it) and is resolved on every prediction call, so publishing and unpublishing take effect at once
on every instance.
"""

from __future__ import annotations

import re

from shared.domain.entities import Iteration
from shared.domain.errors import BadRequest, Code, NotFound
from shared.domain.validation import PUBLISH_NAME_PATTERN
from shared.services.iterations import IterationService
from shared.services.projects import ProjectService
from shared.stores.claims import NameClaims, OwnerAlive
from shared.stores.ports import MetadataStore

__all__ = ["PublishingService"]

_PUBLISH_NAME = re.compile(PUBLISH_NAME_PATTERN)


class PublishingService:
    def __init__(self, meta: MetadataStore, projects: ProjectService, iterations: IterationService) -> None:
        self._projects = projects
        self._iterations = iterations
        self._names = NameClaims(meta, "publishname", Code.BAD_REQUEST_INVALID_PUBLISH_NAME, "published iteration")

    def publish(
        self, project_id: str, iteration_id: str, publish_name: str | None, prediction_id: str | None,
        overwrite: bool = False,
    ) -> None:  # fmt: skip
        iteration = self._iterations.completed(project_id, iteration_id)
        name = (publish_name or "").strip()
        if not _PUBLISH_NAME.match(name):
            raise BadRequest(
                "publishName must be 1 to 256 letters, digits, spaces, '_', '.' or '-', starting with a letter or "
                "digit.",
                Code.BAD_REQUEST_INVALID_PUBLISH_NAME,
            )
        if iteration.publish_name == name:
            return  # publishing the same iteration under the same name again is a no-op
        holder = self._iterations.published(iteration.project_id, name)
        if holder is not None and holder.id != iteration.id:
            if not overwrite:
                raise BadRequest(
                    f"'{name}' is already the publish name of {holder.name}; unpublish it first or pass "
                    "overwrite=true.",
                    Code.BAD_REQUEST_INVALID_PUBLISH_NAME,
                )
            self.unpublish(iteration.project_id, holder.id)
        self._names.claim(iteration.project_id, name, iteration.id, self._holds(iteration.project_id, name))
        old = iteration.publish_name
        self._iterations.update(
            iteration.project_id,
            iteration.id,
            lambda i: i.with_changes(publish_name=name, original_publish_resource_id=prediction_id or ""),
        )
        if old:
            self._names.release(iteration.project_id, old, iteration.id)

    def _holds(self, project_id: str, name: str) -> OwnerAlive:
        def holds(iteration_id: str) -> bool:
            found = self._iterations.find(project_id, iteration_id)
            return found is not None and found.publish_name == name

        return holds

    def unpublish(self, project_id: str, iteration_id: str) -> None:
        iteration = self._iterations.get(project_id, iteration_id)
        if not iteration.publish_name:
            raise BadRequest(f"{iteration.name} is not published.", Code.BAD_REQUEST_ITERATION_NOT_PUBLISHED)
        self._iterations.update(
            iteration.project_id,
            iteration.id,
            lambda i: i.with_changes(publish_name="", original_publish_resource_id=""),
        )
        self._names.release(iteration.project_id, iteration.publish_name, iteration.id)

    def published_iteration(self, project_id: str, publish_name: str) -> Iteration:
        """The iteration the Prediction API calls by this name; Custom Vision's 404 otherwise."""
        project = self._projects.get(project_id)
        iteration = self._iterations.published(project.id, publish_name)
        if iteration is None:
            raise NotFound("Invalid iteration", Code.NOT_FOUND_ITERATION)
        return iteration
