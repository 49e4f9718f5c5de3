"""The CoreML export: ``model.mlmodel`` (a NeuralNetwork model, as Custom Vision gives), labels, README.

coremltools (Apple's maintained converter) converts from torch: the ONNX graph is replayed as a
torch module (:mod:`.onnx_torch`), traced, and converted with an image input named ``data`` (the
ONNX input's colour order, raw 0..255 pixels: the graph normalises). A classifier gets CoreML's
classifier head: ``classLabel`` and ``loss`` (tag -> probability), the names Custom Vision's CoreML
classifiers answer with; a detector answers ``boxes`` and ``scores`` (:mod:`.detector_outputs`).
coremltools writes models on Linux but runs them only on Apple systems.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import torch

from shared.domain.enums import Task
from shared.exporting.converted import readme, source_graph
from shared.exporting.errors import PlatformUnavailable
from shared.exporting.onnx_graph import prepare
from shared.exporting.onnx_torch import OnnxModule
from shared.exporting.source import ExportSource

__all__ = ["INPUT", "PROBABILITIES_OUTPUT", "build_coreml"]

INPUT = "data"
PROBABILITIES_OUTPUT = "loss"  # Custom Vision's name for a classifier's probabilities
_log = logging.getLogger(__name__)


def build_coreml(source: ExportSource, workdir: Path) -> dict[str, bytes]:
    """``model.mlmodel``, ``labels.txt`` and ``README.txt``."""
    try:
        with _quiet():  # its import warns about every optional part it cannot load on Linux
            import coremltools as ct  # type: ignore[import-untyped]  # in the training image only
    except ImportError as exc:  # pragma: no cover - depends on the image
        raise PlatformUnavailable(f"coremltools is not installed where exports run ({exc})") from exc

    graph = prepare(source_graph(source), workdir)
    module = OnnxModule(graph).eval()
    with torch.no_grad():
        traced = torch.jit.trace(module, torch.zeros(graph.input_shape))  # type: ignore[no-untyped-call]
    colors = "BGR" if graph.bgr_input else "RGB"
    image = ct.ImageType(name=INPUT, shape=graph.input_shape, color_layout=getattr(ct.colorlayout, colors), scale=1.0)
    classifier = source.task == Task.CLASSIFICATION
    try:
        with _quiet():
            mlmodel = ct.convert(
                traced,
                inputs=[image],
                classifier_config=ct.ClassifierConfig(list(source.labels)) if classifier else None,
                convert_to="neuralnetwork",
            )
    except Exception as exc:  # coremltools raises plain errors (TypeError, ValueError...) for what it cannot map
        _log.warning("coremltools failed", exc_info=True)  # the details stay in the job's log
        raise PlatformUnavailable(f"coremltools could not convert this model ({type(exc).__name__})") from exc
    spec = mlmodel.get_spec()
    if classifier:
        renames = {spec.description.predictedProbabilitiesName: PROBABILITIES_OUTPUT}
    else:
        renames = {o.name: name for o, name in zip(spec.description.output, graph.output_names, strict=True)}
        for output, name in zip(spec.description.output, graph.output_names, strict=True):
            output.type.multiArrayType.shape.extend(graph.shapes[name])
    for old, new in renames.items():
        if old != new:
            ct.utils.rename_feature(spec, old, new)
    metadata = spec.description.metadata
    metadata.shortDescription = f"Custom Vision compatible {source.task.value} model exported by cvstudio"
    metadata.userDefined["CustomVision.Labels"] = json.dumps(list(source.labels))
    metadata.userDefined["CustomVision.Task"] = source.task.value
    metadata.userDefined["CustomVision.InputSize"] = str(graph.input_shape[-1])
    path = workdir / "model.mlmodel"
    ct.models.utils.save_spec(spec, str(path))
    size = graph.input_shape[-1]
    return {
        "model.mlmodel": path.read_bytes(),
        "labels.txt": source.labels_txt,
        "README.txt": readme(
            source,
            model_file="model.mlmodel",
            input_text=f'"{INPUT}", a {size}x{size} {colors} image (the model scales the pixels itself).',
            classifier_text=f'"classLabel" (the most likely tag) and "{PROBABILITIES_OUTPUT}" (tag -> probability).',
        ),
    }


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """coremltools logs a line per constant and draws progress bars: thousands of lines per export."""
    logger = logging.getLogger("coremltools")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)
