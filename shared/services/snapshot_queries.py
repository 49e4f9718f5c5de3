"""``iterationId`` on image and tag queries: the images and tags an iteration was trained on,
answered from its snapshot (so later edits to the workspace do not rewrite history)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.domain.entities import Image
from shared.domain.errors import Code, NotFound
from shared.domain.limits import MAX_IMAGE_IDS_QUERY
from shared.domain.validation import parse_guids
from shared.services.image_query import ImageQuery
from shared.services.iterations import IterationService
from shared.services.tags import TagWithCount

__all__ = ["SnapshotQueries"]


class SnapshotQueries:
    def __init__(self, iterations: IterationService) -> None:
        self._iterations = iterations

    def images(self, project_id: str, iteration_id: str, query: ImageQuery) -> list[Image]:
        _, snapshot = self._iterations.snapshot(project_id, iteration_id)
        return query.page(snapshot.images)

    def count(self, project_id: str, iteration_id: str, query: ImageQuery) -> int:
        _, snapshot = self._iterations.snapshot(project_id, iteration_id)
        return len(query.select(snapshot.images))

    def by_ids(self, project_id: str, iteration_id: str, image_ids: Sequence[str]) -> list[Image]:
        _, snapshot = self._iterations.snapshot(project_id, iteration_id)
        wanted = parse_guids(image_ids, "image", limit=MAX_IMAGE_IDS_QUERY)
        by_id = {i.id: i for i in snapshot.images}
        return [by_id[i] for i in wanted if i in by_id]

    def tags(self, project_id: str, iteration_id: str) -> list[TagWithCount]:
        _, snapshot = self._iterations.snapshot(project_id, iteration_id)
        return [TagWithCount(t, sum(1 for i in snapshot.images if t.id in i.tag_ids)) for t in snapshot.tags]

    def tag(self, project_id: str, iteration_id: str, tag_id: str) -> TagWithCount:
        for item in self.tags(project_id, iteration_id):
            if item.tag.id == tag_id.lower():
                return item
        raise NotFound(f"Tag '{tag_id}' was not part of this iteration.", Code.NOT_FOUND_TAG)
