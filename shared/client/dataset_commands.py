"""`cvstudio export PROJECT --format F --out DIR` and `cvstudio import DIR --format F --project NAME`.

Both talk to a server through its API: ``--endpoint`` and ``--key``, by default the settings'
``endpoint`` and ``training_key`` (CVSTUDIO_ENDPOINT, CVSTUDIO_TRAINING_KEY).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from shared.client.datasets import DatasetTransferError, export_dataset, import_dataset
from shared.client.http import ApiClient, ApiError
from shared.formats.boxes import AnnotationError
from shared.formats.datasets import FORMATS
from shared.settings import load_settings

__all__ = ["add_dataset_commands"]

_LOG_LEVELS = ["critical", "error", "warning", "info", "debug"]


def _client(args: argparse.Namespace) -> ApiClient:
    settings = load_settings()
    endpoint = args.endpoint or settings.endpoint
    key = args.key or settings.training_key
    if not endpoint:
        raise DatasetTransferError("Which server? Give --endpoint (or set CVSTUDIO_ENDPOINT).")
    if not key:
        raise DatasetTransferError("Which key? Give --key (or set CVSTUDIO_TRAINING_KEY).")
    return ApiClient(endpoint, key, timeout=600.0)


def _run(args: argparse.Namespace, work: Any) -> int:
    try:
        with _client(args) as client:
            return int(work(client))
    except ApiError as exc:
        print(f"cvstudio: the server said {exc.status} {exc.code}: {exc.message}", file=sys.stderr)
    except (AnnotationError, DatasetTransferError) as exc:
        print(f"cvstudio: {getattr(exc, 'message', exc)}", file=sys.stderr)
    return 1


def _export(args: argparse.Namespace) -> int:
    def work(client: ApiClient) -> int:
        out = Path(args.out)
        name, images = export_dataset(client, args.project, args.format, out)
        print(f"Exported {images} images of project '{name}' to {out} ({args.format}).")
        return 0

    return _run(args, work)


def _import(args: argparse.Namespace) -> int:
    def progress(done: int, total: int) -> None:
        print(f"  sent {done}/{total} images", file=sys.stderr, flush=True)

    def work(client: ApiClient) -> int:
        report = import_dataset(
            client, Path(args.folder), args.format, args.project, domain=args.domain, progress=progress
        )
        made = " (created)" if report.created_project else ""
        print(
            f"Imported {args.folder} into project '{report.project_name}'{made}: {report.images} images, "
            f"{report.stored} new, {report.duplicates} already there, {len(report.failures)} not stored; "
            f"new tags: {', '.join(report.created_tags) or 'none'}."
        )
        for path, status in report.failures:
            print(f"  {path}: {status}", file=sys.stderr)
        return 1 if report.failures else 0

    return _run(args, work)


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--endpoint", default=None, help="the server (default: $CVSTUDIO_ENDPOINT)")
    parser.add_argument("--key", default=None, help="its training key (default: $CVSTUDIO_TRAINING_KEY)")
    parser.add_argument("--log-level", default="warning", choices=_LOG_LEVELS)


def add_dataset_commands(commands: Any) -> None:
    """Add `export` and `import` to the `cvstudio` command's subparsers."""
    export = commands.add_parser("export", help="write a project's images and labels as COCO, VOC, YOLO or CSV")
    export.add_argument("project", help="the project's name or id")
    export.add_argument("--out", required=True, help="the folder to write the dataset into")
    _connection(export)
    export.set_defaults(handler=_export)
    imported = commands.add_parser("import", help="add a COCO, VOC, YOLO or CSV dataset's images to a project")
    imported.add_argument("folder", help="the dataset's folder")
    imported.add_argument("--project", required=True, help="the project's name or id (created when missing)")
    imported.add_argument("--domain", default=None, help="a new project's domain id (default: General)")
    _connection(imported)
    imported.set_defaults(handler=_import)
