"""The drop folder's blob trigger (the training role): a blob written into the drop container is ingested.

``drop_folder`` fires for every blob written into ``%CVSTUDIO_DROP_CONTAINER%`` (Event Grid
source: the only one Flex Consumption supports; the Bicep's Event Grid subscription targets
``Host.Functions.drop_folder``) and hands the blob to
:class:`~shared.services.drop_ingestion.DropIngestion`, which answers every file with
``<file>.result.json`` and sets bad files aside. It fires for those result files too; the
ingestion ignores them, so nothing loops. Input problems (not an image, an unknown project, a
malformed annotation) are the file's result, never an exception; only a store failure raises,
so that the host delivers the blob again.
"""

from __future__ import annotations

import logging
from functools import cache

import azure.functions as func

from functions.runtime import services
from shared.bootstrap import build_drop_ingestion
from shared.services.drop_ingestion import DropIngestion

__all__ = ["bp"]

log = logging.getLogger(__name__)

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # its __init__ is not annotated


@cache
def _drops() -> DropIngestion:
    return build_drop_ingestion(services())


def _name_in_container(blob: func.InputStream) -> str:
    """The blob's name inside the drop container (the host names it ``<container>/<name>``)."""
    name = blob.name or ""
    container = services().settings.drop_container
    return name[len(container) + 1 :] if name.startswith(container + "/") else name


@bp.blob_trigger(
    arg_name="blob",
    path="%CVSTUDIO_DROP_CONTAINER%/{name}",
    connection="CVSTUDIO_STORAGE",
    source=func.BlobSource.EVENT_GRID,
)
def drop_folder(blob: func.InputStream) -> None:
    name = _name_in_container(blob)
    result = _drops().ingest(name, blob.read())
    if result is not None:
        log.info("drop folder: %s -> %s %s", name, result.status.value, result.image_id or result.code or "")
