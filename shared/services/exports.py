"""Iteration exports: recorded by the API, packaged where the converters are.

``export`` checks the request against the platforms this cvstudio builds
(:func:`shared.exporting.platforms.resolve`: Custom Vision's refusal up front), records the export as
``Exporting`` and enqueues an :class:`~shared.contracts.jobs.ExportIteration`. Whatever reads the queue
runs ``cvstudio export-iteration`` where the converters are installed (the local worker's child
process; the Container Apps job in Azure), which calls :meth:`ExportService.run`: the package (a zip of
the builder's files) is written, then the export is marked ``Done``, or ``Failed`` with a plain reason.

Never ``Exporting`` forever: ``run`` restarts the export's clock (``created``) when packaging begins,
and an export still ``Exporting`` :data:`EXPORT_STALL_SECONDS` later (its exporter died) is reported
``Failed`` by the next read, and exported again by the next request. A second request while one runs is
refused with ``BadRequestExportAlreadyInProgress``; once done, the existing export is returned.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import tempfile
import zipfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from shared.contracts.jobs import ExportIteration, encode
from shared.domain.catalogue import find_domain
from shared.domain.clock import utc_ago, utc_now
from shared.domain.enums import ExportStatus, IterationStatus
from shared.domain.errors import BadRequest, Code, Conflict, NotFound, plain_reason
from shared.domain.limits import EXPORT_STALL_SECONDS
from shared.domain.records import ExportRecord
from shared.exporting.errors import PlatformUnavailable
from shared.exporting.platforms import resolve
from shared.exporting.source import ExportSource
from shared.services.artifact_keys import export_key
from shared.services.iterations import IterationService
from shared.services.model_artifacts import ModelArtifacts
from shared.stores.documents import Documents
from shared.stores.ports import BlobStore, MetadataStore
from shared.stores.queue import WorkQueue

__all__ = ["ExportService"]

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9]+")
_STALLED = "The export did not finish (its exporter stopped); export again."


class ExportService:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        iterations: IterationService,
        artifacts: ModelArtifacts,
        queue: WorkQueue,
    ) -> None:
        self._docs = Documents(meta, ExportRecord, guid_ids=False)
        self._blobs = blobs
        self._iterations = iterations
        self._artifacts = artifacts
        self._queue = queue

    def export(self, project_id: str, iteration_id: str, platform: str | None, flavor: str | None) -> ExportRecord:
        iteration = self._iterations.get(project_id, iteration_id)
        if iteration.status == IterationStatus.TRAINING:
            raise BadRequest(
                f"{iteration.name} is still training; export it once it has finished.",
                Code.BAD_REQUEST_EXPORT_WHILE_TRAINING,
            )
        if iteration.status != IterationStatus.COMPLETED:
            raise BadRequest(
                f"{iteration.name} did not train successfully; there is no model to export.",
                Code.BAD_REQUEST_ITERATION_IS_NOT_TRAINED,
            )
        domain = find_domain(iteration.domain_id)
        if domain is None or not domain.exportable:
            raise BadRequest(
                f"{iteration.name} was trained on a domain that cannot be exported "
                f"({domain.name if domain else iteration.domain_id}); switch the project to a compact domain and "
                "train again.",
                Code.BAD_REQUEST_EXPORT_VALIDATION_FAILED,
            )
        chosen, chosen_flavor = resolve(platform, flavor, domain)
        suffix = _SAFE.sub("", chosen_flavor or "") or "default"
        record = ExportRecord(
            id=f"{iteration.id}.{chosen}.{suffix}",
            project_id=iteration.project_id,
            iteration_id=iteration.id,
            platform=chosen,
            flavor=chosen_flavor,
            status=ExportStatus.EXPORTING,
            created=utc_now(),
            file_name=f"{chosen.lower()}-{suffix.lower()}.zip",
        )
        try:
            self._docs.create(record)
        except Conflict:
            existing = self._reported(self._docs.get(iteration.project_id, record.id))
            if existing.status == ExportStatus.EXPORTING:
                raise BadRequest(
                    f"{iteration.id} is already queued for export.", Code.BAD_REQUEST_EXPORT_ALREADY_IN_PROGRESS
                ) from None
            if existing.status == ExportStatus.DONE:
                return existing
            self._docs.put(record)  # retry a failed export
        self._queue.put(encode(ExportIteration(record.project_id, record.iteration_id, record.id)))
        return record

    def list(self, project_id: str, iteration_id: str) -> list[ExportRecord]:
        iteration = self._iterations.get(project_id, iteration_id)
        return [self._reported(r) for r in self._docs.iterate(iteration.project_id) if r.iteration_id == iteration.id]

    def _reported(self, record: ExportRecord) -> ExportRecord:
        """The record as it stands: one whose exporter went silent is ``Failed`` from now on."""
        if record.status != ExportStatus.EXPORTING or record.created > utc_ago(timedelta(seconds=EXPORT_STALL_SECONDS)):
            return record

        def stalled(current: ExportRecord) -> ExportRecord | None:
            if current.status != ExportStatus.EXPORTING or current.created != record.created:
                return None  # it moved on meanwhile
            return replace(current, status=ExportStatus.FAILED, error=_STALLED)

        with contextlib.suppress(NotFound):
            return self._docs.update(record.project_id, record.id, stalled)
        return record

    def waiting(self, job: ExportIteration) -> bool:
        """Whether the export is still to be packaged (messages may arrive twice)."""
        record = self._docs.find(job.project_id, job.export_id)
        return record is not None and record.status == ExportStatus.EXPORTING

    def fail(self, job: ExportIteration, reason: str) -> None:
        """End an export that is still ``Exporting`` as ``Failed`` (its exporter never said how it ended)."""

        def failed(current: ExportRecord) -> ExportRecord | None:
            if current.status != ExportStatus.EXPORTING:
                return None
            return replace(current, status=ExportStatus.FAILED, error=reason[:500])

        with contextlib.suppress(NotFound):
            self._docs.update(job.project_id, job.export_id, failed)

    def run(self, job: ExportIteration) -> None:
        """Package the export (the ``export-iteration`` job): the zip, then ``Done``, or ``Failed`` with why."""
        try:
            record = self._docs.update(job.project_id, job.export_id, _begun)
        except NotFound:
            record = None
        if record is None or record.status != ExportStatus.EXPORTING:
            log.info("export %s is not waiting to be packaged; nothing to do", job.export_id)
            return
        key = export_key(record.project_id, record.iteration_id, record.file_name)
        try:
            with tempfile.TemporaryDirectory(prefix="cvstudio-export-") as workdir:
                data = _zip(self._build(record, Path(workdir)))
            self._blobs.put(key, data, "application/zip")
            done = replace(record, status=ExportStatus.DONE, error=None)
        except PlatformUnavailable as exc:
            done = replace(record, status=ExportStatus.FAILED, error=str(exc)[:500])
        except Exception as exc:  # the export fails, the job does not
            log.exception("export %s failed", record.id)
            done = replace(record, status=ExportStatus.FAILED, error=plain_reason(exc))
        try:
            self._docs.update(record.project_id, record.id, lambda _: done)
            self._iterations.get(record.project_id, record.iteration_id)  # deleted meanwhile: NotFound
        except NotFound:
            self._blobs.delete(key)  # the project or iteration went while we packaged: leave nothing behind

    def _build(self, record: ExportRecord, workdir: Path) -> dict[str, bytes]:
        # Converters (onnx, openvino, coremltools...) are imported here: in the export job only.
        from shared.exporting.onnx_layouts import onnx_for_export
        from shared.exporting.platforms import build

        manifest = self._artifacts.manifest(record.project_id, record.iteration_id)
        model = self._artifacts.model(record.project_id, record.iteration_id)
        iteration, snapshot = self._iterations.snapshot(record.project_id, record.iteration_id)
        names = {t.id: t.name for t in snapshot.tags}
        flavor = record.flavor if record.platform == "ONNX" else None  # other flavors name the target, not the model
        onnx = onnx_for_export(model, task=manifest.task, domain_id=iteration.domain_id, flavor=flavor)
        negative = manifest.negative_tag_id
        source = ExportSource(
            onnx=onnx,
            trained_onnx=model,
            labels=tuple(names.get(t, t) for t in manifest.tag_ids),
            task=manifest.task,
            domain_id=iteration.domain_id,
            flavor=record.flavor,
            input_size=_input_size(model),
            tag_ids=manifest.tag_ids,
            negative_tag=(negative, names.get(negative, "Negative")) if negative else None,
            project_id=record.project_id,
            iteration_id=record.iteration_id,
        )
        return build(record.platform, source, workdir)

    def read(self, project_id: str, iteration_id: str, file_name: str) -> bytes:
        return self._blobs.get(export_key(project_id, iteration_id, file_name))


def _begun(current: ExportRecord) -> ExportRecord | None:
    """Packaging begins: the stall clock starts now (a job may wait behind a training in the queue)."""
    if current.status != ExportStatus.EXPORTING:
        return None
    return replace(current, created=utc_now())


def _input_size(model: bytes) -> int:
    import onnx

    dims = onnx.load_from_string(model).graph.input[0].type.tensor_type.shape.dim
    return int(dims[2].dim_value) if len(dims) == 4 and dims[2].dim_value else 224


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return buffer.getvalue()
