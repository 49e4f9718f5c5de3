"""Projects: create, read, list newest first, update, delete."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from shared.domain.catalogue import DEFAULT_DOMAIN_ID, EXPORT_PLATFORMS, Domain, find_domain
from shared.domain.clock import utc_now
from shared.domain.entities import Project, Tombstone, new_id
from shared.domain.enums import ClassificationType, parse_member
from shared.domain.errors import BadRequest, Code
from shared.domain.validation import check_description, check_name
from shared.services.artifact_keys import project_prefix
from shared.services.tombstones import Tombstones
from shared.stores.claims import NameClaims, RenameGuard
from shared.stores.documents import Documents
from shared.stores.ports import BlobStore, MetadataStore

__all__ = ["ProjectChanges", "ProjectService"]

_NAMES_SCOPE = "project-names"  # project names are unique across the whole service


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


def _classification(value: str | None) -> ClassificationType:
    found = parse_member(ClassificationType, value, ClassificationType.MULTICLASS)
    if found is None:
        raise BadRequest(
            f"classificationType must be Multiclass or Multilabel, not '{value}'.",
            Code.BAD_REQUEST_PROJECT_UNKNOWN_CLASSIFICATION,
        )
    return found


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
        self._docs = Documents(meta, Project)
        self._tombstones = Tombstones(meta)
        self._names = NameClaims(meta, "projectname", Code.BAD_REQUEST_PROJECT_NAME_NOT_UNIQUE, "project")
        self._rename = RenameGuard[Project](self._names, _NAMES_SCOPE, lambda p: p.name, lambda p: p.id, self._exists)

    def _exists(self, project_id: str) -> bool:
        return self._docs.exists(project_id, project_id)

    def get(self, project_id: str) -> Project:
        return self._docs.get(project_id.lower(), project_id)

    def find(self, project_id: str) -> Project | None:
        return self._docs.find(project_id.lower(), project_id)

    def still_there(self, project_id: str) -> None:
        """For a writer that read the project before writing under it (a stored prediction, Smart
        Labeler suggestions, the trainer): if the project has been deleted meanwhile, its purge may
        have passed before the write, so its partition and bytes are removed again, and the
        project's NotFound is raised."""
        if self.find(project_id) is None:
            self._meta.delete_partition(project_id.lower())
            self._blobs.delete_prefix(project_prefix(project_id.lower()))
            self.get(project_id)  # raises the project's NotFound

    def list(self) -> Iterator[Project]:
        """Every project, newest first."""
        return self._docs.iterate(None, order_by=Project.CREATED, descending=True, page_size=200)

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
        return self._docs.create(project)

    def update(self, project_id: str, changes: ProjectChanges) -> Project:
        project = self.get(project_id)
        return self._docs.update(
            project.id, project.id, lambda current: self._apply(current, changes), guard=self._rename
        )

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
        """The project disappears at once (and its name is free); a crash is finished by whoever
        finds the tombstone (``shared.services.deletions``)."""
        project = self.get(project_id)
        tombstone = Tombstone(Tombstone.PROJECT, project.id, project.id, project.name, utc_now())
        self.purge(self._tombstones.record(tombstone))

    def purge(self, tombstone: Tombstone) -> None:
        """One pass over a deleted project's remains; idempotent, so any pass may be interrupted."""
        project_id = tombstone.project_id
        self._docs.delete(project_id, project_id)  # every read answers NotFound from here on
        self._names.release(_NAMES_SCOPE, tombstone.name, project_id)  # only if still its own
        # Metadata before bytes, so that nothing ever points at bytes already removed.
        self._meta.delete_partition(project_id)
        self._blobs.delete_prefix(project_prefix(project_id))
        self._tombstones.passed(tombstone)
