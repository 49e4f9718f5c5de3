"""Domains, projects and tags through the official SDK against a real ``cvstudio serve``."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
    ImageFileCreateBatch,
    ImageFileCreateEntry,
)

from tests.sdk.helpers import (
    GENERAL_CLASSIFICATION,
    GENERAL_COMPACT_CLASSIFICATION,
    GENERAL_DETECTION,
    cv_error,
    training_client,
    unique,
)
from tests.servers import RunningServer

# SPEC §3.2: (type, name, id, exportable)
CATALOGUE = [
    ("Classification", "General", "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31", False),
    ("Classification", "General [A1]", "a8e3c40f-fb4a-466f-832a-5e457ae4a344", False),
    ("Classification", "General [A2]", "2e37d7fb-3a54-486a-b4d6-cfc369af0018", False),
    ("Classification", "Food", "c151d5b5-dd07-472a-acc8-15d29dea8518", False),
    ("Classification", "Landmarks", "ca455789-012d-4b50-9fec-5bb63841c793", False),
    ("Classification", "Retail", "b30a91ae-e3c1-4f73-a81e-c270bff27c39", False),
    ("Classification", "Adult", "45badf75-3591-4f26-a705-45678d3e9f5f", False),
    ("Classification", "General (compact)", "0732100f-1a38-4e49-a514-c9b44c697ab5", True),
    ("Classification", "General (compact) [S1]", "a1db07ca-a19a-4830-bae8-e004a42dc863", True),
    ("Classification", "Landmarks (compact)", "b5cfd229-2ac7-4b2b-8d0a-2b0661344894", True),
    ("Classification", "Retail (compact)", "6b4faeda-8396-481b-9f8b-177b9fa3097f", True),
    ("ObjectDetection", "General", "da2e3a8a-40a5-4171-82f4-58522f70fbc1", False),
    ("ObjectDetection", "General [A1]", "9c616dff-2e7d-ea11-af59-1866da359ce6", False),
    ("ObjectDetection", "Logo", "1d8ffafe-ec40-4fb2-8f90-72b3b6cecea4", False),
    ("ObjectDetection", "Products on shelves", "3780a898-81c3-4516-81ae-3a139614e1f3", False),
    ("ObjectDetection", "General (compact)", "a27d5ca5-bb19-49d8-a70a-fec086c47f5b", True),
    ("ObjectDetection", "General (compact) [S1]", "7ec2ac80-887b-48a6-8df9-8b1357765430", True),
]


def _upload(client: CustomVisionTrainingClient, project_id: str, paths: list[Path], tag_ids: list[str]) -> None:
    entries = [ImageFileCreateEntry(name=p.name, contents=p.read_bytes(), tag_ids=tag_ids) for p in paths]
    result = client.create_images_from_files(project_id, ImageFileCreateBatch(images=entries))
    assert result.is_batch_successful, [i.status for i in result.images]


# -- domains --------------------------------------------------------------------------------------


def test_get_domains_lists_the_real_catalogue(client: CustomVisionTrainingClient) -> None:
    domains = client.get_domains()

    assert len(domains) == 17
    assert sorted((d.type, d.name, d.id, d.exportable) for d in domains) == sorted(CATALOGUE)
    assert all(d.enabled for d in domains)
    by_id = {d.id: d for d in domains}
    assert by_id[GENERAL_CLASSIFICATION].type == "Classification"
    assert by_id[GENERAL_DETECTION].type == "ObjectDetection"
    # The detection quickstart's way of picking its domain finds exactly one.
    picked = [d for d in domains if d.type == "ObjectDetection" and d.name == "General"]
    assert [d.id for d in picked] == [GENERAL_DETECTION]
    for d in domains:
        assert bool(d.exportable_platforms) == d.exportable
        assert d.model_information is not None


def test_get_domain_by_id(client: CustomVisionTrainingClient) -> None:
    domain = client.get_domain(GENERAL_DETECTION)
    assert (domain.id, domain.name, domain.type, domain.exportable) == (
        GENERAL_DETECTION,
        "General",
        "ObjectDetection",
        False,
    )
    compact = client.get_domain(GENERAL_COMPACT_CLASSIFICATION)
    assert (compact.name, compact.type, compact.exportable) == ("General (compact)", "Classification", True)


def test_get_unknown_domain_is_not_found(client: CustomVisionTrainingClient) -> None:
    with cv_error("NotFoundDomain", 404):
        client.get_domain(str(uuid.uuid4()))


# -- projects -------------------------------------------------------------------------------------


def test_minimal_create_project_fills_the_defaults(client: CustomVisionTrainingClient) -> None:
    name = unique("Minimal")
    project = client.create_project(name)

    uuid.UUID(project.id)
    assert project.name == name
    assert project.description == ""
    assert project.settings is not None
    assert project.settings.domain_id == GENERAL_CLASSIFICATION
    assert project.settings.classification_type == "Multiclass"
    assert project.settings.target_export_platforms == []
    assert isinstance(project.created, dt.datetime)
    assert isinstance(project.last_modified, dt.datetime)
    assert project.status == "Succeeded"

    again = client.get_project(project.id)
    assert (again.id, again.name, again.description) == (project.id, name, "")
    assert again.settings.domain_id == GENERAL_CLASSIFICATION
    assert again.settings.classification_type == "Multiclass"
    assert again.created == project.created


def test_create_project_with_every_option(client: CustomVisionTrainingClient) -> None:
    name = unique("Full")
    project = client.create_project(
        name,
        description="Trees of Japan",
        domain_id=GENERAL_COMPACT_CLASSIFICATION,
        classification_type="Multilabel",
        target_export_platforms=["ONNX"],
    )

    assert project.name == name
    assert project.description == "Trees of Japan"
    assert project.settings.domain_id == GENERAL_COMPACT_CLASSIFICATION
    assert project.settings.classification_type == "Multilabel"
    assert project.settings.target_export_platforms == ["ONNX"]

    again = client.get_project(project.id)
    assert again.description == "Trees of Japan"
    assert again.settings.domain_id == GENERAL_COMPACT_CLASSIFICATION
    assert again.settings.classification_type == "Multilabel"
    assert again.settings.target_export_platforms == ["ONNX"]


def test_detection_project_on_the_detection_domain(client: CustomVisionTrainingClient) -> None:
    project = client.create_project(unique("Detector"), domain_id=GENERAL_DETECTION)
    assert project.settings.domain_id == GENERAL_DETECTION
    assert client.get_domain(project.settings.domain_id).type == "ObjectDetection"


def test_get_projects_lists_newest_first(client: CustomVisionTrainingClient) -> None:
    created = [client.create_project(unique(f"Order {n}")).id for n in range(3)]

    listed = [p.id for p in client.get_projects()]

    assert set(created) <= set(listed)
    mine = [pid for pid in listed if pid in created]
    assert mine == list(reversed(created))
    # Scripts take get_projects()[0] as "the project I just made".
    assert listed[0] == created[-1]


def test_update_project_round_trip(client: CustomVisionTrainingClient) -> None:
    project = client.create_project(unique("Before"))
    new_name = unique("After")

    fetched = client.get_project(project.id)
    fetched.name = new_name
    fetched.description = "now described"
    fetched.settings.classification_type = "Multilabel"
    updated = client.update_project(project.id, fetched)

    assert updated.id == project.id
    assert updated.name == new_name
    assert updated.description == "now described"
    assert updated.settings.classification_type == "Multilabel"
    assert updated.settings.domain_id == GENERAL_CLASSIFICATION
    assert updated.created == project.created
    assert updated.last_modified >= project.last_modified

    again = client.get_project(project.id)
    assert (again.name, again.description, again.settings.classification_type) == (
        new_name,
        "now described",
        "Multilabel",
    )


def test_update_project_to_another_classification_domain(client: CustomVisionTrainingClient) -> None:
    project = client.create_project(unique("Reshape"))
    fetched = client.get_project(project.id)
    fetched.settings.domain_id = GENERAL_COMPACT_CLASSIFICATION
    updated = client.update_project(project.id, fetched)
    assert updated.settings.domain_id == GENERAL_COMPACT_CLASSIFICATION
    assert client.get_project(project.id).settings.domain_id == GENERAL_COMPACT_CLASSIFICATION


def test_changing_a_classifier_to_a_detection_domain_is_refused(client: CustomVisionTrainingClient) -> None:
    project = client.create_project(unique("Classifier"))
    fetched = client.get_project(project.id)
    fetched.settings.domain_id = GENERAL_DETECTION

    with cv_error("BadRequestProjectUnsupportedDomainTypeChange", 400):
        client.update_project(project.id, fetched)
    assert client.get_project(project.id).settings.domain_id == GENERAL_CLASSIFICATION


def test_delete_project(client: CustomVisionTrainingClient) -> None:
    project = client.create_project(unique("Doomed"))

    assert client.delete_project(project.id) is None

    with cv_error("NotFoundProject", 404):
        client.get_project(project.id)
    assert project.id not in [p.id for p in client.get_projects()]
    with cv_error("NotFoundProject", 404):
        client.delete_project(project.id)


def test_duplicate_project_name_is_refused_case_insensitively(client: CustomVisionTrainingClient) -> None:
    name = unique("Twin")
    client.create_project(name)

    with cv_error("BadRequestProjectNameNotUnique", 400):
        client.create_project(name)
    with cv_error("BadRequestProjectNameNotUnique", 400):
        client.create_project(name.upper())


def test_renaming_onto_a_taken_name_is_refused(client: CustomVisionTrainingClient) -> None:
    taken = client.create_project(unique("Taken"))
    other = client.create_project(unique("Other"))

    fetched = client.get_project(other.id)
    fetched.name = taken.name.lower()
    with cv_error("BadRequestProjectNameNotUnique", 400):
        client.update_project(other.id, fetched)
    assert client.get_project(other.id).name == other.name


def test_a_name_is_free_again_after_its_project_is_deleted(client: CustomVisionTrainingClient) -> None:
    first = client.create_project(unique("Reused"))
    second = client.create_project(unique("Renamed"))

    client.delete_project(first.id)
    fetched = client.get_project(second.id)
    fetched.name = first.name
    renamed = client.update_project(second.id, fetched)
    assert renamed.name == first.name

    # The rename released the second project's old name too.
    third = client.create_project(second.name)
    assert third.name == second.name
    # And a plain re-create of a deleted project's name works.
    gone = client.create_project(unique("Gone"))
    client.delete_project(gone.id)
    assert client.create_project(gone.name).name == gone.name


def test_create_project_with_unknown_domain_is_refused(client: CustomVisionTrainingClient) -> None:
    name = unique("NoDomain")
    with cv_error("BadRequestProjectUnknownDomain", 400):
        client.create_project(name, domain_id=str(uuid.uuid4()))
    assert name not in [p.name for p in client.get_projects()]


def test_create_project_validation_codes(client: CustomVisionTrainingClient) -> None:
    with cv_error("BadRequestProjectName", 400):
        client.create_project("")
    with cv_error("BadRequestProjectUnknownClassification", 400):
        client.create_project(unique("Odd"), classification_type="Multiway")
    with cv_error("BadRequestProjectUnsupportedExportPlatform", 400):
        client.create_project(unique("Not compact"), target_export_platforms=["ONNX"])
    with cv_error("BadRequestProjectDescription", 400):
        client.create_project(unique("Wordy"), description="x" * 1025)


def test_names_with_reserved_url_characters_round_trip(client: CustomVisionTrainingClient) -> None:
    name = unique("Japanese Cherry/ü&x ? #")
    project = client.create_project(name, description="a&b=c")
    tag = client.create_tag(project.id, "Cherry/ü&x #?=", description="pink & white")

    assert (client.get_project(project.id).name, client.get_project(project.id).description) == (
        name,
        "a&b=c",
    )
    got = client.get_tag(project.id, tag.id)
    assert (got.name, got.description) == ("Cherry/ü&x #?=", "pink & white")


def test_unknown_project_is_not_found(client: CustomVisionTrainingClient) -> None:
    missing = str(uuid.uuid4())
    with cv_error("NotFoundProject", 404):
        client.get_project(missing)
    with cv_error("NotFoundProject", 404):
        client.get_tags(missing)
    with cv_error("NotFoundProject", 404):
        client.create_tag(missing, "orphan")
    with cv_error("NotFoundProject", 404):
        client.get_images(missing)


def test_wrong_training_key_is_unauthorized(server: RunningServer) -> None:
    intruder = training_client(server.endpoint, key="not-the-key")
    try:
        with pytest.raises(CustomVisionErrorException) as info:
            intruder.get_projects()
        assert info.value.response.status_code == 401
        assert info.value.error.code == "Unauthorized"
        assert "key" in str(info.value)
        with cv_error("Unauthorized", 401):
            intruder.create_project(unique("Intruder"))
    finally:
        intruder.close()


# -- tags -----------------------------------------------------------------------------------------


def test_create_tags(client: CustomVisionTrainingClient) -> None:
    project = client.create_project(unique("Tags"))

    hemlock = client.create_tag(project.id, "Hemlock")
    cherry = client.create_tag(project.id, "Japanese Cherry", description="pink in spring")
    negative = client.create_tag(project.id, "Nothing", type="Negative")

    uuid.UUID(hemlock.id)
    assert (hemlock.name, hemlock.description, hemlock.type, hemlock.image_count) == (
        "Hemlock",
        "",
        "Regular",
        0,
    )
    assert (cherry.name, cherry.description, cherry.type) == ("Japanese Cherry", "pink in spring", "Regular")
    assert (negative.name, negative.type) == ("Nothing", "Negative")

    listed = {t.id: t for t in client.get_tags(project.id)}
    assert set(listed) == {hemlock.id, cherry.id, negative.id}
    assert listed[negative.id].type == "Negative"
    assert listed[cherry.id].description == "pink in spring"

    got = client.get_tag(project.id, cherry.id)
    assert (got.id, got.name, got.description, got.type, got.image_count) == (
        cherry.id,
        "Japanese Cherry",
        "pink in spring",
        "Regular",
        0,
    )


def test_tag_image_counts_follow_uploads(
    client: CustomVisionTrainingClient, hemlock_images: list[Path], cherry_images: list[Path]
) -> None:
    project = client.create_project(unique("Counts"))
    hemlock = client.create_tag(project.id, "Hemlock")
    cherry = client.create_tag(project.id, "Japanese Cherry")
    spare = client.create_tag(project.id, "Spare")

    _upload(client, project.id, hemlock_images[:4], [hemlock.id])
    _upload(client, project.id, cherry_images[:3], [cherry.id])

    counts = {t.name: t.image_count for t in client.get_tags(project.id)}
    assert counts == {"Hemlock": 4, "Japanese Cherry": 3, "Spare": 0}
    assert client.get_tag(project.id, hemlock.id).image_count == 4
    assert client.get_tag(project.id, spare.id).image_count == 0


def test_update_tag_round_trip(client: CustomVisionTrainingClient, hemlock_images: list[Path]) -> None:
    project = client.create_project(unique("Rename tag"))
    tag = client.create_tag(project.id, "Hemlok")
    _upload(client, project.id, hemlock_images[:2], [tag.id])

    fetched = client.get_tag(project.id, tag.id)
    fetched.name = "Hemlock"
    fetched.description = "a conifer"
    updated = client.update_tag(project.id, tag.id, fetched)

    assert (updated.id, updated.name, updated.description, updated.type) == (
        tag.id,
        "Hemlock",
        "a conifer",
        "Regular",
    )
    assert updated.image_count == 2
    again = client.get_tag(project.id, tag.id)
    assert (again.name, again.description) == ("Hemlock", "a conifer")
    # Images show the new name.
    assert {t.tag_name for i in client.get_images(project.id) for t in i.tags} == {"Hemlock"}
    # The old name is free again.
    assert client.create_tag(project.id, "Hemlok").name == "Hemlok"


def test_delete_tag_untags_its_images(client: CustomVisionTrainingClient, hemlock_images: list[Path]) -> None:
    project = client.create_project(unique("Drop tag"))
    doomed = client.create_tag(project.id, "Doomed")
    kept = client.create_tag(project.id, "Kept")
    _upload(client, project.id, hemlock_images[:2], [doomed.id])
    _upload(client, project.id, hemlock_images[2:3], [doomed.id, kept.id])

    assert client.delete_tag(project.id, doomed.id) is None

    assert [t.id for t in client.get_tags(project.id)] == [kept.id]
    with cv_error("NotFoundTag", 404):
        client.get_tag(project.id, doomed.id)
    images = client.get_images(project.id)
    assert len(images) == 3
    for image in images:
        assert doomed.id not in [t.tag_id for t in image.tags or []]
    assert client.get_untagged_image_count(project.id) == 2
    assert client.get_tagged_image_count(project.id) == 1
    # The name can be used again.
    assert client.create_tag(project.id, "Doomed").image_count == 0


def test_duplicate_tag_name_is_refused(client: CustomVisionTrainingClient) -> None:
    project = client.create_project(unique("Dup tags"))
    client.create_tag(project.id, "Hemlock")
    other = client.create_tag(project.id, "Cherry")

    with cv_error("BadRequestTagNameNotUnique", 400):
        client.create_tag(project.id, "Hemlock")
    with cv_error("BadRequestTagNameNotUnique", 400):
        client.create_tag(project.id, "HEMLOCK")
    fetched = client.get_tag(project.id, other.id)
    fetched.name = "Hemlock"
    with cv_error("BadRequestTagNameNotUnique", 400):
        client.update_tag(project.id, other.id, fetched)
    assert sorted(t.name for t in client.get_tags(project.id)) == ["Cherry", "Hemlock"]

    # Tag names are per project.
    elsewhere = client.create_project(unique("Other tags"))
    assert client.create_tag(elsewhere.id, "Hemlock").name == "Hemlock"


def test_only_one_negative_tag(client: CustomVisionTrainingClient) -> None:
    project = client.create_project(unique("Negatives"))
    client.create_tag(project.id, "Negative", type="Negative")
    regular = client.create_tag(project.id, "Regular")

    with cv_error("BadRequestMultipleNegativeTag", 400):
        client.create_tag(project.id, "Also negative", type="Negative")
    fetched = client.get_tag(project.id, regular.id)
    fetched.type = "Negative"
    with cv_error("BadRequestMultipleNegativeTag", 400):
        client.update_tag(project.id, regular.id, fetched)
    assert sorted(t.type for t in client.get_tags(project.id)) == ["Negative", "Regular"]


def test_unknown_tag_is_not_found(client: CustomVisionTrainingClient) -> None:
    project = client.create_project(unique("No tag"))
    tag = client.create_tag(project.id, "Real")
    missing = str(uuid.uuid4())

    with cv_error("NotFoundTag", 404):
        client.get_tag(project.id, missing)
    with cv_error("NotFoundTag", 404):
        client.update_tag(project.id, missing, client.get_tag(project.id, tag.id))
    with cv_error("NotFoundTag", 404):
        client.delete_tag(project.id, missing)
    # A tag of another project is unknown here.
    other = client.create_project(unique("Other project"))
    with cv_error("NotFoundTag", 404):
        client.get_tag(other.id, tag.id)


def test_tags_of_an_unknown_iteration(client: CustomVisionTrainingClient) -> None:
    project = client.create_project(unique("No iterations"))
    tag = client.create_tag(project.id, "Hemlock")

    with cv_error("NotFoundIteration", 404):
        client.get_tags(project.id, iteration_id=str(uuid.uuid4()))
    with cv_error("NotFoundIteration", 404):
        client.get_tag(project.id, tag.id, iteration_id=str(uuid.uuid4()))
