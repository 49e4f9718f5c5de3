"""Exports: package a compact-domain iteration's ONNX model for download.

``export_iteration`` records the export as ``Exporting`` and hands the packaging to a runner (a
background thread locally); the package is a zip holding ``model.onnx``, ``labels.txt`` and
``cvexport.manifest``. A second request for the same platform and flavor while one is running is
refused with ``BadRequestExportAlreadyInProgress``; once done, the existing export is returned.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import zipfile
from collections.abc import Callable
from dataclasses import replace

from shared.domain.catalogue import EXPORT_PLATFORMS, find_domain
from shared.domain.clock import utc_now
from shared.domain.enums import ExportStatus, IterationStatus
from shared.domain.errors import BadRequest, Code, Conflict, NotFound, plain_reason
from shared.domain.records import ExportRecord
from shared.services.artifact_keys import export_key
from shared.services.iterations import IterationService
from shared.services.model_artifacts import ModelArtifacts
from shared.stores.documents import Documents
from shared.stores.ports import BlobStore, MetadataStore

__all__ = ["SUPPORTED_PLATFORMS", "ExportService"]

log = logging.getLogger(__name__)

SUPPORTED_PLATFORMS = ("ONNX",)
_SAFE = re.compile(r"[^A-Za-z0-9]+")


def _platform(value: str | None) -> str:
    match = next((p for p in EXPORT_PLATFORMS if p.lower() == (value or "").lower()), None)
    if match is None:
        raise BadRequest(
            f"platform must be one of {', '.join(EXPORT_PLATFORMS)}, not '{value}'.",
            Code.BAD_REQUEST_EXPORT_VALIDATION_FAILED,
        )
    if match not in SUPPORTED_PLATFORMS:
        raise BadRequest(
            f"Export to {match} is not available yet; export to {', '.join(SUPPORTED_PLATFORMS)} instead.",
            Code.BAD_REQUEST_EXPORT_VALIDATION_FAILED,
        )
    return match


class ExportService:
    def __init__(
        self,
        meta: MetadataStore,
        blobs: BlobStore,
        iterations: IterationService,
        artifacts: ModelArtifacts,
        run_later: Callable[[Callable[[], None]], object],
    ) -> None:
        self._docs = Documents(meta, ExportRecord, guid_ids=False)
        self._blobs = blobs
        self._iterations = iterations
        self._artifacts = artifacts
        self._run_later = run_later

    def export(self, project_id: str, iteration_id: str, platform: str | None, flavor: str | None) -> ExportRecord:
        iteration = self._iterations.get(project_id, iteration_id)
        chosen = _platform(platform)
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
        suffix = _SAFE.sub("", flavor or "") or "default"
        record = ExportRecord(
            id=f"{iteration.id}.{chosen}.{suffix}",
            project_id=iteration.project_id,
            iteration_id=iteration.id,
            platform=chosen,
            flavor=flavor,
            status=ExportStatus.EXPORTING,
            created=utc_now(),
            file_name=f"{chosen.lower()}-{suffix.lower()}.zip",
        )
        try:
            self._docs.create(record)
        except Conflict:
            existing = self._docs.get(iteration.project_id, record.id)
            if existing.status == ExportStatus.EXPORTING:
                raise BadRequest(
                    f"{iteration.id} is already queued for export.", Code.BAD_REQUEST_EXPORT_ALREADY_IN_PROGRESS
                ) from None
            if existing.status == ExportStatus.DONE:
                return existing
            self._docs.put(record)  # retry a failed export
        self._run_later(lambda: self.package(record))
        return record

    def list(self, project_id: str, iteration_id: str) -> list[ExportRecord]:
        iteration = self._iterations.get(project_id, iteration_id)
        return [r for r in self._docs.iterate(iteration.project_id) if r.iteration_id == iteration.id]

    def package(self, record: ExportRecord) -> None:
        """Build the zip and mark the export Done (or Failed, with the reason)."""
        try:
            data = self._zip(record)
            self._blobs.put(export_key(record.project_id, record.iteration_id, record.file_name), data)
            done = replace(record, status=ExportStatus.DONE)
        except Exception as exc:  # the export fails, the service does not
            log.exception("export %s failed", record.id)
            done = replace(record, status=ExportStatus.FAILED, error=plain_reason(exc))
        with contextlib.suppress(NotFound):  # the project was deleted meanwhile
            self._docs.update(record.project_id, record.id, lambda _: done)

    def _zip(self, record: ExportRecord) -> bytes:
        manifest = self._artifacts.manifest(record.project_id, record.iteration_id)
        model = self._artifacts.model(record.project_id, record.iteration_id)
        _, snapshot = self._iterations.snapshot(record.project_id, record.iteration_id)
        names = {t.id: t.name for t in snapshot.tags}
        labels = [names.get(tag_id, tag_id) for tag_id in manifest.tag_ids]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("model.onnx", model)
            archive.writestr("labels.txt", "\n".join(labels) + "\n")
            archive.writestr(
                "cvexport.manifest",
                json.dumps(
                    {
                        "platform": record.platform,
                        "flavor": record.flavor,
                        "task": manifest.task.value,
                        "labels": labels,
                        "iterationId": record.iteration_id,
                    },
                    indent=2,
                ),
            )
        return buffer.getvalue()

    def read(self, project_id: str, iteration_id: str, file_name: str) -> bytes:
        return self._blobs.get(export_key(project_id, iteration_id, file_name))
