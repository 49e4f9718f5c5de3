"""Exports: an iteration's export to one platform, and where to download it once done."""

from __future__ import annotations

from shared.api.wire.base import Wire
from shared.domain.enums import ExportStatus
from shared.domain.records import ExportRecord

__all__ = ["ExportOut", "export_out"]


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
        download_uri=download_uri if record.status == ExportStatus.DONE else "",
        flavor=record.flavor,
    )
