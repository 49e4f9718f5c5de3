"""The documents that cross a process boundary: written and read by the same code, versioned,
and refused clearly when unreadable (a newer version, an unknown message type, garbage)."""

from __future__ import annotations

import json

import pytest

from shared.contracts.evaluation import HeldOutEvaluation, HeldOutImage
from shared.contracts.jobs import (
    ExportIteration,
    ResumeImport,
    TrainIteration,
    UnknownMessageType,
    decode,
    encode,
    job_args,
)
from shared.contracts.manifest import ModelManifest
from shared.contracts.snapshot import Snapshot
from shared.domain.entities import Image, ImageTag, Iteration, Tag, TrainingProgress
from shared.domain.enums import ClassificationType, IterationStatus, TagType, Task, TrainingType
from shared.domain.versioning import ContractError, ContractVersionError
from shared.jobs.dispatch import dispatch
from shared.vision.evaluation import GroundTruthBox, PredictedBox


def _newer(data: bytes | str) -> str:
    raw = json.loads(data)
    raw["version"] = 99
    return json.dumps(raw)


def test_a_train_message_round_trips_and_names_its_type_and_version() -> None:
    text = encode(TrainIteration("p-1", "i-1"))
    assert json.loads(text) == {"type": "train", "version": 1, "projectId": "p-1", "iterationId": "i-1"}
    assert decode(text) == TrainIteration("p-1", "i-1")
    assert decode(text.encode()) == TrainIteration("p-1", "i-1")


def test_an_export_message_round_trips_and_names_the_command_that_runs_it() -> None:
    job = ExportIteration("p-1", "i-1", "i-1.OpenVino.default")
    text = encode(job)
    assert json.loads(text) == {
        "type": "export",
        "version": 1,
        "projectId": "p-1",
        "iterationId": "i-1",
        "exportId": "i-1.OpenVino.default",
    }
    assert decode(text) == job
    assert job_args(job) == ["export-iteration", "p-1", "i-1", "i-1.OpenVino.default"]
    assert job_args(TrainIteration("p-1", "i-1")) == ["train-iteration", "p-1", "i-1"]
    resume = encode(ResumeImport("p-1"))
    assert json.loads(resume) == {"type": "resume-import", "version": 1, "projectId": "p-1"}
    assert decode(resume) == ResumeImport("p-1")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"type": "fax", "projectId": "p"}', UnknownMessageType),
        ('{"type": "export", "projectId": "p", "iterationId": "i"}', ContractError),
        ('{"projectId": "p", "iterationId": "i"}', UnknownMessageType),
        ('{"type": "train", "projectId": "p"}', ContractError),
        ('{"type": "resume-import", "projectId": ""}', ContractError),
        ('{"type": "train", "version": 2, "projectId": "p", "iterationId": "i"}', ContractVersionError),
        ("not json", ContractError),
        ('["train"]', ContractError),
    ],
)
def test_an_unreadable_message_is_an_error_not_a_skip(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode(text)


class Recorder:
    def __init__(self) -> None:
        self.trained: list[TrainIteration] = []

    def train_iteration(self, job: TrainIteration) -> None:
        self.trained.append(job)


def test_dispatch_hands_each_message_to_the_handler_of_its_type() -> None:
    handlers = Recorder()
    dispatch(encode(TrainIteration("p", "i")), handlers)
    assert handlers.trained == [TrainIteration("p", "i")]
    with pytest.raises(UnknownMessageType):
        dispatch('{"type": "retrain"}', handlers)
    assert len(handlers.trained) == 1


def test_the_model_manifest_round_trips_and_reads_documents_without_a_version() -> None:
    manifest = ModelManifest(Task.CLASSIFICATION, ("a", "b"), multilabel=True, negative_tag_id="n")
    assert ModelManifest.from_json(manifest.to_json()) == manifest
    legacy = b'{"task": "detection", "tag_ids": ["a"], "multilabel": false, "negative_tag_id": null}'
    assert ModelManifest.from_json(legacy) == ModelManifest(Task.DETECTION, ("a",))
    with pytest.raises(ContractVersionError, match="newer cvstudio"):
        ModelManifest.from_json(_newer(manifest.to_json()))
    with pytest.raises(ContractError, match="malformed"):
        ModelManifest.from_json(b'{"task": "poetry", "tag_ids": []}')


def test_a_classification_evaluation_round_trips_in_its_stored_layout() -> None:
    evaluation = HeldOutEvaluation(
        task=Task.CLASSIFICATION,
        tag_ids=("a", "b"),
        k_fold=True,
        multiclass=True,
        images=(HeldOutImage("i1", 0, true_tag_ids=("a",), scores={"a": 0.9, "b": 0.1}),),
    )
    raw = json.loads(evaluation.to_json())
    assert raw["images"] == [{"imageId": "i1", "fold": 0, "trueTagIds": ["a"], "scores": {"a": 0.9, "b": 0.1}}]
    assert HeldOutEvaluation.from_json(evaluation.to_json()) == evaluation
    (sample,) = evaluation.classification_samples()
    assert sample.true == frozenset({"a"}) and sample.fold == 0
    assert [p.tag_id for p in evaluation.images[0].predictions] == ["a", "b"]


def test_a_detection_evaluation_round_trips_and_feeds_the_evaluator() -> None:
    image = HeldOutImage(
        "i1",
        0,
        true_boxes=(GroundTruthBox("a", 0.1, 0.1, 0.2, 0.2),),
        predicted_boxes=(PredictedBox("a", 0.3, 0.5, 0.5, 0.1, 0.1), PredictedBox("a", 0.8, 0.1, 0.1, 0.2, 0.2)),
    )
    evaluation = HeldOutEvaluation(Task.DETECTION, ("a",), False, (image,))
    assert HeldOutEvaluation.from_json(evaluation.to_json()) == evaluation
    (sample,) = evaluation.detection_samples()
    assert sample.fold is None and len(sample.predictions) == 2
    best = evaluation.images[0].predictions[0]
    assert (best.probability, best.box) == (0.8, (0.1, 0.1, 0.2, 0.2))
    with pytest.raises(ContractVersionError):
        HeldOutEvaluation.from_json(_newer(evaluation.to_json()))


def _tag(tag_id: str, kind: TagType = TagType.REGULAR) -> Tag:
    return Tag(tag_id, "p", tag_id.upper(), "", kind, "2026-01-01T00:00:00.000000Z")


def _image(image_id: str, *tag_ids: str) -> Image:
    when = "2026-01-01T00:00:00.000000Z"
    return Image(
        image_id, "p", when, 10, 10, "JPEG", 100, "hash-" + image_id, f"projects/p/images/{image_id}/original",
        tuple(ImageTag(t, when) for t in tag_ids),
    )  # fmt: skip


def test_a_snapshot_keeps_labelled_images_and_round_trips() -> None:
    tags = [_tag("a"), _tag("n", TagType.NEGATIVE)]
    snapshot = Snapshot.take(tags, [_image("1", "a"), _image("2"), _image("3", "n", "x")], detection=False)
    assert [i.id for i in snapshot.images] == ["1", "3"]
    assert snapshot.images[1].tag_ids == ("n",)  # labels outside the snapshot's tags are dropped
    assert snapshot.negative_tag == tags[1] and snapshot.regular_tags == (tags[0],)
    assert Snapshot.from_json(snapshot.to_json()) == snapshot
    assert snapshot.fingerprint({"s": 1}) != snapshot.without_images({"3"}).fingerprint({"s": 1})
    with pytest.raises(ContractVersionError):
        Snapshot.from_json(_newer(snapshot.to_json()))


def test_training_progress_is_typed_in_the_iteration_document() -> None:
    iteration = Iteration(
        id="i", project_id="p", number=1, name="Iteration 1", status=IterationStatus.TRAINING,
        created="c", last_modified="m", domain_id="d", classification_type=ClassificationType.MULTICLASS,
        training_type=TrainingType.REGULAR, reserved_budget_in_hours=0, fingerprint="f",
        progress=TrainingProgress("training", 40),
    )  # fmt: skip
    doc = iteration.to_doc()
    assert doc["progress"] == {"version": 1, "stage": "training", "percent": 40}
    assert Iteration.from_doc(doc) == iteration
    doc["progress"] = {"stage": "queued", "percent": 0}  # written before versions: version 1
    assert Iteration.from_doc(doc).progress == TrainingProgress("queued", 0)
    doc["progress"] = {"version": 3, "stage": "queued", "percent": 0}
    with pytest.raises(ContractVersionError):
        Iteration.from_doc(doc)
