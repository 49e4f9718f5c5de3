"""What the service tests share: the product wired on the in-memory stores, images, tiny real ONNX
models, and a store that lets a second writer in at the worst moment.

Nothing here does I/O: the metadata and blob stores are the in-memory fakes, the queue is the
in-process one, and the models are built in memory with ``onnx.helper`` and run by onnxruntime.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image as PILImage
from PIL import ImageDraw

from shared.bootstrap import Services, build_services
from shared.contracts.evaluation import HeldOutEvaluation, HeldOutImage
from shared.contracts.jobs import ExportIteration, JobMessage, decode, encode
from shared.contracts.manifest import ModelManifest
from shared.domain.entities import Image, Iteration, Project, Tag
from shared.domain.enums import Task
from shared.domain.errors import BadRequest, Code
from shared.domain.labelling import RegionInput
from shared.services.exports import ExportService
from shared.services.image_uploads import ImageCreateSummary, NewImage
from shared.services.training import TrainRequest
from shared.settings import Settings
from shared.stores.memory import MemoryBlobStore, MemoryMetadataStore
from shared.stores.queue import InProcessQueue

# Domains of the catalogue (shared/domain/catalogue.py).
GENERAL = "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"  # classification, not exportable (the default)
COMPACT = "0732100f-1a38-4e49-a514-c9b44c697ab5"  # classification, General (compact): exportable
DETECTION = "da2e3a8a-40a5-4171-82f4-58522f70fbc1"  # object detection, General: not exportable
DETECTION_COMPACT = "a27d5ca5-bb19-49d8-a70a-fec086c47f5b"  # object detection, General (compact)

MODEL_SIDE = 32  # the input side of the tiny models: [N, 3, 32, 32]
RGB = tuple[int, int, int]


# -- images ---------------------------------------------------------------------------------------


def jpeg(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small JPEG whose bytes differ by ``seed``."""
    out = io.BytesIO()
    PILImage.new("RGB", size, (seed % 256, (seed * 7) % 256, (seed * 13) % 256)).save(out, "JPEG")
    return out.getvalue()


def png(colour: RGB, size: tuple[int, int] = (64, 48)) -> bytes:
    """A PNG of one colour: lossless, so two colours are always two different images."""
    out = io.BytesIO()
    PILImage.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def reddish(n: int) -> bytes:
    """The n-th of many distinct, clearly red images."""
    return png((255 - n % 40, n // 40, 0))


def greenish(n: int) -> bytes:
    """The n-th of many distinct, clearly green images."""
    return png((n // 40, 255 - n % 40, 0))


def square_on_plain(size: int = 96, square: tuple[int, int, int, int] = (24, 24, 72, 72)) -> bytes:
    """A dark square (left, top, right, bottom in pixels) on a light background."""
    picture = PILImage.new("RGB", (size, size), (235, 235, 235))
    ImageDraw.Draw(picture).rectangle(square, fill=(20, 20, 20))
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


# -- tiny ONNX models ---------------------------------------------------------------------------------


def _model_bytes(graph: onnx.GraphProto) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def colour_classifier(weights: Sequence[Sequence[float]], *, multilabel: bool = False) -> bytes:
    """A classifier of ``[N, 3, S, S]`` images: the mean of each channel times ``weights`` (3 x C),
    then softmax (or, ``multilabel``, a sigmoid per class): its answer depends on the image's colour."""
    w = np.asarray(weights, dtype=np.float32)
    classes = int(w.shape[1])
    image = helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, MODEL_SIDE, MODEL_SIDE])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", classes])
    last = (
        helper.make_node("Sigmoid", ["logits"], ["scores"])
        if multilabel
        else helper.make_node("Softmax", ["logits"], ["scores"], axis=1)
    )
    nodes = [
        helper.make_node("ReduceMean", ["data"], ["mean"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["mean", "w"], ["logits"]),
        last,
    ]
    return _model_bytes(helper.make_graph(nodes, "colour", [image], [scores], [numpy_helper.from_array(w, "w")]))


def red_green_classifier() -> bytes:
    """Output 0 is "red" (mean red > mean green), output 1 is "green"; grey is 50/50."""
    return colour_classifier([[0.05, 0.0], [0.0, 0.05], [0.0, 0.0]])


def fixed_detector(
    boxes: Sequence[tuple[float, float, float, float]], classes: Sequence[int], scores: Sequence[float]
) -> bytes:
    """A detector answering the same boxes (normalised x1, y1, x2, y2) whatever the image, in the
    three S1-style outputs; it still reads its input (the boxes are offset by 0 x the image mean)."""
    k = len(boxes)
    image = helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, MODEL_SIDE, MODEL_SIDE])
    outputs = [
        helper.make_tensor_value_info("detected_boxes", TensorProto.FLOAT, [1, k, 4]),
        helper.make_tensor_value_info("detected_classes", TensorProto.FLOAT, [1, k]),
        helper.make_tensor_value_info("detected_scores", TensorProto.FLOAT, [1, k]),
    ]
    constants = [
        numpy_helper.from_array(np.asarray([boxes], dtype=np.float32), "boxes"),
        numpy_helper.from_array(np.asarray([classes], dtype=np.float32), "classes"),
        numpy_helper.from_array(np.asarray([scores], dtype=np.float32), "scores"),
        numpy_helper.from_array(np.asarray(0.0, dtype=np.float32), "zero"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["data"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["boxes", "nothing"], ["detected_boxes"]),
        helper.make_node("Identity", ["classes"], ["detected_classes"]),
        helper.make_node("Identity", ["scores"], ["detected_scores"]),
    ]
    return _model_bytes(helper.make_graph(nodes, "fixed", [image], outputs, constants))


# -- a store with a second writer ---------------------------------------------------------------------


class RacingStore(MemoryMetadataStore):
    """Lets another writer act just before this store's next ``create``/``replace`` of a kind, once:
    the interleaving that etags, claims and locks exist for, made deterministic."""

    def __init__(self) -> None:
        super().__init__()
        self._pending: list[tuple[str, str, Callable[[], object]]] = []

    def before_next(self, method: str, kind: str, action: Callable[[], object]) -> None:
        self._pending.append((method, kind, action))

    def _interleave(self, method: str, kind: str) -> None:
        for n, (m, k, action) in enumerate(self._pending):
            if (m, k) == (method, kind):
                del self._pending[n]
                action()
                return

    def create(self, kind: str, partition: str, doc: dict[str, Any]) -> str:
        self._interleave("create", kind)
        return super().create(kind, partition, doc)

    def replace(self, kind: str, partition: str, doc: dict[str, Any], *, if_match: str | None = None) -> str:
        self._interleave("replace", kind)
        return super().replace(kind, partition, doc, if_match=if_match)


def refused(action: Callable[[], object], codes: list[Code]) -> Callable[[], None]:
    """``action`` run as a concurrent request: the code of its BadRequest is kept in ``codes``."""

    def run() -> None:
        try:
            action()
        except BadRequest as exc:
            codes.append(exc.code)

    return run


# -- the product on fakes -------------------------------------------------------------------------------


class World:
    """The product wired by its composition root on the in-memory stores.

    ``exports`` is the wired :class:`ExportService`: its ``ExportIteration`` messages wait in the queue
    (``pending``) until a test runs them (``run_exports``), as the export job would.
    """

    def __init__(
        self,
        meta: MemoryMetadataStore | None = None,
        blobs: MemoryBlobStore | None = None,
        *,
        allow_private_urls: bool = False,
    ) -> None:
        self.meta = meta or MemoryMetadataStore()
        self.blobs = blobs or MemoryBlobStore()
        self.queue = InProcessQueue()
        settings = Settings(
            data_dir=Path("/nonexistent"),
            training_key="t" * 16,
            prediction_key="p" * 16,
            allow_private_urls=allow_private_urls,
        )
        self.services: Services = build_services(settings, meta=self.meta, blobs=self.blobs, queue=self.queue)
        s = self.services
        self.projects = s.projects
        self.tags = s.tags
        self.images = s.images
        self.uploads = s.uploads
        self.labels = s.labels
        self.iterations = s.iterations
        self.training = s.training
        self.snapshot_queries = s.snapshot_queries
        self.artifacts = s.artifacts
        self.performance = s.performance
        self.publishing = s.publishing
        self.predictions = s.predictions
        self.stored_predictions = s.stored_predictions
        self.suggestions = s.suggestions
        self.exports: ExportService = s.exports

    # -- images --

    def upload(
        self,
        project_id: str,
        items: Sequence[NewImage],
        tag_ids: Sequence[str] = (),
        metadata: dict[str, str] | None = None,
    ) -> ImageCreateSummary:
        return self.uploads.create_images(self.uploads.target(project_id), items, tag_ids, metadata)

    def add(
        self,
        project_id: str,
        images: Sequence[bytes],
        tag_ids: Sequence[str] = (),
        regions: Sequence[RegionInput] = (),
        metadata: dict[str, str] | None = None,
    ) -> list[Image]:
        """Upload new images (each with these labels); every one must be stored as new."""
        items = [NewImage(f"img{n}", data, None, tag_ids, regions) for n, data in enumerate(images)]
        summary = self.upload(project_id, items, metadata=metadata)
        assert [r.status for r in summary.images] == ["OK"] * len(images)
        return [r.image for r in summary.images if r.image is not None]

    # -- training --

    def messages(self) -> list[JobMessage]:
        """Every message waiting in the queue (taken out)."""
        found: list[JobMessage] = []
        while (text := self.queue.get(timeout=0)) is not None:
            found.append(decode(text))
        return found

    def train(self, project_id: str, request: TrainRequest | None = None) -> Iteration:
        return self.training.train(project_id, request or TrainRequest())

    def finish(
        self,
        iteration: Iteration,
        model: bytes | None = None,
        manifest: ModelManifest | None = None,
        evaluation: HeldOutEvaluation | None = None,
    ) -> Iteration:
        """What the worker and trainer do: take the queued messages, save the artifacts (when given)
        and complete the iteration."""
        if model is not None and manifest is not None:
            task = manifest.task
            evaluation = evaluation or HeldOutEvaluation(task, manifest.tag_ids, False, ())
            self.artifacts.save(iteration.project_id, iteration.id, model, manifest, evaluation)
        self.messages()
        return self.iterations.complete(iteration.project_id, iteration.id, 12.5)

    def another_instance(self) -> World:
        """A second server process on the same stores (as when Azure scales out)."""
        return World(self.meta, self.blobs)

    @property
    def pending(self) -> list[ExportIteration]:
        """The export messages waiting in the queue (left there)."""
        waiting = self.messages()
        for message in waiting:
            self.queue.put(encode(message))
        return [m for m in waiting if isinstance(m, ExportIteration)]

    def run_exports(self) -> None:
        """What the export job does with each queued ``ExportIteration`` (other messages stay queued)."""
        for message in self.messages():
            if isinstance(message, ExportIteration):
                self.exports.run(message)
            else:
                self.queue.put(encode(message))


@dataclass(frozen=True)
class Trained:
    """A project with a completed iteration whose model is real (tiny) ONNX."""

    world: World
    project: Project
    tags: dict[str, Tag]  # by name
    iteration: Iteration
    images: dict[str, list[Image]] = field(default_factory=dict)  # by tag name

    @property
    def project_id(self) -> str:
        return self.project.id

    def tag(self, name: str) -> Tag:
        return self.tags[name]


def perfect_evaluation(tags: Sequence[Tag], images: dict[str, list[Image]], *, multiclass: bool) -> HeldOutEvaluation:
    """Every image held out and predicted right with 0.9 (0.1 for each other tag)."""
    by_name = {t.name: t for t in tags}
    held_out = tuple(
        HeldOutImage(
            image.id,
            fold=0,
            true_tag_ids=(by_name[name].id,),
            scores={t.id: (0.9 if t.name == name else 0.1) for t in tags},
        )
        for name, group in images.items()
        for image in group
    )
    return HeldOutEvaluation(Task.CLASSIFICATION, tuple(t.id for t in tags), False, held_out, multiclass=multiclass)


def red_green_project(world: World, name: str = "Colours", *, domain_id: str = COMPACT, per_tag: int = 5) -> Trained:
    """A multiclass project with tags "red" and "green", ``per_tag`` images each, and a training
    iteration (not finished yet): ``Trained.iteration`` is still Training."""
    project = world.projects.create(name, domain_id=domain_id)
    red = world.tags.create(project.id, "red").tag
    green = world.tags.create(project.id, "green").tag
    images = {
        "red": world.add(project.id, [reddish(n) for n in range(per_tag)], [red.id]),
        "green": world.add(project.id, [greenish(n) for n in range(per_tag)], [green.id]),
    }
    iteration = world.train(project.id)
    return Trained(world, project, {"red": red, "green": green}, iteration, images)


def trained_classifier(world: World, name: str = "Colours", *, domain_id: str = COMPACT) -> Trained:
    """:func:`red_green_project`, completed with :func:`red_green_classifier` (outputs red, green)
    and a perfect held-out evaluation."""
    started = red_green_project(world, name, domain_id=domain_id)
    tags = [started.tag("red"), started.tag("green")]
    manifest = ModelManifest(Task.CLASSIFICATION, tuple(t.id for t in tags))
    evaluation = perfect_evaluation(tags, started.images, multiclass=True)
    done = world.finish(started.iteration, red_green_classifier(), manifest, evaluation)
    return Trained(world, started.project, started.tags, done, started.images)


# A detector's answer: fork at 0.9 on (0.6, 0.6)-(0.9, 0.8), knife at 0.6 on (0.1, 0.1)-(0.5, 0.5).
DETECTOR_BOXES = [(0.1, 0.1, 0.5, 0.5), (0.6, 0.6, 0.9, 0.8)]
DETECTOR_CLASSES = [1, 0]
DETECTOR_SCORES = [0.6, 0.9]


def trained_detector(
    world: World,
    name: str = "Cutlery",
    *,
    domain_id: str = DETECTION_COMPACT,
    evaluate: Callable[[dict[str, Tag], list[Image]], HeldOutEvaluation] | None = None,
) -> Trained:
    """A detection project (tags "fork" and "knife", 15 images with one box of each) and a
    completed iteration whose model answers :data:`DETECTOR_BOXES` (output 0 = fork, 1 = knife);
    its held-out evaluation is ``evaluate(tags by name, images)`` (none held out by default)."""
    project = world.projects.create(name, domain_id=domain_id)
    fork = world.tags.create(project.id, "fork").tag
    knife = world.tags.create(project.id, "knife").tag
    boxes = [RegionInput(fork.id, 0.6, 0.6, 0.3, 0.2), RegionInput(knife.id, 0.1, 0.1, 0.4, 0.4)]
    images = world.add(project.id, [jpeg(500 + n) for n in range(15)], regions=boxes)
    iteration = world.train(project.id)
    model = fixed_detector(DETECTOR_BOXES, DETECTOR_CLASSES, DETECTOR_SCORES)
    tags = {"fork": fork, "knife": knife}
    evaluation = (
        evaluate(tags, images) if evaluate else HeldOutEvaluation(Task.DETECTION, (fork.id, knife.id), False, ())
    )
    done = world.finish(iteration, model, ModelManifest(Task.DETECTION, (fork.id, knife.id)), evaluation)
    return Trained(world, project, tags, done, {"all": images})
