"""What the converted exports (CoreML, TensorFlow Lite) share: the ONNX graph they start from and
the README.txt that tells an app what goes in and comes out."""

from __future__ import annotations

from shared.domain.enums import Task
from shared.exporting.detector_outputs import BOXES, SCORES, candidate_outputs
from shared.exporting.source import ExportSource

__all__ = ["readme", "source_graph"]


def source_graph(source: ExportSource) -> bytes:
    """Classifiers: the domain's ONNX layout. Detectors: the network and box decoding, without the
    selection (:mod:`.detector_outputs` says why)."""
    if source.task == Task.DETECTION:
        return candidate_outputs(source.trained_onnx)
    return source.onnx


def readme(source: ExportSource, *, model_file: str, input_text: str, classifier_text: str) -> bytes:
    """The package's README.txt."""
    lines = [f"{model_file} exported by cvstudio ({source.task.value}).", "", f"Input: {input_text}", ""]
    if source.task == Task.DETECTION:
        from shared.vision.training.detection.inference import NMS_IOU  # torch: only for a detector's README

        lines += [
            f'Outputs: "{BOXES}" [1, N, 4]: every candidate box as (left, top, right, bottom), normalised',
            f'to the input (0..1); "{SCORES}" [1, N, tags]: each tag\'s probability for that box.',
            "",
            "The model stops before the selection of boxes: run non-maximum suppression over the",
            "candidates in the app (per tag, keeping the best scores; cvstudio's own prediction uses an",
            f"IoU of {NMS_IOU}). The NonMaxSuppression(boxes, class_probs) class of Microsoft's",
            "customvision-export-samples takes boxes[0] and scores[0] as they are. The CoreML and TensorFlow Lite",
            "converters cannot rebuild the selection (dynamic-shape top-k and suppression), which is why",
            "this export does not carry Custom Vision's single-output grid layout; the ONNX export does.",
        ]
    else:
        lines += [f"Outputs: {classifier_text}"]
    lines += ["", "labels.txt: the tags, one a line, in the model's output order.", ""]
    return "\n".join(lines).encode()
