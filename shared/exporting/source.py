"""What every export builder starts from: the iteration's models, labels and names, read once."""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.enums import Task

__all__ = ["ExportSource"]


@dataclass(frozen=True)
class ExportSource:
    """One iteration, ready to package.

    ``onnx`` is the model in the layout Custom Vision gives for the domain (and, for the ONNX platform,
    the flavor): ``shared.exporting.onnx_layouts.onnx_for_export``; converters to other platforms start
    from it. ``trained_onnx`` is the model as training stored it, the one the product's own prediction
    path runs (raw RGB 0..255 in, S1-style detections out). ``labels`` and ``tag_ids`` follow the
    models' output order.
    """

    onnx: bytes
    trained_onnx: bytes
    labels: tuple[str, ...]
    task: Task
    domain_id: str
    flavor: str | None
    input_size: int
    tag_ids: tuple[str, ...] = ()
    # Multilabel classifiers report "no tag applies" under the project's Negative tag: (id, name).
    negative_tag: tuple[str, str] | None = None
    project_id: str = ""
    iteration_id: str = ""

    @property
    def labels_txt(self) -> bytes:
        """``labels.txt`` of every package: the tags, one a line, in the model's output order."""
        return ("\n".join(self.labels) + "\n").encode()
