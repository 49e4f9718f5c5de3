"""The one composition root: settings -> adapters -> services (and the local worker).

The ASGI app factory, the CLI and every Azure Functions trigger call :func:`build_services`
explicitly. Nothing here connects at import time, and the adapters connect on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from shared.jobs.child_process import HEARTBEAT_SECONDS, ChildProcessLauncher
from shared.jobs.dispatch import Handlers
from shared.jobs.drop_watcher import DropWatcher
from shared.jobs.export_jobs import ExportJobs
from shared.jobs.launcher import JobLauncher
from shared.jobs.training_jobs import RefusingLauncher, TrainingJobs
from shared.jobs.worker import LocalWorker
from shared.keys import Keys, resolve_keys
from shared.net.url_fetch import FetchPolicy
from shared.services.deletions import Deletions
from shared.services.drop_ingestion import DropIngestion
from shared.services.exports import ExportService
from shared.services.image_labels import ImageLabels
from shared.services.image_uploads import ImageUploads
from shared.services.images import ImageService
from shared.services.ingestion import ImageDownloads
from shared.services.iterations import IterationService
from shared.services.model_artifacts import ModelArtifacts
from shared.services.performance import PerformanceService
from shared.services.predictions import PredictionService
from shared.services.project_export import ProjectExports
from shared.services.project_import import ProjectImports
from shared.services.projects import ProjectService
from shared.services.publishing import PublishingService
from shared.services.snapshot_queries import SnapshotQueries
from shared.services.snapshots import SnapshotStore
from shared.services.stored_predictions import StoredPredictions
from shared.services.suggestions import SuggestionService
from shared.services.tags import TagService
from shared.services.training import TrainingService
from shared.settings import InvalidSettings, Settings
from shared.stores.drop_folder import DropFolder
from shared.stores.embedded.drop_directory import DropDirectory
from shared.stores.embedded.file_blobs import FileBlobStore
from shared.stores.embedded.sqlite_metadata import SqliteMetadataStore
from shared.stores.ports import BlobStore, MetadataStore
from shared.stores.queue import InProcessQueue, WorkQueue
from shared.vision.decode_memory import configure_decode_memory
from shared.vision.inference import ModelCache

__all__ = [
    "Services",
    "build_drop_ingestion",
    "build_drop_watcher",
    "build_job_starter",
    "build_launcher",
    "build_local_worker",
    "build_services",
    "build_training_jobs",
]

# Images of an upload batch stored at once (each one's store calls wait on the stores, not the CPU).
UPLOAD_PARALLEL = 8

# A training on a shared queue is resumed by another server after this long without progress or
# heartbeat from its trainer (four missed heartbeats).
RESUME_QUIET_SECONDS = 4 * HEARTBEAT_SECONDS


@dataclass(frozen=True)
class Services:
    settings: Settings
    keys: Keys
    meta: MetadataStore
    blobs: BlobStore
    queue: WorkQueue
    projects: ProjectService
    tags: TagService
    images: ImageService
    uploads: ImageUploads
    labels: ImageLabels
    iterations: IterationService
    training: TrainingService
    snapshot_queries: SnapshotQueries
    artifacts: ModelArtifacts
    performance: PerformanceService
    exports: ExportService
    publishing: PublishingService
    predictions: PredictionService
    downloads: ImageDownloads
    stored_predictions: StoredPredictions
    suggestions: SuggestionService
    deletions: Deletions
    project_exports: ProjectExports
    project_imports: ProjectImports


def _embedded_stores(settings: Settings) -> tuple[MetadataStore, BlobStore, WorkQueue]:
    """SQLite and files under the data dir, and a queue in this process: nothing else to run."""
    return (
        SqliteMetadataStore(settings.data_dir / "metadata.sqlite3"),
        FileBlobStore(settings.data_dir / "blobs"),
        InProcessQueue(),
    )


def _azure_stores(settings: Settings) -> tuple[MetadataStore, BlobStore, WorkQueue]:
    """Cosmos DB, Blob Storage and a Storage Queue: shared by every instance and role. The clients
    connect (and create what is missing) on first use."""
    from shared.stores.azure.blob_store import AzureBlobStore
    from shared.stores.azure.connections import blob_service, queue_service
    from shared.stores.azure.cosmos_metadata import CosmosMetadataStore
    from shared.stores.azure.storage_queue import StorageQueue

    endpoint = settings.cosmos_endpoint or ""  # set: Settings refuses half a configuration
    meta = CosmosMetadataStore(endpoint, settings.cosmos_database, key=settings.cosmos_key)
    blobs = AzureBlobStore(
        blob_service(settings.storage, settings.storage_blob_service_uri),
        container_prefix=settings.storage_container_prefix,
    )
    queues = queue_service(settings.storage, settings.storage_queue_service_uri)
    return meta, blobs, StorageQueue(queues.get_queue_client(settings.training_queue))


def build_services(
    settings: Settings,
    *,
    meta: MetadataStore | None = None,
    blobs: BlobStore | None = None,
    queue: WorkQueue | None = None,
) -> Services:
    """Wire the product on the stores the settings name (Azure, or the embedded default).
    ``meta``/``blobs``/``queue`` replace them (tests pass fakes)."""
    if meta is None or blobs is None or queue is None:
        default_meta, default_blobs, default_queue = (
            _azure_stores(settings) if settings.on_azure else _embedded_stores(settings)
        )
        meta, blobs, queue = meta or default_meta, blobs or default_blobs, queue or default_queue
    configure_decode_memory(settings.decode_memory_mb * 2**20)
    downloads = ImageDownloads(
        FetchPolicy(allow_private=settings.allow_private_urls), threads=settings.url_download_threads
    )
    projects = ProjectService(meta, blobs)
    tags = TagService(meta, projects)
    snapshots = SnapshotStore(meta, blobs)
    uploads = ImageUploads(meta, blobs, projects, tags, downloads, parallel=UPLOAD_PARALLEL)
    iterations = IterationService(meta, blobs, projects, snapshots)
    images = ImageService(meta, blobs, projects, snapshots)
    artifacts = ModelArtifacts(blobs)
    stored_predictions = StoredPredictions(meta, blobs, projects, tags, uploads)
    predictions = PredictionService(tags, iterations, artifacts, ModelCache(), stored_predictions, downloads)
    return Services(
        settings=settings,
        keys=resolve_keys(settings),
        meta=meta,
        blobs=blobs,
        queue=queue,
        projects=projects,
        tags=tags,
        images=images,
        uploads=uploads,
        labels=ImageLabels(meta, projects, tags),
        iterations=iterations,
        training=TrainingService(meta, projects, tags, iterations, snapshots, queue),
        snapshot_queries=SnapshotQueries(iterations),
        artifacts=artifacts,
        performance=PerformanceService(iterations, artifacts),
        exports=ExportService(meta, blobs, iterations, artifacts, queue),
        publishing=PublishingService(meta, projects, iterations),
        predictions=predictions,
        downloads=downloads,
        stored_predictions=stored_predictions,
        suggestions=SuggestionService(meta, blobs, projects, tags, iterations, predictions),
        deletions=Deletions(
            meta, projects, tags, images, queue, unrecorded_grace=settings.unrecorded_bytes_grace_seconds
        ),
        project_exports=ProjectExports(meta, projects, tags),
        project_imports=ProjectImports(
            meta, projects, tags, uploads, downloads, allow_private=settings.allow_private_urls
        ),
    )


def build_launcher(services: Services) -> JobLauncher:
    """Who runs queued training (``settings.runner``): ``cvstudio train-iteration`` in child processes
    of this server, or an execution of the Container Apps job per iteration."""
    settings = services.settings
    if settings.runner == "container-apps":
        from shared.jobs.container_apps import ContainerAppsLauncher

        return ContainerAppsLauncher(settings.training_job_id or "", endpoint=settings.arm_endpoint)
    return ChildProcessLauncher(
        settings.data_dir, heartbeat=lambda job: services.iterations.heartbeat(job.project_id, job.iteration_id)
    )


def build_training_jobs(services: Services, launcher: JobLauncher) -> TrainingJobs:
    """The TrainIteration handler over ``launcher`` (from :func:`build_launcher`)."""
    elsewhere = services.settings.runner == "container-apps"
    return TrainingJobs(services.projects, services.iterations, launcher, starts_elsewhere=elsewhere)


def build_job_starter(services: Services) -> TrainingJobs:
    """The queue trigger's handler: it only ever starts Container Apps job executions. A Function App
    that cannot (no job, a malformed job id) refuses every start with what to fix, so that each
    queued iteration ends ``Failed`` saying so rather than waiting for the queue to give up."""
    return TrainingJobs(services.projects, services.iterations, _job_starter(services), starts_elsewhere=True)


def build_export_starter(services: Services) -> ExportJobs:
    """The queue trigger's export handler: each export packaged by an execution of the same job."""
    return ExportJobs(services.exports, _job_starter(services))


def _job_starter(services: Services) -> JobLauncher:
    settings = services.settings
    if settings.runner != "container-apps":
        reason = (
            "the Function App starts each training as an execution of a Container Apps job, and none is "
            "configured: set CVSTUDIO_TRAINING_JOB_ID to the job's resource id (CVSTUDIO_TRAINING_RUNNER=local "
            "is for `cvstudio serve`)."
        )
        launcher: JobLauncher = RefusingLauncher(reason)
    else:
        try:
            launcher = build_launcher(services)
        except InvalidSettings as exc:
            launcher = RefusingLauncher(str(exc))
    return launcher


def build_local_worker(services: Services) -> LocalWorker:
    """The worker of ``cvstudio serve``: queued training in child processes of this server, or, with
    the Container Apps runner, executions of the job started from here and stalled trainings ended."""
    launcher = build_launcher(services)
    handlers = Handlers(
        build_training_jobs(services, launcher),
        services.deletions,
        ExportJobs(services.exports, launcher),
        services.project_imports,
    )
    sweep: Callable[[], object] | None = None
    resume_quiet_for = None
    if services.settings.runner == "container-apps":
        sweep = partial(services.iterations.fail_stalled, services.settings.training_stall_seconds)
    elif services.settings.on_azure:  # local trainers on a queue that other servers share
        resume_quiet_for = RESUME_QUIET_SECONDS
        sweep = partial(services.training.resume_unfinished, RESUME_QUIET_SECONDS)
    return LocalWorker(
        services.queue,
        handlers,
        launcher,
        services.training,
        sweep=sweep,
        resume_quiet_for=resume_quiet_for,
        deletions=services.deletions,
        alone=not services.settings.on_azure,  # the embedded stores belong to this one server
        imports=services.project_imports,
    )


def build_drop_ingestion(services: Services) -> DropIngestion:
    """The drop-folder ingestion on the settings' drop folder: the blob container
    ``drop_container`` on Azure (the blob trigger's), else the directory ``drop_dir``."""
    settings = services.settings
    folder: DropFolder
    if settings.on_azure:
        from shared.stores.azure.connections import blob_service
        from shared.stores.azure.drop_container import DropContainer

        folder = DropContainer(
            blob_service(settings.storage, settings.storage_blob_service_uri), settings.drop_container
        )
    else:
        folder = DropDirectory(settings.drop_dir)
    return DropIngestion(folder, services.projects, services.tags, services.uploads, services.labels)


def build_drop_watcher(services: Services) -> DropWatcher | None:
    """The watcher of ``cvstudio serve``'s local drop folder (``<data dir>/drop``, made here), on the
    embedded default only: on Azure the blob trigger ingests the drop container."""
    if services.settings.on_azure:
        return None
    services.settings.drop_dir.mkdir(parents=True, exist_ok=True)
    return DropWatcher(build_drop_ingestion(services))
