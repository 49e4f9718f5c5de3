"""The one composition root: settings -> adapters -> services.

The ASGI app factory, the CLI and every Azure Functions trigger call :func:`build_services`
explicitly. Nothing here connects at import time, and the adapters connect on first use.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from shared.keys import Keys, resolve_keys
from shared.net.url_fetch import FetchPolicy
from shared.services.exports import ExportService
from shared.services.images import ImageService
from shared.services.iterations import IterationQueries, IterationService
from shared.services.performance import PerformanceService
from shared.services.predictions import PredictionService
from shared.services.projects import ProjectService
from shared.services.snapshots import SnapshotStore
from shared.services.suggestions import SuggestionService
from shared.services.tags import TagService
from shared.settings import Settings
from shared.stores.embedded.file_blobs import FileBlobStore
from shared.stores.embedded.sqlite_metadata import SqliteMetadataStore
from shared.stores.ports import BlobStore, MetadataStore
from shared.stores.queue import InProcessQueue, WorkQueue
from shared.vision.inference import ModelCache

__all__ = ["Services", "build_services"]


@dataclass(frozen=True)
class Services:
    settings: Settings
    keys: Keys
    meta: MetadataStore
    blobs: BlobStore
    projects: ProjectService
    tags: TagService
    images: ImageService
    iterations: IterationService
    iteration_queries: IterationQueries
    performance: PerformanceService
    exports: ExportService
    predictions: PredictionService
    suggestions: SuggestionService
    queue: WorkQueue
    fetch_policy: FetchPolicy


def build_services(
    settings: Settings,
    *,
    meta: MetadataStore | None = None,
    blobs: BlobStore | None = None,
    queue: WorkQueue | None = None,
) -> Services:
    """Wire the product. ``meta``/``blobs``/``queue`` replace the embedded adapters (tests pass fakes)."""
    meta = meta or SqliteMetadataStore(settings.data_dir / "metadata.sqlite3")
    blobs = blobs or FileBlobStore(settings.data_dir / "blobs")
    queue = queue or InProcessQueue()
    projects = ProjectService(meta, blobs)
    tags = TagService(meta, projects)
    snapshots = SnapshotStore(meta, blobs)
    images = ImageService(meta, blobs, projects, tags, snapshots)
    iterations = IterationService(meta, blobs, projects, tags, snapshots, queue)
    background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="exports")
    predictions = PredictionService(meta, blobs, projects, tags, iterations, images, ModelCache())
    return Services(
        settings=settings,
        keys=resolve_keys(settings),
        meta=meta,
        blobs=blobs,
        projects=projects,
        tags=tags,
        images=images,
        iterations=iterations,
        iteration_queries=IterationQueries(iterations),
        performance=PerformanceService(iterations, blobs),
        exports=ExportService(meta, blobs, iterations, background.submit),
        predictions=predictions,
        suggestions=SuggestionService(meta, blobs, projects, tags, iterations, predictions),
        queue=queue,
        fetch_policy=FetchPolicy(allow_private=settings.allow_private_urls),
    )
