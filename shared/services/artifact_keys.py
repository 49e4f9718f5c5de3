"""Where each stored artifact lives in the blob store (one place for every key shape)."""

from __future__ import annotations

__all__ = [
    "evaluation_key",
    "export_key",
    "image_key",
    "image_prefix",
    "iteration_prefix",
    "manifest_key",
    "model_key",
    "prediction_key",
    "prediction_prefix",
    "project_prefix",
    "snapshot_key",
]


def project_prefix(project_id: str) -> str:
    return f"projects/{project_id}/"


def image_prefix(project_id: str, image_id: str) -> str:
    return f"projects/{project_id}/images/{image_id}/"


def image_key(project_id: str, image_id: str, rendition: str = "original") -> str:
    return image_prefix(project_id, image_id) + rendition


def iteration_prefix(project_id: str, iteration_id: str) -> str:
    return f"projects/{project_id}/iterations/{iteration_id}/"


def snapshot_key(project_id: str, iteration_id: str, version: int = 0) -> str:
    name = "snapshot.json" if version == 0 else f"snapshot.{version}.json"
    return iteration_prefix(project_id, iteration_id) + name


def model_key(project_id: str, iteration_id: str) -> str:
    return iteration_prefix(project_id, iteration_id) + "model.onnx"


def manifest_key(project_id: str, iteration_id: str) -> str:
    return iteration_prefix(project_id, iteration_id) + "model.json"


def evaluation_key(project_id: str, iteration_id: str) -> str:
    return iteration_prefix(project_id, iteration_id) + "evaluation.json"


def prediction_prefix(project_id: str, prediction_id: str) -> str:
    return f"projects/{project_id}/predictions/{prediction_id}/"


def prediction_key(project_id: str, prediction_id: str) -> str:
    return prediction_prefix(project_id, prediction_id) + "original"


def export_key(project_id: str, iteration_id: str, name: str) -> str:
    return iteration_prefix(project_id, iteration_id) + f"exports/{name}"
