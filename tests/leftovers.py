"""The one check that nothing is half-done in a server's stores, read through the product's ports so
that it works on the embedded default (a data dir) and on the Azure adapters alike.

Half-done means: an image record without its bytes, image bytes without a record (that no
iteration keeps), an image pointing at a tag that does not exist, a name claim whose owner is
gone, a delete whose first purge pass never ended, and anything at all left of a deleted project
or a deleted tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.bootstrap import Services, build_services
from shared.domain.entities import Image, Project, Tag, Tombstone
from shared.services.artifact_keys import image_prefix, project_prefix
from shared.services.snapshots import SnapshotStore
from shared.settings import Settings
from shared.stores.documents import Documents
from tests.servers import PREDICTION_KEY, TRAINING_KEY

__all__ = ["half_done", "stores_of"]

# Every kind of document a project's partition holds (the claims included).
_PROJECT_KINDS = (
    "project",
    "tag",
    "image",
    "iteration",
    "prediction",
    "suggestion",
    "export",
    "tagname",
    "publishname",
    "lock",
)


@contextmanager
def stores_of(data_dir: Path, azure_env: dict[str, str] | None = None) -> Iterator[Services]:
    """The product's services on a (stopped or running) server's stores: its data dir, or the
    Azure stores its settings name (``azure_env``: ``AzureStack.settings_env``)."""
    env = azure_env or {}
    settings = Settings(
        data_dir=data_dir,
        training_key=TRAINING_KEY,
        prediction_key=PREDICTION_KEY,
        storage=env.get("CVSTUDIO_STORAGE"),
        cosmos_endpoint=env.get("CVSTUDIO_COSMOS_ENDPOINT"),
        cosmos_key=env.get("CVSTUDIO_COSMOS_KEY"),
        cosmos_database=env.get("CVSTUDIO_COSMOS_DATABASE", "cvstudio"),
    )
    services = build_services(settings)
    try:
        yield services
    finally:
        close = getattr(services.meta, "close", None)
        if close is not None:
            close()


def half_done(
    services: Services, *, deleted_projects: Iterable[str] = (), deleted_tags: Iterable[tuple[str, str]] = ()
) -> list[str]:
    """Everything half-done in the stores, in words (empty: nothing)."""
    meta, blobs = services.meta, services.blobs
    problems: list[str] = []
    for stone in Documents(meta, Tombstone, guid_ids=False).iterate(Tombstone.PARTITION, order_by="deletedAt"):
        if stone.purged_at is None:
            problems.append(f"the delete of {stone.id} never finished a pass")
    projects = Documents(meta, Project).all(None)
    live = {p.id for p in projects}
    for claim in meta.query("projectname", "project-names", limit=10_000).items:
        if claim.doc["owner"] not in live:
            problems.append(f"the project name {claim.doc['name']!r} is claimed by a project that is gone")
    for project in projects:
        tags = {t.id for t in Documents(meta, Tag).all(project.id)}
        for claim in meta.query("tagname", project.id, limit=10_000).items:
            if claim.doc["owner"] not in tags:
                problems.append(f"the tag name {claim.doc['name']!r} is claimed by a tag that is gone")
        images = Documents(meta, Image).all(project.id)
        for image in images:
            if not blobs.exists(image.blob_key):
                problems.append(f"image {image.id} of {project.name!r} has no bytes")
            dangling = set(image.tag_ids) - tags
            if dangling:
                problems.append(f"image {image.id} of {project.name!r} points at missing tags {sorted(dangling)}")
        kept = {i.id for i in images} | SnapshotStore(meta, blobs).referenced_images(project.id)
        folder = image_prefix(project.id, "-").removesuffix("-/")
        for image_id in sorted({k.removeprefix(folder).split("/", 1)[0] for k in blobs.keys(folder)} - kept):
            problems.append(f"bytes of image {image_id} of {project.name!r} have no record")
    for project_id in deleted_projects:
        if project_id in live:
            problems.append(f"the deleted project {project_id} is still listed")
        for kind in _PROJECT_KINDS:
            left = meta.count(kind, project_id)
            if left:
                problems.append(f"{left} {kind} document(s) of the deleted project {project_id} remain")
        files = blobs.keys(project_prefix(project_id))
        if files:
            problems.append(f"{len(files)} file(s) of the deleted project {project_id} remain, e.g. {files[0]}")
    for project_id, tag_id in deleted_tags:
        if Documents(meta, Tag).find(project_id, tag_id) is not None:
            problems.append(f"the deleted tag {tag_id} is still there")
    return problems
