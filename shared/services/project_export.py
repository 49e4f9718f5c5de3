"""``export_project`` on the source instance: the counts and token, and the package the token leads to.

The token names a signed, expiring link to the project's package (``contracts/project_package.py``),
built by the API on its public base URL; the package names each image's original bytes by a signed
link of the same kind. Nothing here is stored: the package is written afresh on each read, so it
holds what the project holds when the importer asks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.contracts.project_package import (
    ImportToken,
    PackageImage,
    PackageRegion,
    PackageTag,
    ProjectPackage,
    ProjectSettings,
)
from shared.domain.clock import utc_now
from shared.domain.entities import Image
from shared.domain.limits import IMPORT_BASE_MS, IMPORT_MS_PER_IMAGE
from shared.services.projects import ProjectService
from shared.services.tags import TagService
from shared.stores.documents import Documents
from shared.stores.ports import MetadataStore

__all__ = ["ProjectExport", "ProjectExports", "estimated_import_ms"]

# (image id) -> a signed link to the image's original bytes on this instance
OriginalUri = Callable[[str], str]


@dataclass(frozen=True)
class ProjectExport:
    iteration_count: int
    image_count: int
    tag_count: int
    region_count: int
    estimated_import_time_in_ms: int
    token: str


def estimated_import_ms(image_count: int) -> int:
    return IMPORT_BASE_MS + IMPORT_MS_PER_IMAGE * image_count


class ProjectExports:
    def __init__(self, meta: MetadataStore, projects: ProjectService, tags: TagService) -> None:
        self._images = Documents(meta, Image)
        self._projects = projects
        self._tags = tags

    def export(self, project_id: str, package_url: str) -> ProjectExport:
        """The counts and the token for ``package_url`` (the signed link of this project's package).
        Iterations are not exported (the importer retrains), so their count is 0."""
        project = self._projects.get(project_id)
        images = 0
        regions = 0
        for image in self._images.iterate(project.id):
            images += 1
            regions += len(image.regions)
        return ProjectExport(
            iteration_count=0,
            image_count=images,
            tag_count=len(self._tags.all(project.id)),
            region_count=regions,
            estimated_import_time_in_ms=estimated_import_ms(images),
            token=ImportToken(package_url).encode(),
        )

    def package(self, project_id: str, original_uri: OriginalUri) -> ProjectPackage:
        """The project as the importer reads it, every image's bytes behind ``original_uri``."""
        project = self._projects.get(project_id)
        tags = self._tags.all(project.id)
        images = tuple(
            PackageImage(
                id=image.id,
                url=original_uri(image.id),
                sha256=image.content_hash,
                size_bytes=image.size_bytes,
                tag_ids=tuple(t.tag_id for t in image.tags),
                regions=tuple(PackageRegion(r.tag_id, r.left, r.top, r.width, r.height) for r in image.regions),
                metadata=dict(image.metadata),
            )
            for image in self._images.iterate(project.id)
        )
        settings = ProjectSettings(
            name=project.name,
            description=project.description,
            domain_id=project.domain_id,
            classification_type=project.classification_type.value,
            target_export_platforms=project.target_export_platforms,
            augmentation_methods=dict(project.augmentation_methods),
        )
        return ProjectPackage(
            exported=utc_now(),
            project=settings,
            tags=tuple(PackageTag(t.id, t.name, t.description, t.type.value) for t in tags),
            images=images,
        )
