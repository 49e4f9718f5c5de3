"""Reading a Custom Vision project through the public Training API (Azure's or a cvstudio's, alike).

Only operations every Custom Vision endpoint serves: ``domains``, ``projects``, ``projects/{id}/tags``, the
``images/tagged`` and ``images/untagged`` listings (and their counts) paged with ``skip``/``take`` oldest first,
and each image's ``originalImageUri`` (an absolute URL; behind a VNET Azure gives a path for ``artifacts``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.client.http import ApiClient
from shared.domain.enums import DomainType
from shared.domain.limits import MAX_TAKE

__all__ = ["DomainInfo", "ImageInfo", "ProjectInfo", "ProjectReader", "RegionInfo", "TagInfo"]


@dataclass(frozen=True)
class DomainInfo:
    id: str
    name: str
    type: str


@dataclass(frozen=True)
class ProjectInfo:
    id: str
    name: str
    description: str
    domain_id: str
    classification_type: str | None


@dataclass(frozen=True)
class TagInfo:
    id: str
    name: str
    description: str
    type: str


@dataclass(frozen=True)
class RegionInfo:
    tag_id: str
    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class ImageInfo:
    id: str
    original_uri: str
    tag_ids: tuple[str, ...]
    regions: tuple[RegionInfo, ...]
    metadata: Mapping[str, str] = field(default_factory=dict)

    def metadata_key(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.metadata.items()))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def project_info(body: Mapping[str, Any]) -> ProjectInfo:
    settings = body.get("settings") or {}
    return ProjectInfo(
        id=str(body["id"]),
        name=_text(body.get("name")),
        description=_text(body.get("description")),
        domain_id=_text(settings.get("domainId")).lower(),
        classification_type=settings.get("classificationType") or None,
    )


def tag_info(body: Mapping[str, Any]) -> TagInfo:
    return TagInfo(
        id=str(body["id"]).lower(),
        name=_text(body.get("name")),
        description=_text(body.get("description")),
        type=_text(body.get("type")) or "Regular",
    )


def image_info(body: Mapping[str, Any]) -> ImageInfo:
    regions = tuple(
        RegionInfo(str(r["tagId"]).lower(), float(r["left"]), float(r["top"]), float(r["width"]), float(r["height"]))
        for r in body.get("regions") or ()
    )
    tag_ids = tuple(dict.fromkeys(str(t["tagId"]).lower() for t in body.get("tags") or ()))
    metadata = {str(k): str(v) for k, v in (body.get("metadata") or {}).items()}
    return ImageInfo(str(body["id"]), _text(body.get("originalImageUri")), tag_ids, regions, metadata)


class ProjectReader:
    """The read side of one endpoint; also used on the target to find what is already there."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def domains(self) -> dict[str, DomainInfo]:
        return {
            str(d["id"]).lower(): DomainInfo(str(d["id"]).lower(), _text(d.get("name")), _text(d.get("type")))
            for d in self.client.json("GET", "domains")
        }

    def projects(self) -> list[ProjectInfo]:
        return [project_info(p) for p in self.client.json("GET", "projects")]

    def tags(self, project_id: str) -> list[TagInfo]:
        return [tag_info(t) for t in self.client.json("GET", f"projects/{project_id}/tags")]

    def image_count(self, project_id: str) -> int:
        tagged = self.client.json("GET", f"projects/{project_id}/images/tagged/count")
        untagged = self.client.json("GET", f"projects/{project_id}/images/untagged/count")
        return int(tagged) + int(untagged)

    def image_pages(self, project_id: str, page_size: int = MAX_TAKE) -> Iterator[list[ImageInfo]]:
        """Every image, a page at a time: tagged, then untagged, oldest first (an image added meanwhile comes
        last, so paging by ``skip`` neither repeats nor misses the ones that were there)."""
        for listing in ("tagged", "untagged"):
            skip = 0
            while True:
                params = {"orderBy": "Oldest", "take": page_size, "skip": skip}
                page = self.client.json("GET", f"projects/{project_id}/images/{listing}", params=params)
                if not page:
                    break
                yield [image_info(i) for i in page]
                if len(page) < page_size:
                    break
                skip += len(page)

    def image_bytes(self, project_id: str, image: ImageInfo) -> bytes:
        """The original upload's bytes; a relative URI (Azure behind a VNET) is read through ``artifacts``."""
        uri = image.original_uri
        if uri.startswith(("http://", "https://")):
            return self.client.download(uri)
        return self.client.request("GET", f"projects/{project_id}/artifacts", params={"path": uri}).content


def is_detection(project: ProjectInfo, domains: Mapping[str, DomainInfo]) -> bool:
    domain = domains.get(project.domain_id)
    return domain is not None and domain.type == DomainType.OBJECT_DETECTION
