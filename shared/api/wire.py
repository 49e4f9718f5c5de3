"""Custom Vision's JSON shapes (camelCase, exactly as on the wire) and the converters that fill them.

Input models (``...In``) parse request bodies; output models mirror the SDK's models (see the
compatibility SPEC §3). Stored entities never reach the wire: the ``*_out`` functions translate.
Descriptions are ``""`` rather than null, because the SDK refuses to send a null description back
in ``update_project``/``update_tag``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from shared.domain.catalogue import Domain, find_domain
from shared.domain.entities import COMPLETED, Image, Iteration, Project, Region, Tag
from shared.services.exports import ExportRecord
from shared.services.images import ImageCreateSummary, RegionCreateSummary, RegionInput, TagCreateSummary
from shared.services.performance import ImagePerformance
from shared.services.predictions import PredictedTag, PredictionResult
from shared.services.suggestions import Suggestion
from shared.services.tags import TagWithCount
from shared.vision.evaluation import IterationPerformance

__all__ = [
    "ImageIdCreateBatchIn",
    "ImagePredictionOut",
    "ImageRegionProposalOut",
    "ImageUrlIn",
    "PredictionQueryResultOut",
    "PredictionQueryTokenIn",
    "PredictionQueryTokenOut",
    "RegionProposalOut",
    "StoredImagePredictionOut",
    "SuggestedTagAndRegionOut",
    "SuggestedTagAndRegionQueryOut",
    "SuggestedTagAndRegionQueryTokenIn",
    "TagFilterIn",
    "image_prediction_out",
    "stored_prediction_out",
    "stored_suggestion_out",
    "suggestion_out",
    "DomainOut",
    "ExportOut",
    "ImagePerformanceOut",
    "IterationPerformanceOut",
    "PredictionOut",
    "ImageCreateSummaryOut",
    "ImageFileCreateBatchIn",
    "ImageMetadataUpdateSummaryOut",
    "ImageOut",
    "ImageRegionCreateBatchIn",
    "ImageRegionCreateSummaryOut",
    "ImageTagCreateBatchIn",
    "ImageTagCreateSummaryOut",
    "ImageUrlCreateBatchIn",
    "IterationIn",
    "IterationOut",
    "ProjectIn",
    "ProjectOut",
    "TagIn",
    "TagOut",
    "TrainingParametersIn",
    "UriFor",
    "domain_out",
    "export_out",
    "image_performance_out",
    "performance_out",
    "prediction_out",
    "image_out",
    "iteration_out",
    "project_out",
    "tag_out",
]

# (project id, image id, variant) -> an absolute URL a browser can fetch
UriFor = Callable[[str, str, str], str]


class Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


# -- domains ------------------------------------------------------------------------------------


class ModelInformationOut(Wire):
    estimated_model_size_in_megabytes: int
    description: str


class DomainOut(Wire):
    id: str
    name: str
    type: str
    exportable: bool
    enabled: bool
    exportable_platforms: list[str]
    model_information: ModelInformationOut


def domain_out(domain: Domain) -> DomainOut:
    return DomainOut(
        id=domain.id,
        name=domain.name,
        type=domain.type,
        exportable=domain.exportable,
        enabled=True,
        exportable_platforms=list(domain.exportable_platforms),
        model_information=ModelInformationOut(
            estimated_model_size_in_megabytes=domain.model_size_mb, description=domain.description
        ),
    )


# -- projects -----------------------------------------------------------------------------------


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


# -- tags ---------------------------------------------------------------------------------------


class TagOut(Wire):
    id: str
    name: str
    description: str
    type: str
    image_count: int


class TagIn(Wire):
    name: str | None = None
    description: str | None = None
    type: str | None = None


def tag_out(item: TagWithCount) -> TagOut:
    tag = item.tag
    return TagOut(id=tag.id, name=tag.name, description=tag.description, type=tag.type, image_count=item.image_count)


# -- images -------------------------------------------------------------------------------------


class ImageTagOut(Wire):
    tag_id: str
    tag_name: str
    created: str


class RegionIn(Wire):
    tag_id: str
    left: float
    top: float
    width: float
    height: float


class ImageRegionOut(RegionIn):
    region_id: str
    tag_name: str
    created: str


class ImageOut(Wire):
    id: str
    created: str
    width: int
    height: int
    resized_image_uri: str
    thumbnail_uri: str
    original_image_uri: str
    tags: list[ImageTagOut] | None
    regions: list[ImageRegionOut] | None
    metadata: dict[str, str] | None


def _region_out(region: Region, tags: Mapping[str, Tag]) -> ImageRegionOut:
    return ImageRegionOut(
        region_id=region.id,
        tag_id=region.tag_id,
        tag_name=tags[region.tag_id].name if region.tag_id in tags else "",
        created=region.created,
        left=region.left,
        top=region.top,
        width=region.width,
        height=region.height,
    )


def image_out(image: Image, tags: Mapping[str, Tag], uri_for: UriFor) -> ImageOut:
    return ImageOut(
        id=image.id,
        created=image.created,
        width=image.width,
        height=image.height,
        resized_image_uri=uri_for(image.project_id, image.id, "resized"),
        thumbnail_uri=uri_for(image.project_id, image.id, "thumbnail"),
        original_image_uri=uri_for(image.project_id, image.id, "original"),
        tags=[
            ImageTagOut(tag_id=t.tag_id, tag_name=tags[t.tag_id].name, created=t.created)
            for t in image.tags
            if t.tag_id in tags
        ]
        or None,
        regions=[_region_out(r, tags) for r in image.regions] or None,
        metadata=image.metadata or None,
    )


class ImageCreateResultOut(Wire):
    source_url: str | None
    status: str
    image: ImageOut | None


class ImageCreateSummaryOut(Wire):
    is_batch_successful: bool
    images: list[ImageCreateResultOut]


def image_create_summary_out(
    summary: ImageCreateSummary, tags: Mapping[str, Tag], uri_for: UriFor
) -> ImageCreateSummaryOut:
    return ImageCreateSummaryOut(
        is_batch_successful=summary.is_batch_successful,
        images=[
            ImageCreateResultOut(
                source_url=r.source_url,
                status=r.status,
                image=image_out(r.image, tags, uri_for) if r.image else None,
            )
            for r in summary.images
        ],
    )


class _LabelsIn(Wire):
    """What an upload entry may say about its image: tags (classification) and boxes (detection)."""

    tag_ids: list[str] | None = None
    regions: list[RegionIn] | None = None


class _BatchIn(Wire):
    """What applies to every image of an upload batch."""

    tag_ids: list[str] | None = None
    metadata: dict[str, str] | None = None


class ImageFileCreateEntryIn(_LabelsIn):
    name: str | None = None
    contents: str | None = None


class ImageFileCreateBatchIn(_BatchIn):
    images: list[ImageFileCreateEntryIn] | None = None


class ImageUrlCreateEntryIn(_LabelsIn):
    url: str


class ImageUrlCreateBatchIn(_BatchIn):
    images: list[ImageUrlCreateEntryIn] | None = None


# -- image tags, regions and metadata -----------------------------------------------------------


class ImageTagCreateEntry(Wire):
    image_id: str
    tag_id: str


class ImageTagCreateBatchIn(Wire):
    tags: list[ImageTagCreateEntry] | None = None


class ImageTagCreateSummaryOut(Wire):
    created: list[ImageTagCreateEntry]
    duplicated: list[ImageTagCreateEntry]
    exceeded: list[ImageTagCreateEntry]


def image_tag_summary_out(summary: TagCreateSummary) -> ImageTagCreateSummaryOut:
    def entries(pairs: list[tuple[str, str]]) -> list[ImageTagCreateEntry]:
        return [ImageTagCreateEntry(image_id=i, tag_id=t) for i, t in pairs]

    return ImageTagCreateSummaryOut(
        created=entries(summary.created),
        duplicated=entries(summary.duplicated),
        exceeded=entries(summary.exceeded),
    )


class ImageRegionCreateEntryIn(RegionIn):
    image_id: str


class ImageRegionCreateBatchIn(Wire):
    regions: list[ImageRegionCreateEntryIn] | None = None


class ImageRegionCreateResultOut(ImageRegionOut):
    image_id: str


class ImageRegionCreateSummaryOut(Wire):
    created: list[ImageRegionCreateResultOut]
    duplicated: list[ImageRegionCreateEntryIn]
    exceeded: list[ImageRegionCreateEntryIn]


def image_region_summary_out(summary: RegionCreateSummary, tags: Mapping[str, Tag]) -> ImageRegionCreateSummaryOut:
    def entries(pairs: list[tuple[str, RegionInput]]) -> list[ImageRegionCreateEntryIn]:
        return [
            ImageRegionCreateEntryIn(
                image_id=i,
                tag_id=r.tag_id,
                left=r.left,
                top=r.top,
                width=r.width,
                height=r.height,
            )
            for i, r in pairs
        ]

    return ImageRegionCreateSummaryOut(
        created=[
            ImageRegionCreateResultOut(image_id=i, **_region_out(r, tags).model_dump()) for i, r in summary.created
        ],
        duplicated=entries(summary.duplicated),
        exceeded=entries(summary.exceeded),
    )


class ImageMetadataUpdateEntryOut(Wire):
    image_id: str
    status: str
    metadata: dict[str, str] | None


class ImageMetadataUpdateSummaryOut(Wire):
    is_batch_successful: bool
    images: list[ImageMetadataUpdateEntryOut]


# -- iterations ---------------------------------------------------------------------------------


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
    exportable = bool(domain and domain.exportable) and iteration.status == COMPLETED
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
        progress=TrainingProgressOut(stage=progress["stage"], percent=progress["percent"]) if progress else None,
    )


# -- performance and exports ------------------------------------------------------------------------


class TagPerformanceOut(Wire):
    id: str
    name: str
    precision: float
    precision_std_deviation: float
    recall: float
    recall_std_deviation: float
    average_precision: float


class IterationPerformanceOut(Wire):
    per_tag_performance: list[TagPerformanceOut]
    precision: float
    precision_std_deviation: float
    recall: float
    recall_std_deviation: float
    average_precision: float


def performance_out(result: IterationPerformance, tags: Mapping[str, Tag]) -> IterationPerformanceOut:
    return IterationPerformanceOut(
        per_tag_performance=[
            TagPerformanceOut(
                id=t.tag_id,
                name=tags[t.tag_id].name if t.tag_id in tags else "",
                precision=t.precision,
                precision_std_deviation=t.precision_std,
                recall=t.recall,
                recall_std_deviation=t.recall_std,
                average_precision=t.average_precision,
            )
            for t in result.per_tag
        ],
        precision=result.precision,
        precision_std_deviation=result.precision_std,
        recall=result.recall,
        recall_std_deviation=result.recall_std,
        average_precision=result.average_precision,
    )


class BoundingBoxOut(Wire):
    left: float
    top: float
    width: float
    height: float


def _box_out(box: Sequence[float] | None) -> BoundingBoxOut | None:
    return BoundingBoxOut(left=box[0], top=box[1], width=box[2], height=box[3]) if box else None


class PredictionOut(Wire):
    probability: float
    tag_id: str
    tag_name: str
    bounding_box: BoundingBoxOut | None = None
    tag_type: str


def prediction_out(
    tag_id: str, probability: float, box: tuple[float, float, float, float] | None, tags: Mapping[str, Tag]
) -> PredictionOut:
    tag = tags.get(tag_id)
    return PredictionOut(
        probability=probability,
        tag_id=tag_id,
        tag_name=tag.name if tag else "",
        bounding_box=_box_out(box),
        tag_type=tag.type if tag else "Regular",
    )


class ImagePerformanceOut(Wire):
    predictions: list[PredictionOut]
    id: str
    created: str
    width: int
    height: int
    image_uri: str
    thumbnail_uri: str
    tags: list[ImageTagOut] | None
    regions: list[ImageRegionOut] | None


def image_performance_out(item: ImagePerformance, tags: Mapping[str, Tag], uri_for: UriFor) -> ImagePerformanceOut:
    image = image_out(item.image, tags, uri_for)
    return ImagePerformanceOut(
        predictions=[prediction_out(p.tag_id, p.probability, p.box, tags) for p in item.predictions],
        id=image.id,
        created=image.created,
        width=image.width,
        height=image.height,
        image_uri=image.resized_image_uri,
        thumbnail_uri=image.thumbnail_uri,
        tags=image.tags,
        regions=image.regions,
    )


class ExportOut(Wire):
    platform: str
    status: str
    download_uri: str
    flavor: str | None
    newer_version_available: bool = False


def export_out(record: ExportRecord, download_uri: str) -> ExportOut:
    return ExportOut(
        platform=record.platform,
        status=record.status,
        download_uri=download_uri if record.status == "Done" else "",
        flavor=record.flavor,
    )


# -- predictions ------------------------------------------------------------------------------------


class ImagePredictionOut(Wire):
    id: str
    project: str
    iteration: str
    created: str
    predictions: list[PredictionOut]


class StoredImagePredictionOut(ImagePredictionOut):
    resized_image_uri: str
    thumbnail_uri: str
    original_image_uri: str
    domain: str


def _predictions_out(found: Sequence[PredictedTag]) -> list[PredictionOut]:
    return [
        PredictionOut(
            probability=p.probability,
            tag_id=p.tag_id,
            tag_name=p.tag_name,
            tag_type=p.tag_type,
            bounding_box=_box_out(p.box),
        )
        for p in found
    ]


def image_prediction_out(result: PredictionResult) -> ImagePredictionOut:
    return ImagePredictionOut(
        id=result.id,
        project=result.project_id,
        iteration=result.iteration_id,
        created=result.created,
        predictions=_predictions_out(result.predictions),
    )


def stored_prediction_out(result: PredictionResult, uri_for: UriFor) -> StoredImagePredictionOut:
    return StoredImagePredictionOut(
        **image_prediction_out(result).model_dump(),
        resized_image_uri=uri_for(result.project_id, result.id, "resized"),
        thumbnail_uri=uri_for(result.project_id, result.id, "thumbnail"),
        original_image_uri=uri_for(result.project_id, result.id, "original"),
        domain=result.domain_id,
    )


class ImageUrlIn(Wire):
    url: str


class PredictionQueryTagIn(Wire):
    id: str
    min_threshold: float = 0.0
    max_threshold: float = 1.0


class PredictionQueryTokenIn(Wire):
    session: str | None = None
    continuation: str | None = None
    max_count: int | None = None
    order_by: str | None = None
    tags: list[PredictionQueryTagIn] | None = None
    iteration_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    application: str | None = None


class PredictionQueryTokenOut(Wire):
    session: str | None = None
    continuation: str | None = None
    max_count: int | None = None
    order_by: str | None = None
    tags: list[PredictionQueryTagIn] | None = None
    iteration_id: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    application: str | None = None


class PredictionQueryResultOut(Wire):
    token: PredictionQueryTokenOut
    results: list[StoredImagePredictionOut]


class ImageIdCreateEntryIn(_LabelsIn):
    id: str


class ImageIdCreateBatchIn(_BatchIn):
    images: list[ImageIdCreateEntryIn] | None = None


# -- suggestions --------------------------------------------------------------------------------------


class SuggestedTagAndRegionOut(ImagePredictionOut):
    prediction_uncertainty: float


class StoredSuggestedTagAndRegionOut(SuggestedTagAndRegionOut):
    width: int
    height: int
    resized_image_uri: str
    thumbnail_uri: str
    original_image_uri: str
    domain: str


def suggestion_out(found: Suggestion) -> SuggestedTagAndRegionOut:
    return SuggestedTagAndRegionOut(
        id=found.image.id,
        project=found.image.project_id,
        iteration=found.iteration_id,
        created=found.created,
        predictions=_predictions_out(found.predictions),
        prediction_uncertainty=found.uncertainty,
    )


def stored_suggestion_out(found: Suggestion, uri_for: UriFor, domain_id: str) -> StoredSuggestedTagAndRegionOut:
    return StoredSuggestedTagAndRegionOut(
        **suggestion_out(found).model_dump(),
        width=found.image.width,
        height=found.image.height,
        resized_image_uri=uri_for(found.image.project_id, found.image.id, "resized"),
        thumbnail_uri=uri_for(found.image.project_id, found.image.id, "thumbnail"),
        original_image_uri=uri_for(found.image.project_id, found.image.id, "original"),
        domain=domain_id,
    )


class SuggestedTagAndRegionQueryTokenIn(Wire):
    tag_ids: list[str] | None = None
    threshold: float | None = None
    session: str | None = None
    continuation: str | None = None
    max_count: int | None = None
    sort_by: str | None = None


class SuggestedTagAndRegionQueryOut(Wire):
    token: SuggestedTagAndRegionQueryTokenIn
    results: list[StoredSuggestedTagAndRegionOut]


class TagFilterIn(Wire):
    tag_ids: list[str] | None = None
    threshold: float | None = None


class RegionProposalOut(Wire):
    confidence: float
    bounding_box: BoundingBoxOut


class ImageRegionProposalOut(Wire):
    project_id: str
    image_id: str
    proposals: list[RegionProposalOut]
