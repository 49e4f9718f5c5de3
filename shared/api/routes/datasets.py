"""Datasets in COCO, Pascal VOC, YOLO or CSV (a cvstudio extension beside the Custom Vision routes).

``GET .../projects/{projectId}/dataset?format=coco`` answers a zip of the project's images and
annotations; ``POST`` the same path with such a zip as the body imports it into the project (tags
the project lacks are created) and answers a status per image, 207 when some were not stored.
The formats' layouts and conventions: :mod:`shared.formats.datasets`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from shared.api.deps import ServicesDep
from shared.api.wire.datasets import DatasetImportOut, dataset_import_out
from shared.bootstrap import Services
from shared.formats.datasets import FORMATS
from shared.services.datasets import DatasetService

router = APIRouter(tags=["datasets"])
Format = Annotated[
    str, Query(alias="format", description="coco, voc, yolo or csv", json_schema_extra={"enum": list(FORMATS)})
]
_SPOOL_BYTES = 16 * 1024 * 1024  # an export larger than this is spooled to a temporary file
_CHUNK = 1024 * 1024


def _datasets(services: Services) -> DatasetService:
    return DatasetService(
        services.projects,
        services.tags,
        services.images,
        services.uploads,
        services.labels,
        max_archive_bytes=services.settings.max_file_batch_body_bytes,
    )


@router.get(
    "/projects/{projectId}/dataset",
    operation_id="ExportDataset",
    response_class=Response,
    responses={200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}},
    summary="cvstudio extension: the project's images and labels as a COCO, Pascal VOC, YOLO or CSV zip",
)
async def export_dataset(services: ServicesDep, projectId: str, format: Format) -> Response:  # noqa: N803, A002
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 (closed by the stream)
    try:
        await run_in_threadpool(_datasets(services).export, projectId, format, spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        with spool:
            while chunk := spool.read(_CHUNK):
                yield chunk

    name = f"dataset-{format}.zip"
    return StreamingResponse(
        chunks(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post(
    "/projects/{projectId}/dataset",
    operation_id="ImportDataset",
    response_model=DatasetImportOut,
    responses={207: {"model": DatasetImportOut}},
    summary="cvstudio extension: import a COCO, Pascal VOC, YOLO or CSV dataset zip into the project",
)
async def import_dataset(
    request: Request,
    response: Response,
    services: ServicesDep,
    projectId: str,  # noqa: N803
    format: Format,  # noqa: A002
) -> DatasetImportOut:
    body = await request.body()
    result = await run_in_threadpool(_datasets(services).import_archive, projectId, format, body)
    if not result.is_batch_successful:
        response.status_code = 207
    return dataset_import_out(result)
