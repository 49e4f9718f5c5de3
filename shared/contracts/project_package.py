"""A project's package (source instance -> importing instance), and the import's progress record.

``ProjectPackage`` is what ``export_project``'s token leads to: the source cvstudio serves it at a
signed, expiring link (``GET /artifacts/projects/{id}/package?expires=&sig=``) and the importing
cvstudio reads it with the same class. It holds the project's settings, its tags and, per image,
a signed link to the original bytes with their sha256, the image tags, the regions (normalised
0..1) and the metadata. Iterations are not in it: the importer retrains, as in Custom Vision.

    {"version": 1, "exported": "...", "project": {"name": ..., "description": ..., "domainId": ...,
     "classificationType": ..., "targetExportPlatforms": [...], "augmentationMethods": {...}},
     "tags": [{"id": ..., "name": ..., "description": ..., "type": "Regular"}],
     "images": [{"id": ..., "url": ..., "sha256": ..., "sizeBytes": ..., "tagIds": [...],
                 "regions": [{"tagId": ..., "left": ..., "top": ..., "width": ..., "height": ...}],
                 "metadata": {...}}]}

``ImportRecord`` is the importing instance's record of one import, in the new project's partition:
where the package is, how far the copy got, and how it ended. The API writes it, the background
import and the worker's start-up pass (after a crash) read and advance it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from shared.domain.errors import BadRequest, Code
from shared.domain.versioning import ContractError, parse_document, read_version

__all__ = [
    "ImportRecord",
    "ImportToken",
    "PackageImage",
    "PackageRegion",
    "PackageTag",
    "ProjectPackage",
    "ProjectSettings",
]

_NAME = "The project package"
_TOKEN_PREFIX = "cvs1."  # a token of this product, format 1
# The only links a token may name: a package of a project on some cvstudio, signed and expiring.
_PACKAGE_URL = re.compile(
    r"^https?://[^/?#\s]+(/[^?#\s]*)?/artifacts/projects/[0-9a-f-]{36}/package\?expires=(\d{1,12})&sig=[0-9a-f]{32}$"
)
_MAX_TOKEN_LENGTH = 4096


def _invalid(why: str) -> BadRequest:
    return BadRequest(f"The import token is not valid: {why}", Code.BAD_REQUEST_INVALID_IMPORT_TOKEN)


@dataclass(frozen=True)
class ImportToken:
    """What ``export_project`` hands out and ``import_project`` takes: opaque to the client, it names
    the signed, expiring link of the project's package on the source instance. The signature is the
    source's (its link signing, ``shared/api/uris.py``): only the source can tell a forged one, so a
    tampered token is refused when the source refuses its link."""

    package_url: str

    @property
    def expires(self) -> int:
        match = _PACKAGE_URL.match(self.package_url)
        return int(match.group(2)) if match else 0

    def encode(self) -> str:
        raw = json.dumps({"package": self.package_url}, separators=(",", ":")).encode()
        return _TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str | None, now: float | None = None) -> ImportToken:
        """The token's link, or ``BadRequestInvalidImportToken`` saying why not (malformed, expired)."""
        text = (token or "").strip()
        if not text:
            raise _invalid("give the token that export_project returned.")
        if len(text) > _MAX_TOKEN_LENGTH or not text.startswith(_TOKEN_PREFIX):
            raise _invalid("it is not a token that export_project returned.")
        body = text[len(_TOKEN_PREFIX) :]
        try:
            raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            url = raw["package"]
        except (ValueError, TypeError, KeyError, binascii.Error):
            raise _invalid("it is damaged (copy it whole, as export_project returned it).") from None
        if not isinstance(url, str) or not _PACKAGE_URL.match(url):
            raise _invalid("it is damaged (copy it whole, as export_project returned it).")
        found = cls(url)
        if found.expires < (now if now is not None else time.time()):
            raise _invalid("it has expired; export the project again for a fresh token.")
        return found


@dataclass(frozen=True)
class ProjectSettings:
    name: str
    description: str
    domain_id: str
    classification_type: str
    target_export_platforms: tuple[str, ...] = ()
    augmentation_methods: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class PackageTag:
    id: str  # the source's id: images and regions name their tags by it
    name: str
    description: str
    type: str


@dataclass(frozen=True)
class PackageRegion:
    tag_id: str
    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class PackageImage:
    id: str
    url: str  # a signed link to the original bytes on the source
    sha256: str
    size_bytes: int
    tag_ids: tuple[str, ...] = ()  # image tags (classification); detection labels are the regions
    regions: tuple[PackageRegion, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProjectPackage:
    VERSION: ClassVar[int] = 1

    exported: str
    project: ProjectSettings
    tags: tuple[PackageTag, ...]
    images: tuple[PackageImage, ...]

    @property
    def region_count(self) -> int:
        return sum(len(i.regions) for i in self.images)

    def to_json(self) -> bytes:
        p = self.project
        doc = {
            "version": self.VERSION,
            "exported": self.exported,
            "project": {
                "name": p.name,
                "description": p.description,
                "domainId": p.domain_id,
                "classificationType": p.classification_type,
                "targetExportPlatforms": list(p.target_export_platforms),
                "augmentationMethods": dict(p.augmentation_methods),
            },
            "tags": [{"id": t.id, "name": t.name, "description": t.description, "type": t.type} for t in self.tags],
            "images": [
                {
                    "id": i.id,
                    "url": i.url,
                    "sha256": i.sha256,
                    "sizeBytes": i.size_bytes,
                    "tagIds": list(i.tag_ids),
                    "regions": [
                        {"tagId": r.tag_id, "left": r.left, "top": r.top, "width": r.width, "height": r.height}
                        for r in i.regions
                    ],
                    "metadata": dict(i.metadata),
                }
                for i in self.images
            ],
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> ProjectPackage:
        raw = parse_document(_NAME, data)
        read_version(_NAME, raw, cls.VERSION)
        try:
            p = raw["project"]
            project = ProjectSettings(
                name=str(p["name"]),
                description=str(p.get("description") or ""),
                domain_id=str(p["domainId"]),
                classification_type=str(p["classificationType"]),
                target_export_platforms=tuple(str(x) for x in p.get("targetExportPlatforms") or ()),
                augmentation_methods={str(k): bool(v) for k, v in (p.get("augmentationMethods") or {}).items()},
            )
            tags = tuple(
                PackageTag(str(t["id"]), str(t["name"]), str(t.get("description") or ""), str(t["type"]))
                for t in raw["tags"]
            )
            images = tuple(
                PackageImage(
                    id=str(i["id"]),
                    url=str(i["url"]),
                    sha256=str(i["sha256"]),
                    size_bytes=int(i["sizeBytes"]),
                    tag_ids=tuple(str(t) for t in i.get("tagIds") or ()),
                    regions=tuple(
                        PackageRegion(
                            str(r["tagId"]), float(r["left"]), float(r["top"]), float(r["width"]), float(r["height"])
                        )
                        for r in i.get("regions") or ()
                    ),
                    metadata={str(k): str(v) for k, v in (i.get("metadata") or {}).items()},
                )
                for i in raw["images"]
            )
            return cls(str(raw.get("exported") or ""), project, tags, images)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ContractError(f"{_NAME} is malformed: {type(exc).__name__} {exc}") from None


@dataclass(frozen=True)
class ImportRecord:
    """One import into the project ``project_id`` (its id is the project's; one per project)."""

    KIND: ClassVar[str] = "projectimport"
    NOT_FOUND: ClassVar[Code] = Code.NOT_FOUND_PROJECT  # never shown: the record is internal
    MISSING: ClassVar[str] = "Import '{ref}' was not found."
    VERSION: ClassVar[int] = 1
    IMPORTING: ClassVar[str] = "importing"
    SUCCEEDED: ClassVar[str] = "succeeded"
    FAILED: ClassVar[str] = "failed"

    project_id: str
    package_url: str  # the signed link the token named (it expires with the token)
    state: str
    started: str
    progress_at: str  # the last time the copy moved (a resume on shared stores waits for it to stand)
    image_count: int = 0
    images_done: int = 0
    error: str | None = None
    etag: str | None = None

    @property
    def id(self) -> str:
        return self.project_id

    @property
    def partition(self) -> str:
        return self.project_id

    def with_changes(self, **changes: Any) -> ImportRecord:
        return replace(self, **changes)

    def to_doc(self) -> dict[str, Any]:
        return {
            "version": self.VERSION,
            "id": self.project_id,
            "projectId": self.project_id,
            "packageUrl": self.package_url,
            "state": self.state,
            "started": self.started,
            "created": self.started,
            "progressAt": self.progress_at,
            "imageCount": self.image_count,
            "imagesDone": self.images_done,
            "error": self.error,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], etag: str | None = None) -> ImportRecord:
        read_version("The project import record", doc, cls.VERSION)
        return cls(
            project_id=doc["projectId"],
            package_url=doc["packageUrl"],
            state=doc["state"],
            started=doc["started"],
            progress_at=doc.get("progressAt") or doc["started"],
            image_count=int(doc.get("imageCount") or 0),
            images_done=int(doc.get("imagesDone") or 0),
            error=doc.get("error"),
            etag=etag,
        )
