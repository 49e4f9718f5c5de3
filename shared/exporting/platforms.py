"""Which (platform, flavor) pairs an export can ask for, and which builder makes each.

The pairs are :data:`shared.domain.catalogue.BUILT_EXPORTS` (what a compact domain lists as exportable);
this module names the builder of each platform, imported only when an export runs (converters live in
the training image, never in the API's). A builder takes an :class:`ExportSource` and a scratch folder
and returns the files of the package (name inside the zip -> bytes); one that cannot build its
platform here raises :class:`PlatformUnavailable`, and the export ends ``Failed`` with its reason.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path

from shared.domain.catalogue import BUILT_EXPORTS, EXPORT_PLATFORMS, Domain
from shared.domain.errors import BadRequest, Code
from shared.exporting.errors import PlatformUnavailable
from shared.exporting.source import ExportSource

__all__ = ["BUILDERS", "Builder", "build", "build_onnx", "resolve"]

Builder = Callable[[ExportSource, Path], dict[str, bytes]]

# platform -> "module:function" of its builder (imported when an export runs).
BUILDERS: dict[str, str] = {
    "ONNX": "shared.exporting.platforms:build_onnx",
    "DockerFile": "shared.exporting.dockerfile:build_dockerfile",
    "OpenVino": "shared.exporting.openvino_ir:build_openvino",
    "CoreML": "shared.exporting.coreml:build_coreml",
    "TensorFlow": "shared.exporting.tflite:build_tflite",
}


def _named(value: str | None, choices: tuple[str | None, ...]) -> tuple[bool, str | None]:
    wanted = (value or "").strip().lower()
    for choice in choices:
        if (choice or "").lower() == wanted:
            return True, choice
    return False, None


def resolve(platform: str | None, flavor: str | None, domain: Domain) -> tuple[str, str | None]:
    """The platform and flavor in Custom Vision's spelling, or Custom Vision's refusal (up front, in the
    API: nothing is recorded or queued for a pair that cannot be built)."""
    known, name = _named(platform, EXPORT_PLATFORMS)
    if not known or name is None:
        raise BadRequest(
            f"platform must be one of {', '.join(EXPORT_PLATFORMS)}, not '{platform}'.",
            Code.BAD_REQUEST_EXPORT_VALIDATION_FAILED,
        )
    built = BUILT_EXPORTS.get(name) if name in domain.exportable_platforms else None
    if built is None:
        offered = ", ".join(domain.exportable_platforms)
        raise BadRequest(
            f"Export to {name} is not available for the {domain.name} domain here; export to {offered} instead.",
            Code.BAD_REQUEST_EXPORT_VALIDATION_FAILED,
        )
    ok, chosen = _named(flavor, built)
    if not ok:
        flavors = ", ".join(f or "none" for f in built)
        raise BadRequest(
            f"{name} cannot be exported with flavor '{flavor}' here; use one of: {flavors}.",
            Code.BAD_REQUEST_EXPORT_VALIDATION_FAILED,
        )
    return name, chosen


def _builder(platform: str) -> Builder:
    module_name, _, function = BUILDERS[platform].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PlatformUnavailable(
            f"The {platform} converter is not installed where exports run ({exc}); export to ONNX instead."
        ) from exc
    found: Builder = getattr(module, function)
    return found


def build(platform: str, source: ExportSource, workdir: Path) -> dict[str, bytes]:
    """The package's files for ``platform``, plus ``cvexport.manifest`` (what it is, for people and tools)."""
    files = dict(_builder(platform)(source, workdir))
    files.setdefault(
        "cvexport.manifest",
        json.dumps(
            {
                "platform": platform,
                "flavor": source.flavor,
                "task": source.task.value,
                "labels": list(source.labels),
                "iterationId": source.iteration_id,
            },
            indent=2,
        ).encode(),
    )
    return files


def build_onnx(source: ExportSource, workdir: Path) -> dict[str, bytes]:
    """ONNX: the model in the domain's layout and flavor, and its labels."""
    return {"model.onnx": source.onnx, "labels.txt": source.labels_txt}
