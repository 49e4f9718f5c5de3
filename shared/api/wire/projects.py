"""Projects: the Project shape, its settings, the ``update_project`` body and the create options.

Descriptions are ``""`` rather than null, because the SDK refuses to send a null description back
in ``update_project``/``update_tag``.
"""

from __future__ import annotations

from pydantic import Field

from shared.api.wire.base import Wire
from shared.domain.entities import Project
from shared.services.project_export import ProjectExport

__all__ = [
    "CreateProjectOptionsIn",
    "ImageProcessingSettings",
    "ProjectExportOut",
    "ProjectIn",
    "ProjectOut",
    "ProjectSettingsIn",
    "ProjectSettingsOut",
    "project_export_out",
    "project_out",
]


class ImageProcessingSettings(Wire):
    augmentation_methods: dict[str, bool] | None = None


class ProjectSettingsOut(Wire):
    domain_id: str
    classification_type: str
    target_export_platforms: list[str]
    use_negative_set: bool = True
    detection_parameters: str | None = None
    image_processing_settings: ImageProcessingSettings
    export_model_container_uri: str | None = None
    notification_queue_uri: str | None = None


class ProjectOut(Wire):
    id: str
    name: str
    description: str
    settings: ProjectSettingsOut
    created: str
    last_modified: str
    thumbnail_uri: str = ""
    dr_mode_enabled: bool = False
    status: str


class ProjectSettingsIn(Wire):
    domain_id: str | None = None
    classification_type: str | None = None
    target_export_platforms: list[str] | None = None
    image_processing_settings: ImageProcessingSettings | None = None


class ProjectIn(Wire):
    """The PATCH body of ``update_project``: the writable fields of a Project."""

    name: str | None = None
    description: str | None = None
    settings: ProjectSettingsIn | None = None


class CreateProjectOptionsIn(Wire):
    export_model_container_uri: str | None = None
    notification_queue_uri: str | None = None


def project_out(project: Project) -> ProjectOut:
    return ProjectOut(
        id=project.id,
        name=project.name,
        description=project.description,
        settings=ProjectSettingsOut(
            domain_id=project.domain_id,
            classification_type=project.classification_type,
            target_export_platforms=list(project.target_export_platforms),
            image_processing_settings=ImageProcessingSettings(augmentation_methods=project.augmentation_methods),
            export_model_container_uri=project.export_model_container_uri,
            notification_queue_uri=project.notification_queue_uri,
        ),
        created=project.created,
        last_modified=project.last_modified,
        status=project.status,
    )


class ProjectExportOut(Wire):
    """``export_project``'s answer: what the import will copy, and the token to pass to ``import_project``."""

    iteration_count: int
    image_count: int
    tag_count: int
    region_count: int
    estimated_import_time_in_ms: int = Field(alias="estimatedImportTimeInMS")
    token: str


def project_export_out(export: ProjectExport) -> ProjectExportOut:
    return ProjectExportOut(
        iteration_count=export.iteration_count,
        image_count=export.image_count,
        tag_count=export.tag_count,
        region_count=export.region_count,
        estimatedImportTimeInMS=export.estimated_import_time_in_ms,
        token=export.token,
    )
