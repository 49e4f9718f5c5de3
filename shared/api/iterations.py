"""The ``iterationId`` query parameter, before iterations exist.

Queries may ask for an iteration's snapshot; until training lands (issue 3) a project has no
iterations, so any id names an iteration that does not exist.
"""

from __future__ import annotations

from shared.bootstrap import Services
from shared.domain.errors import Code, NotFound

__all__ = ["workspace_only"]


def workspace_only(services: Services, project_id: str, iteration_id: str | None) -> None:
    project = services.projects.get(project_id)
    if iteration_id:
        raise NotFound(
            f"Iteration '{iteration_id}' was not found in project {project.id}.", Code.NOT_FOUND_ITERATION
        )
