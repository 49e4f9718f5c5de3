"""Exports: a compact-domain iteration's model packaged as a zip (model.onnx, labels.txt,
cvexport.manifest) by the export job; one export per platform and flavor at a time; never Exporting forever."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import onnx
import pytest

from shared.contracts.evaluation import HeldOutEvaluation
from shared.contracts.jobs import ExportIteration
from shared.contracts.manifest import ModelManifest
from shared.domain.enums import ExportStatus, Task
from shared.domain.errors import BadRequest, Code, NotFound
from shared.domain.records import ExportRecord
from shared.exporting.platforms import BUILDERS, build_onnx
from shared.exporting.source import ExportSource
from shared.jobs.export_jobs import ExportJobs
from shared.jobs.training_jobs import LaunchRefused
from shared.services.artifact_keys import project_prefix
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
        assert onnx.load_from_string(archive.read("model.onnx")).graph == onnx.load_from_string(model).graph
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
    assert record.flavor == "OnnxFloat16"  # Custom Vision's spelling
    world.run_exports()
    with _zip(world, record) as archive:
        assert archive.read("labels.txt").decode() == "red\ngreen\n"
        assert json.loads(archive.read("cvexport.manifest"))["flavor"] == "OnnxFloat16"


def test_a_detector_exports_as_detection(world: World) -> None:
    # The [S1] domain: its layout is the stored one (the tiny fake model has no input-size metadata
    # for the General (compact) grid layout, which tests/training covers on a real detector).
    detector = trained_detector(world, domain_id="7ec2ac80-887b-48a6-8df9-8b1357765430")
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
        ("OnnxFloat16", ExportStatus.DONE),
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


@pytest.mark.parametrize(
    ("platform", "flavor"),
    [("Fax", None), (None, None), ("VAIDK", None), ("TensorFlow", None), ("DockerFile", "Windows"), ("ONNX", "ARM")],
)
def test_what_cannot_be_built_is_refused_up_front(
    classifier: Trained, platform: str | None, flavor: str | None
) -> None:
    world = classifier.world
    with pytest.raises(BadRequest) as err:
        world.exports.export(classifier.project_id, classifier.iteration.id, platform, flavor)
    assert err.value.code is Code.BAD_REQUEST_EXPORT_VALIDATION_FAILED
    assert world.pending == [] and world.exports.list(classifier.project_id, classifier.iteration.id) == []


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


def test_the_api_side_only_records_and_enqueues(classifier: Trained) -> None:
    world, pid, iid = classifier.world, classifier.project_id, classifier.iteration.id
    record = world.exports.export(pid, iid, "OpenVino", None)
    assert world.pending == [ExportIteration(pid, iid, record.id)]
    world.exports.run(ExportIteration(pid, iid, record.id))
    world.exports.run(ExportIteration(pid, iid, record.id))  # delivered twice: packaged once, no error
    (done,) = world.exports.list(pid, iid)
    assert done.status is ExportStatus.DONE
    with _zip(world, done) as archive:
        assert {"model.xml", "model.bin", "labels.txt"} <= set(archive.namelist())


def test_an_export_whose_exporter_died_is_reported_failed_and_exported_again(classifier: Trained) -> None:
    world, pid, iid = classifier.world, classifier.project_id, classifier.iteration.id
    record = world.exports.export(pid, iid, "ONNX", None)
    world.messages()  # the message is lost with its exporter
    long_ago = replace(record, created="2020-01-01T00:00:00.000000Z")
    world.meta.replace("export", pid, long_ago.to_doc())
    (failed,) = world.exports.list(pid, iid)
    assert failed.status is ExportStatus.FAILED and failed.error and "did not finish" in failed.error
    assert world.exports.export(pid, iid, "ONNX", None).status is ExportStatus.EXPORTING
    world.run_exports()
    assert [r.status for r in world.exports.list(pid, iid)] == [ExportStatus.DONE]


def test_a_builder_that_cannot_build_here_fails_the_export_with_its_reason(classifier: Trained) -> None:
    world, pid, iid = classifier.world, classifier.project_id, classifier.iteration.id
    world.exports.export(pid, iid, "ONNX", None)
    BUILDERS["ONNX"] = "shared.exporting.no_such_converter:build"
    try:
        world.run_exports()
    finally:
        BUILDERS["ONNX"] = "shared.exporting.platforms:build_onnx"
    (failed,) = world.exports.list(pid, iid)
    assert failed.status is ExportStatus.FAILED and failed.error and "not installed" in failed.error
    assert not [k for k in world.blobs.keys(project_prefix(pid)) if "/exports/" in k]


_WHILE_BUILDING: list[Callable[[], object]] = []


def build_while_deleting(source: ExportSource, workdir: Path) -> dict[str, bytes]:
    """A builder during which the project is deleted (BUILDERS names it by import path)."""
    for action in _WHILE_BUILDING:
        action()
    return build_onnx(source, workdir)


def test_a_package_written_after_its_project_was_deleted_is_removed_again(classifier: Trained) -> None:
    world, pid, iid = classifier.world, classifier.project_id, classifier.iteration.id
    world.exports.export(pid, iid, "ONNX", None)
    BUILDERS["ONNX"] = f"{__name__}:build_while_deleting"
    _WHILE_BUILDING.append(lambda: world.projects.delete(pid))
    try:
        world.run_exports()
    finally:
        BUILDERS["ONNX"] = "shared.exporting.platforms:build_onnx"
        _WHILE_BUILDING.clear()
    assert not [k for k in world.blobs.keys(project_prefix(pid)) if "/exports/" in k]


class _Launcher:
    def __init__(self, ends: str | None = None, refuses: str | None = None) -> None:
        self.ends, self.refuses, self.ran = ends, refuses, 0

    def run(self, job: object) -> str | None:
        self.ran += 1
        if self.refuses:
            raise LaunchRefused(self.refuses)
        return self.ends

    def stop(self) -> None:
        pass


def test_an_exporter_that_dies_or_cannot_start_leaves_the_export_failed_saying_how(classifier: Trained) -> None:
    world, pid, iid = classifier.world, classifier.project_id, classifier.iteration.id
    world.exports.export(pid, iid, "ONNX", None)
    (job,) = world.messages()
    assert isinstance(job, ExportIteration)
    ExportJobs(world.exports, _Launcher(ends="was killed by signal 9")).export_iteration(job)
    (failed,) = world.exports.list(pid, iid)
    assert failed.status is ExportStatus.FAILED and "killed by signal 9" in (failed.error or "")
    again = _Launcher()
    ExportJobs(world.exports, again).export_iteration(job)  # delivered again: nothing to do
    assert again.ran == 0
    world.exports.export(pid, iid, "ONNX", None)
    (job,) = world.messages()
    assert isinstance(job, ExportIteration)
    ExportJobs(world.exports, _Launcher(refuses="the job is missing")).export_iteration(job)
    (refused,) = world.exports.list(pid, iid)
    assert refused.status is ExportStatus.FAILED and "the job is missing" in (refused.error or "")
