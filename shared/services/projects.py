"""Projects: create, read, list newest first, update, delete."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from shared.domain.catalogue import DEFAULT_DOMAIN_ID, EXPORT_PLATFORMS, Domain, find_domain
from shared.domain.entities import CLASSIFICATION_TYPES, MULTICLASS, PROJECT, Project, new_id, utc_now
from shared.domain.errors import BadRequest, Code, Conflict, NotFound
from shared.domain.validation import check_description, check_name, is_guid
from shared.services.artifact_keys import project_prefix
from shared.services.names import NameClaims
from shared.stores.ports import BlobStore, MetadataStore

__all__ = ["ProjectChanges", "ProjectService"]

_NAMES_SCOPE = "project-names"
_ETAG_RETRIES = 5


@dataclass(frozen=True)
class ProjectChanges:
    """The writable fields of ``update_project``; None leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    domain_id: str | None = None
    classification_type: str | None = None
    target_export_platforms: Sequence[str] | None = None
    augmentation_methods: dict[str, bool] | None = None


def _domain(domain_id: str | None) -> Domain:
    domain = find_domain(domain_id or DEFAULT_DOMAIN_ID)
    if domain is None:
        raise BadRequest(f"There is no domain with id '{domain_id}'.", Code.BAD_REQUEST_PROJECT_UNKNOWN_DOMAIN)
    return domain


def _classification(value: str | None) -> str:
    if value is None or value == "":
        return MULTICLASS
    for known in CLASSIFICATION_TYPES:
        if value.lower() == known.lower():
            return known
    raise BadRequest(
        f"classificationType must be Multiclass or Multilabel, not '{value}'.",
        Code.BAD_REQUEST_PROJECT_UNKNOWN_CLASSIFICATION,
    )


def _platforms(values: Sequence[str] | None, domain: Domain) -> tuple[str, ...]:
    out: list[str] = []
    for value in values or ():
        match = next((p for p in EXPORT_PLATFORMS if p.lower() == value.strip().lower()), None)
        if match is None:
            raise BadRequest(
                f"'{value}' is not an export platform; use one of {', '.join(EXPORT_PLATFORMS)}.",
                Code.BAD_REQUEST_PROJECT_UNSUPPORTED_EXPORT_PLATFORM,
            )
        if match not in out:
            out.append(match)
    if out and not domain.exportable:
        raise BadRequest(
            f"Domain '{domain.name}' cannot be exported; choose a compact domain to target export platforms.",
            Code.BAD_REQUEST_PROJECT_UNSUPPORTED_EXPORT_PLATFORM,
        )
    return tuple(out)


class ProjectService:
    def __init__(self, meta: MetadataStore, blobs: BlobStore) -> None:
        self._meta = meta
        self._blobs = blobs
        self._names = NameClaims(meta, "projectname", Code.BAD_REQUEST_PROJECT_NAME_NOT_UNIQUE, "project")

    def _exists(self, project_id: str) -> bool:
        try:
            self.get(project_id)
        except NotFound:
            return False
        return True

    def get(self, project_id: str) -> Project:
        key = project_id.lower()
        if not is_guid(key):
            raise NotFound(f"Project '{project_id}' was not found.", Code.NOT_FOUND_PROJECT)
        try:
            stored = self._meta.read(PROJECT, key, key)
        except NotFound:
            raise NotFound(f"Project '{project_id}' was not found.", Code.NOT_FOUND_PROJECT) from None
        return Project.from_doc(stored.doc, stored.etag)

    def list(self) -> Iterator[Project]:
        """Every project, newest first."""
        token = None
        while True:
            page = self._meta.query(PROJECT, None, order_by="created", descending=True, limit=200, continuation=token)
            yield from (Project.from_doc(s.doc, s.etag) for s in page.items)
            token = page.continuation
            if token is None:
                return

    def create(
        self,
        name: str | None,
        description: str | None = None,
        domain_id: str | None = None,
        classification_type: str | None = None,
        target_export_platforms: Sequence[str] | None = None,
        export_model_container_uri: str | None = None,
        notification_queue_uri: str | None = None,
    ) -> Project:
        clean_name = check_name(name, "project", Code.BAD_REQUEST_PROJECT_NAME)
        domain = _domain(domain_id)
        now = utc_now()
        project = Project(
            id=new_id(),
            name=clean_name,
            description=check_description(description, "project", Code.BAD_REQUEST_PROJECT_DESCRIPTION),
            domain_id=domain.id,
            classification_type=_classification(classification_type),
            created=now,
            last_modified=now,
            target_export_platforms=_platforms(target_export_platforms, domain),
            export_model_container_uri=export_model_container_uri,
            notification_queue_uri=notification_queue_uri,
        )
        self._names.claim(_NAMES_SCOPE, clean_name, project.id, self._exists)
        etag = self._meta.create(PROJECT, project.id, project.to_doc())
        return replace(project, etag=etag)

    def update(self, project_id: str, changes: ProjectChanges) -> Project:
        for _ in range(_ETAG_RETRIES):
            current = self.get(project_id)
            updated = self._apply(current, changes)
            renamed = updated.name.casefold() != current.name.casefold()
            if renamed:
                self._names.claim(_NAMES_SCOPE, updated.name, current.id, self._exists)
            try:
                etag = self._meta.replace(PROJECT, current.id, updated.to_doc(), if_match=current.etag)
            except Conflict:
                if renamed:
                    self._names.release(_NAMES_SCOPE, updated.name, current.id)
                continue
            if renamed:
                self._names.release(_NAMES_SCOPE, current.name, current.id)
            return replace(updated, etag=etag)
        raise Conflict("The project is being changed by other requests; try again.")

    def _apply(self, current: Project, changes: ProjectChanges) -> Project:
        old_domain = _domain(current.domain_id)
        domain = _domain(changes.domain_id) if changes.domain_id else old_domain
        if domain.type != old_domain.type:
            raise BadRequest(
                f"A project cannot change from a {old_domain.type} domain to a {domain.type} domain; "
                "create a new project instead.",
                Code.BAD_REQUEST_PROJECT_UNSUPPORTED_DOMAIN_TYPE_CHANGE,
            )
        platforms = (
            current.target_export_platforms
            if changes.target_export_platforms is None
            else changes.target_export_platforms
        )
        return replace(
            current,
            name=current.name
            if changes.name is None
            else check_name(changes.name, "project", Code.BAD_REQUEST_PROJECT_NAME),
            description=current.description
            if changes.description is None
            else check_description(changes.description, "project", Code.BAD_REQUEST_PROJECT_DESCRIPTION),
            domain_id=domain.id,
            classification_type=current.classification_type
            if changes.classification_type is None
            else _classification(changes.classification_type),
            target_export_platforms=_platforms(platforms, domain),
            augmentation_methods=current.augmentation_methods
            if changes.augmentation_methods is None
            else dict(changes.augmentation_methods),
            last_modified=utc_now(),
        )

    def delete(self, project_id: str) -> None:
        project = self.get(project_id)
        # Metadata first, so that nothing ever points at bytes already removed.
        self._meta.delete(PROJECT, project.id, project.id)
        self._meta.delete_partition(project.id)
        self._blobs.delete_prefix(project_prefix(project.id))
        self._names.release(_NAMES_SCOPE, project.name, project.id)
