"""Writing a Custom Vision project through the public Training API: what `cvstudio migrate` creates.

Images go up as ``images/files`` batches (base64 contents, each entry's tags and regions, one metadata for the
batch); a target that already holds the same bytes answers ``OKDuplicate`` with its image, whose missing labels
and metadata are then added through ``images/tags``, ``images/regions`` and ``images/metadata`` (a cvstudio
merges them on upload already; these calls make the result the same on any target).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.client.http import ApiClient
from shared.domain.enums import ImageCreateStatus
from shared.domain.limits import MAX_BATCH_IMAGES, MAX_IMAGE_IDS_QUERY, MAX_REGION_BATCH
from shared.migration.source import ImageInfo, ProjectInfo, RegionInfo, TagInfo, image_info, project_info, tag_info

__all__ = ["ProjectWriter", "UploadEntry", "UploadOutcome"]

_STORED = frozenset({ImageCreateStatus.OK.value, ImageCreateStatus.OK_DUPLICATE.value})


@dataclass(frozen=True)
class UploadEntry:
    name: str  # the source image's id: how the answer's entries are matched back
    data: bytes
    tag_ids: tuple[str, ...]
    regions: tuple[RegionInfo, ...]


@dataclass(frozen=True)
class UploadOutcome:
    name: str
    status: str
    image: ImageInfo | None  # the target's image when it was stored (OK or OKDuplicate)

    @property
    def stored(self) -> bool:
        return self.status in _STORED and self.image is not None


def _region(region: RegionInfo) -> dict[str, Any]:
    return {
        "tagId": region.tag_id,
        "left": region.left,
        "top": region.top,
        "width": region.width,
        "height": region.height,
    }


class ProjectWriter:
    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def create_project(self, source: ProjectInfo, domain_id: str, classification_type: str | None) -> ProjectInfo:
        params = {"name": source.name, "domainId": domain_id}
        if source.description:
            params["description"] = source.description
        if classification_type:
            params["classificationType"] = classification_type
        return project_info(self.client.json("POST", "projects", params=params))

    def create_tag(self, project_id: str, source: TagInfo) -> TagInfo:
        params = {"name": source.name, "type": source.type}
        if source.description:
            params["description"] = source.description
        return tag_info(self.client.json("POST", f"projects/{project_id}/tags", params=params))

    def upload(
        self, project_id: str, entries: Sequence[UploadEntry], metadata: Mapping[str, str]
    ) -> list[UploadOutcome]:
        body: dict[str, Any] = {
            "images": [
                {
                    "name": e.name,
                    "contents": base64.b64encode(e.data).decode("ascii"),
                    **({"tagIds": list(e.tag_ids)} if e.tag_ids else {}),
                    **({"regions": [_region(r) for r in e.regions]} if e.regions else {}),
                }
                for e in entries
            ]
        }
        if metadata:
            body["metadata"] = dict(metadata)
        summary = self.client.json("POST", f"projects/{project_id}/images/files", json=body) or {}
        results = summary.get("images") or []
        outcomes = []
        for position, result in enumerate(results):
            # Azure names a file entry by its quoted name ("\"a.jpg\""); fall back to the order sent.
            name = str(result.get("sourceUrl") or "").strip('"')
            if name not in {e.name for e in entries} and position < len(entries):
                name = entries[position].name
            image = result.get("image")
            outcomes.append(UploadOutcome(name, str(result.get("status") or ""), image_info(image) if image else None))
        return outcomes

    def add_tags(self, project_id: str, pairs: Sequence[tuple[str, str]]) -> None:
        """(image id, tag id) pairs; ones the target already has come back as ``duplicated``, not an error."""
        for start in range(0, len(pairs), MAX_BATCH_IMAGES):
            chunk = pairs[start : start + MAX_BATCH_IMAGES]
            tags = [{"imageId": i, "tagId": t} for i, t in chunk]
            self.client.json("POST", f"projects/{project_id}/images/tags", json={"tags": tags})

    def add_regions(self, project_id: str, regions: Sequence[tuple[str, RegionInfo]]) -> None:
        for start in range(0, len(regions), MAX_REGION_BATCH):
            chunk = regions[start : start + MAX_REGION_BATCH]
            body = {"regions": [{"imageId": i, **_region(r)} for i, r in chunk]}
            self.client.json("POST", f"projects/{project_id}/images/regions", json=body)

    def set_metadata(self, project_id: str, image_ids: Sequence[str], metadata: Mapping[str, str]) -> None:
        for start in range(0, len(image_ids), MAX_IMAGE_IDS_QUERY):
            ids = ",".join(image_ids[start : start + MAX_IMAGE_IDS_QUERY])
            path = f"projects/{project_id}/images/metadata"
            self.client.json("POST", path, params={"imageIds": ids}, json=dict(metadata))

    def train(self, project_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.client.json("POST", f"projects/{project_id}/train")
        return result

    def iteration(self, project_id: str, iteration_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.client.json("GET", f"projects/{project_id}/iterations/{iteration_id}")
        return result
