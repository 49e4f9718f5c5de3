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
from dataclasses import dataclass, replace
from typing import Any

from shared.domain.catalogue import EXPORT_PLATFORMS, find_domain
from shared.domain.entities import COMPLETED, TRAINING, utc_now
from shared.domain.errors import BadRequest, Code, Conflict, NotFound
from shared.services.artifact_keys import export_key, manifest_key, model_key
from shared.services.iterations import IterationService
from shared.stores.ports import BlobStore, MetadataStore

__all__ = ["EXPORT", "ExportRecord", "ExportService", "SUPPORTED_PLATFORMS"]

log = logging.getLogger(__name__)

EXPORT = "export"
SUPPORTED_PLATFORMS = ("ONNX",)
EXPORTING, DONE, FAILED = "Exporting", "Done", "Failed"
_SAFE = re.compile(r"[^A-Za-z0-9]+")


@dataclass(frozen=True)
class ExportRecord:
    id: str
    project_id: str
    iteration_id: str
    platform: str
    flavor: str | None
    status: str
    created: str
    file_name: str
    error: str | None = None

    def to_doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "projectId": self.project_id,
            "iterationId": self.iteration_id,
            "platform": self.platform,
            "flavor": self.flavor,
            "status": self.status,
            "created": self.created,
            "fileName": self.file_name,
            "error": self.error,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ExportRecord:
        return cls(
            doc["id"], doc["projectId"], doc["iterationId"], doc["platform"], doc.get("flavor"), doc["status"],
            doc["created"], doc["fileName"], doc.get("error"),
        )  # fmt: skip


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
        run_later: Callable[[Callable[[], None]], object],
    ) -> None:
        self._meta = meta
        self._blobs = blobs
        self._iterations = iterations
        self._run_later = run_later

    def export(self, project_id: str, iteration_id: str, platform: str | None, flavor: str | None) -> ExportRecord:
        iteration = self._iterations.get(project_id, iteration_id)
        chosen = _platform(platform)
        if iteration.status == TRAINING:
            raise BadRequest(
                f"{iteration.name} is still training; export it once it has finished.",
                Code.BAD_REQUEST_EXPORT_WHILE_TRAINING,
            )
        if iteration.status != COMPLETED:
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
            status=EXPORTING,
            created=utc_now(),
            file_name=f"{chosen.lower()}-{suffix.lower()}.zip",
        )
        try:
            self._meta.create(EXPORT, iteration.project_id, record.to_doc())
        except Conflict:
            existing = ExportRecord.from_doc(self._meta.read(EXPORT, iteration.project_id, record.id).doc)
            if existing.status == EXPORTING:
                raise BadRequest(
                    f"{iteration.id} is already queued for export.", Code.BAD_REQUEST_EXPORT_ALREADY_IN_PROGRESS
                ) from None
            if existing.status == DONE:
                return existing
            self._meta.replace(EXPORT, iteration.project_id, record.to_doc())  # retry a failed export
        self._run_later(lambda: self.package(record))
        return record

    def list(self, project_id: str, iteration_id: str) -> list[ExportRecord]:
        iteration = self._iterations.get(project_id, iteration_id)
        page = self._meta.query(EXPORT, iteration.project_id, order_by="created", limit=100)
        return [r for r in (ExportRecord.from_doc(s.doc) for s in page.items) if r.iteration_id == iteration.id]

    def package(self, record: ExportRecord) -> None:
        """Build the zip and mark the export Done (or Failed, with the reason)."""
        try:
            manifest = json.loads(self._blobs.get(manifest_key(record.project_id, record.iteration_id)))
            model = self._blobs.get(model_key(record.project_id, record.iteration_id))
            _, snapshot = self._iterations.snapshot(record.project_id, record.iteration_id)
            names = {t.id: t.name for t in snapshot.tags}
            labels = [names.get(tag_id, tag_id) for tag_id in manifest["tag_ids"]]
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
                            "task": manifest["task"],
                            "labels": labels,
                            "iterationId": record.iteration_id,
                        },
                        indent=2,
                    ),
                )
            self._blobs.put(export_key(record.project_id, record.iteration_id, record.file_name), buffer.getvalue())
            done = replace(record, status=DONE)
        except Exception as exc:  # the export fails, the service does not
            log.exception("export %s failed", record.id)
            done = replace(record, status=FAILED, error=f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(NotFound):  # the project was deleted meanwhile
            self._meta.replace(EXPORT, record.project_id, done.to_doc())

    def read(self, project_id: str, iteration_id: str, file_name: str) -> bytes:
        return self._blobs.get(export_key(project_id, iteration_id, file_name))
