"""The dataset import summary (a cvstudio extension): Custom Vision's image create summary, per file."""

from __future__ import annotations

from shared.api.wire.base import Wire
from shared.services.datasets import DatasetImport

__all__ = ["DatasetImageOut", "DatasetImportOut", "dataset_import_out"]


class DatasetImageOut(Wire):
    source_url: str  # the image's path in the dataset zip
    status: str  # Custom Vision's ImageCreateStatus: OK, OKDuplicate, ErrorImageFormat, ...
    image_id: str | None


class DatasetImportOut(Wire):
    is_batch_successful: bool
    images: list[DatasetImageOut]
    created_tags: list[str]


def dataset_import_out(result: DatasetImport) -> DatasetImportOut:
    return DatasetImportOut(
        is_batch_successful=result.is_batch_successful,
        images=[DatasetImageOut(source_url=i.path, status=i.status.value, image_id=i.image_id) for i in result.images],
        created_tags=result.created_tags,
    )
