"""Exports: a compact-domain iteration's model packaged as a zip (model.onnx, labels.txt,
cvexport.manifest); one export per platform and flavor at a time."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest

from shared.contracts.evaluation import HeldOutEvaluation
from shared.contracts.manifest import ModelManifest
from shared.domain.enums import ExportStatus, Task
from shared.domain.errors import BadRequest, Code, NotFound
from shared.domain.records import ExportRecord
from shared.services.training import TrainRequest
from tests.unit.services.fakes import (
    DETECTION,
    GENERAL,
    Trained,
    World,
    red_green_classifier,
    red_green_project,
    trained_classifier,
    trained_detector,
)


def _zip(world: World, record: ExportRecord) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(world.exports.read(record.project_id, record.iteration_id, record.file_name)))


def test_an_export_is_exporting_then_done_with_the_model_and_its_labels_in_model_order(world: World) -> None:
    started = red_green_project(world)
    red, green = started.tag("red"), started.tag("green")
    model = red_green_classifier()
    # The model's outputs are not the tags' creation order: the zip follows the model.
    world.finish(started.iteration, model, ModelManifest(Task.CLASSIFICATION, (green.id, red.id)))
    pid, iid = started.project_id, started.iteration.id

    record = world.exports.export(pid, iid, "onnx", None)
    assert (record.platform, record.status, record.flavor) == ("ONNX", ExportStatus.EXPORTING, None)
    assert [r.status for r in world.exports.list(pid, iid)] == [ExportStatus.EXPORTING]
    world.run_exports()
    (done,) = world.exports.list(pid, iid)
    assert (done.status, done.error, done.file_name) == (ExportStatus.DONE, None, record.file_name)
    with _zip(world, done) as archive:
        assert sorted(archive.namelist()) == ["cvexport.manifest", "labels.txt", "model.onnx"]
        assert archive.read("model.onnx") == model
        assert archive.read("labels.txt").decode() == "green\nred\n"
        manifest = json.loads(archive.read("cvexport.manifest"))
    assert manifest == {
        "platform": "ONNX",
        "flavor": None,
        "task": "classification",
        "labels": ["green", "red"],
        "iterationId": iid,
    }


def test_labels_keep_the_trained_names_of_deleted_tags(classifier: Trained) -> None:
    world, pid, iid = classifier.world, classifier.project_id, classifier.iteration.id
    world.tags.delete(pid, classifier.tag("green").id)
    record = world.exports.export(pid, iid, "ONNX", "ONNXFloat16")
    world.run_exports()
    with _zip(world, record) as archive:
        assert archive.read("labels.txt").decode() == "red\ngreen\n"
        assert json.loads(archive.read("cvexport.manifest"))["flavor"] == "ONNXFloat16"


def test_a_detector_exports_as_detection(detector: Trained) -> None:
    world = detector.world
    record = world.exports.export(detector.project_id, detector.iteration.id, "ONNX", None)
    world.run_exports()
    with _zip(world, record) as archive:
        assert json.loads(archive.read("cvexport.manifest"))["task"] == "detection"
        assert archive.read("labels.txt").decode() == "fork\nknife\n"


def test_a_second_request_while_exporting_is_refused_and_once_done_returns_the_export(classifier: Trained) -> None:
    world, pid, iid = classifier.world, classifier.project_id, classifier.iteration.id
    world.exports.export(pid, iid, "ONNX", None)
    with pytest.raises(BadRequest) as err:
        world.exports.export(pid, iid, "onnx", None)
    assert err.value.code is Code.BAD_REQUEST_EXPORT_ALREADY_IN_PROGRESS
    other_flavor = world.exports.export(pid, iid, "ONNX", "ONNXFloat16")  # another flavor is another export
    assert other_flavor.status is ExportStatus.EXPORTING
    world.run_exports()
    again = world.exports.export(pid, iid, "ONNX", None)
    assert again.status is ExportStatus.DONE
    assert world.pending == []  # nothing packaged twice
    assert sorted((r.flavor or "", r.status) for r in world.exports.list(pid, iid)) == [
        ("", ExportStatus.DONE),
        ("ONNXFloat16", ExportStatus.DONE),
    ]
    assert len({r.file_name for r in world.exports.list(pid, iid)}) == 2


def test_a_failed_export_says_why_and_can_be_tried_again(world: World) -> None:
    started = red_green_project(world)
    world.finish(started.iteration)  # completed, but its model was never saved
    pid, iid = started.project_id, started.iteration.id
    world.exports.export(pid, iid, "ONNX", None)
    world.run_exports()
    (failed,) = world.exports.list(pid, iid)
    assert failed.status is ExportStatus.FAILED and failed.error and "NotFound" in failed.error
    red, green = started.tag("red"), started.tag("green")
    world.artifacts.save(
        pid,
        iid,
        red_green_classifier(),
        ModelManifest(Task.CLASSIFICATION, (red.id, green.id)),
        HeldOutEvaluation(Task.CLASSIFICATION, (red.id, green.id), False, ()),
    )
    assert world.exports.export(pid, iid, "ONNX", None).status is ExportStatus.EXPORTING
    world.run_exports()
    assert [r.status for r in world.exports.list(pid, iid)] == [ExportStatus.DONE]


def test_a_non_compact_domain_cannot_export(world: World) -> None:
    trained = trained_classifier(world, domain_id=GENERAL)
    with pytest.raises(BadRequest) as err:
        world.exports.export(trained.project_id, trained.iteration.id, "ONNX", None)
    assert err.value.code is Code.BAD_REQUEST_EXPORT_VALIDATION_FAILED
    assert world.exports.list(trained.project_id, trained.iteration.id) == []
    assert world.pending == []


def test_a_non_compact_detector_cannot_export(world: World) -> None:
    trained = trained_detector(world, domain_id=DETECTION)
    with pytest.raises(BadRequest) as err:
        world.exports.export(trained.project_id, trained.iteration.id, "ONNX", None)
    assert err.value.code is Code.BAD_REQUEST_EXPORT_VALIDATION_FAILED


@pytest.mark.parametrize("platform", ["Fax", None, "CoreML", "TensorFlow"])
def test_only_onnx_is_exported(classifier: Trained, platform: str | None) -> None:
    with pytest.raises(BadRequest) as err:
        classifier.world.exports.export(classifier.project_id, classifier.iteration.id, platform, None)
    assert err.value.code is Code.BAD_REQUEST_EXPORT_VALIDATION_FAILED


def test_an_iteration_still_training_or_failed_cannot_export(world: World) -> None:
    started = red_green_project(world)
    pid, iid = started.project_id, started.iteration.id
    with pytest.raises(BadRequest) as err:
        world.exports.export(pid, iid, "ONNX", None)
    assert err.value.code is Code.BAD_REQUEST_EXPORT_WHILE_TRAINING
    world.iterations.fail(pid, iid, "no luck")
    with pytest.raises(BadRequest) as err:
        world.exports.export(pid, iid, "ONNX", None)
    assert err.value.code is Code.BAD_REQUEST_ITERATION_IS_NOT_TRAINED
    assert world.exports.list(pid, iid) == []


def test_exports_belong_to_their_iteration(classifier: Trained) -> None:
    world, pid = classifier.world, classifier.project_id
    second = world.finish(world.train(pid, TrainRequest(force_train=True)))
    world.exports.export(pid, classifier.iteration.id, "ONNX", None)
    assert world.exports.list(pid, second.id) == []
    with pytest.raises(NotFound):
        world.exports.list(pid, "1b4e28ba-2fa1-11d2-883f-0016d3cca427")


def test_packaging_after_the_project_was_deleted_is_harmless(classifier: Trained) -> None:
    world = classifier.world
    world.exports.export(classifier.project_id, classifier.iteration.id, "ONNX", None)
    world.projects.delete(classifier.project_id)
    world.run_exports()  # no error: the export simply has nowhere to go
    with pytest.raises(NotFound):
        world.exports.list(classifier.project_id, classifier.iteration.id)


def test_the_wired_service_packages_in_the_background(classifier: Trained) -> None:
    world, pid, iid = classifier.world, classifier.project_id, classifier.iteration.id
    exports = world.services.exports
    exports.export(pid, iid, "ONNX", None)
    deadline = time.monotonic() + 10
    while (status := exports.list(pid, iid)[0].status) is ExportStatus.EXPORTING and time.monotonic() < deadline:
        time.sleep(0.002)
    assert status is ExportStatus.DONE
    (record,) = exports.list(pid, iid)
    with zipfile.ZipFile(io.BytesIO(exports.read(pid, iid, record.file_name))) as archive:
        assert archive.read("labels.txt").decode() == "red\ngreen\n"
