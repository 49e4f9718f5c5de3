"""Iterations: the Iteration shape (with the studio's training progress), its update body, and the
training parameters of ``train_project``."""

from __future__ import annotations

import math

from shared.api.wire.base import Wire
from shared.domain.catalogue import find_domain
from shared.domain.entities import Iteration
from shared.domain.enums import IterationStatus

__all__ = [
    "CustomBaseModelInfoIn",
    "IterationIn",
    "IterationOut",
    "TrainingParametersIn",
    "TrainingProgressOut",
    "iteration_out",
]


class TrainingProgressOut(Wire):
    """Not in Custom Vision's schema (the SDK ignores it): what the studio draws while training."""

    stage: str
    percent: int


class IterationOut(Wire):
    id: str
    name: str
    status: str
    created: str
    last_modified: str
    trained_at: str | None
    project_id: str
    exportable: bool
    exportable_to: list[str]
    domain_id: str | None
    classification_type: str
    training_type: str
    reserved_budget_in_hours: int
    training_time_in_minutes: int
    publish_name: str
    original_publish_resource_id: str
    custom_base_model_info: None = None
    training_error_details: str | None
    progress: TrainingProgressOut | None = None


class IterationIn(Wire):
    name: str | None = None


class CustomBaseModelInfoIn(Wire):
    project_id: str | None = None
    iteration_id: str | None = None


class TrainingParametersIn(Wire):
    selected_tags: list[str] | None = None
    custom_base_model_info: CustomBaseModelInfoIn | None = None


def iteration_out(iteration: Iteration) -> IterationOut:
    domain = find_domain(iteration.domain_id)
    exportable = bool(domain and domain.exportable) and iteration.status == IterationStatus.COMPLETED
    progress = iteration.progress
    return IterationOut(
        id=iteration.id,
        name=iteration.name,
        status=iteration.status,
        created=iteration.created,
        last_modified=iteration.last_modified,
        trained_at=iteration.trained_at,
        project_id=iteration.project_id,
        exportable=exportable,
        exportable_to=list(domain.exportable_platforms) if exportable and domain else [],
        domain_id=iteration.domain_id,
        classification_type=iteration.classification_type,
        training_type=iteration.training_type,
        reserved_budget_in_hours=iteration.reserved_budget_in_hours,
        training_time_in_minutes=math.ceil(iteration.training_seconds / 60),
        publish_name=iteration.publish_name,
        original_publish_resource_id=iteration.original_publish_resource_id,
        training_error_details=iteration.training_error_details,
        progress=TrainingProgressOut(stage=progress.stage, percent=progress.percent) if progress else None,
    )
