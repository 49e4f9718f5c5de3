"""Training images in the workspace: list and count (typed queries), read, delete, and their bytes.

Uploads are :mod:`shared.services.image_uploads`; labels on images are
:mod:`shared.services.image_labels`; the images an iteration was trained on are answered by
:mod:`shared.services.snapshot_queries`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from shared.domain.entities import Image
from shared.domain.errors import BadRequest, Code, Conflict
from shared.domain.limits import MAX_IMAGE_IDS_QUERY
from shared.domain.validation import parse_guids
from shared.services.artifact_keys import image_prefix
from shared.services.image_query import ImageQuery
from shared.services.projects import ProjectService
from shared.services.renditions import read_rendition
from shared.services.snapshots import SnapshotStore
from shared.services.tombstones import Tombstones
from shared.stores.documents import Documents
from shared.stores.ports import BlobEntry, BlobStore, In, MetadataStore

__all__ = ["ImageService"]


class ImageService:
    def __init__(
        self, meta: MetadataStore, blobs: BlobStore, projects: ProjectService, snapshots: SnapshotStore
    ) -> None:
        self._images = Documents(meta, Image)
        self._blobs = blobs
        self._projects = projects
        self._snapshots = snapshots
        self._tombstones = Tombstones(meta)

    # -- queries --------------------------------------------------------------------------------

    def list_images(self, project_id: str, query: ImageQuery) -> list[Image]:
        project = self._projects.get(project_id)
        window = query.skip + query.take
        found = self._images.iterate(
            project.id,
            query.conditions(self._tombstones.pending_tags(project.id)),
            order_by=Image.CREATED,
            descending=query.newest_first,
            page_size=max(1, min(window, MAX_IMAGE_IDS_QUERY)),
        )
        return list(itertools.islice(found, query.skip, window))

    def count_images(self, project_id: str, query: ImageQuery) -> int:
        project = self._projects.get(project_id)
        return self._images.count(project.id, query.conditions(self._tombstones.pending_tags(project.id)))

    def images_by_ids(self, project_id: str, image_ids: Sequence[str]) -> list[Image]:
        project = self._projects.get(project_id)
        ids = parse_guids(image_ids, "image", limit=MAX_IMAGE_IDS_QUERY)
        found = self._images.iterate(project.id, [In(Image.ID, tuple(ids))], page_size=MAX_IMAGE_IDS_QUERY)
        by_id = {i.id: i for i in found}
        return [by_id[i] for i in ids if i in by_id]

    def get_image(self, project_id: str, image_id: str) -> Image:
        project = self._projects.get(project_id)
        return self._images.get(project.id, image_id)

    # -- deletion -------------------------------------------------------------------------------

    def delete_images(
        self,
        project_id: str,
        image_ids: Sequence[str],
        all_images: bool = False,
        all_iterations: bool = False,
    ) -> None:
        """Delete from the workspace; the bytes stay while an iteration was trained on the image,
        unless ``all_iterations`` removes the images from the iterations' snapshots too."""
        project = self._projects.get(project_id)
        if all_images:
            ids = [i.id for i in self._images.iterate(project.id)]
        else:
            ids = parse_guids(image_ids, "image", limit=MAX_IMAGE_IDS_QUERY)
            if not ids:
                raise BadRequest("Give imageIds, or allImages=true.", Code.BAD_REQUEST_REQUIRED_PARAM_IS_NULL)
        if all_iterations:
            self._snapshots.drop_images(project.id, set(ids))
        kept_for_iterations = self._snapshots.referenced_images(project.id)
        for image_id in ids:
            deleted = self._images.delete(project.id, image_id)
            # allIterations also frees the bytes of an image deleted from the workspace before.
            if (deleted or all_iterations) and image_id not in kept_for_iterations:
                self._blobs.delete_prefix(image_prefix(project.id, image_id))
                self._drop_if_bytes_gone(project.id, image_id)

    def _drop_if_bytes_gone(self, project_id: str, image_id: str) -> None:
        """An upload of the same bytes may have stored the image again while it was deleted, and
        its bytes gone with the prefix: the record goes too (the delete came last), unless the
        upload has put its bytes back meanwhile (it checks after its own write)."""
        again = self._images.find(project_id, image_id)
        if again is not None and not self._blobs.exists(again.blob_key):
            self._images.delete(project_id, image_id)

    def drop_unpaired(self, project_id: str, older_than: float = 0.0) -> int:
        """Pair the project's image records and bytes again; how many images were put right.

        Bytes that no record points at and no iteration keeps (an upload stopped between its bytes
        and its record) go once written more than ``older_than`` seconds ago: younger ones may be
        an upload about to write its record (``older_than`` 0 only where none can be in flight:
        the local worker's start, on stores of its own). Each delete is conditional on the time
        listed, so bytes written again meanwhile (the same image uploaded anew) stay.

        A record whose bytes are gone (a delete of the image, racing an upload of the same bytes,
        stopped between removing the bytes and its re-check, :meth:`_drop_if_bytes_gone`) goes,
        as that re-check would have removed it: the delete came last."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
        folder = image_prefix(project_id, "-").removesuffix("-/")
        listed: dict[str, list[BlobEntry]] = {}
        for entry in self._blobs.entries(folder):  # before the records: bytes of a later record are young
            listed.setdefault(entry.key.removeprefix(folder).split("/", 1)[0], []).append(entry)
        records = {i.id: i for i in self._images.iterate(project_id)}
        kept = records.keys() | self._snapshots.referenced_images(project_id)
        put_right = 0
        for image_id, entries in listed.items():
            if image_id in kept or any(e.modified > cutoff for e in entries):
                continue
            went = [self._blobs.delete_unless_written_since(e.key, e.modified) for e in entries]
            put_right += any(went)
        keys = {e.key for entries in listed.values() for e in entries}
        for image in records.values():
            if image.blob_key not in keys and not self._blobs.exists(image.blob_key):
                try:  # only the version read: one written since is an upload's, with its bytes
                    put_right += self._images.delete(project_id, image.id, if_match=image.etag)
                except Conflict:
                    continue
        return put_right

    # -- bytes ------------------------------------------------------------------------------------

    def read_rendition(self, project_id: str, image_id: str, rendition: str) -> tuple[bytes, str]:
        """Served from the bytes alone, so images kept only by an iteration's snapshot work too."""
        return read_rendition(self._blobs, image_prefix(project_id, image_id.lower()), rendition)
