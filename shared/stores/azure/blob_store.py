"""The Blob Storage adapter of :class:`~shared.stores.ports.BlobStore`.

The product's bytes live in blob containers by what they are, so that each can have its own access rules and
lifecycle policy in Azure (images are kept, models are replaced per iteration):

* ``<prefix>images``: the uploaded images and their renditions, and the images kept by predictions
  (``projects/<p>/images/...``, ``projects/<p>/predictions/...``);
* ``<prefix>models``: what an iteration's training reads and writes (``projects/<p>/iterations/...``: the
  snapshot, the model, its manifest and evaluation, and the exports);
* ``<prefix>files``: any other key (none today; it keeps the store total over every key).

:func:`container_role` is that mapping, in one place. The blob's name inside its container is the whole key,
so a blob reads the same in the portal as in the code, and ``delete_prefix("projects/<p>/")`` lists each
container by that prefix (a project's bytes are spread over all of them).

A put is one upload with overwrite: Blob Storage commits it whole, so a reader sees the old bytes or the new.
The sha256 is computed here, not asked of the service (which keeps MD5s, and not for large uploads). Containers
are created on the first put into them, once per process (under a lock), never at import or construction.
Every SDK exception is translated into :mod:`shared.domain.errors` before it leaves this module.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobServiceClient, ContainerClient, ContentSettings

from shared.domain.errors import Conflict, NotFound, ServerError
from shared.stores.azure.connections import CreatedOnce
from shared.stores.ports import BlobEntry, BlobInfo

__all__ = ["CONTAINER_ROLES", "AzureBlobStore", "container_role"]

CONTAINER_ROLES = ("files", "images", "models")
log = logging.getLogger(__name__)
# Blob Storage accepts at most 256 sub-requests in one batch.
_BATCH = 256
# Container names: 3-63 characters, lowercase letters, digits and single hyphens, starting and ending alphanumeric.
_CONTAINER_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def container_role(key: str) -> str:
    """Which container (by role: ``images``, ``models`` or ``files``) holds the blob ``key``."""
    parts = key.split("/")
    if len(parts) >= 4 and parts[0] == "projects":
        if parts[2] in ("images", "predictions"):
            return "images"
        if parts[2] == "iterations":
            return "models"
    return "files"


def _check_key(key: str) -> str:
    # "." and ".." segments would be folded away by the URL the SDK builds, naming another blob.
    parts = key.split("/")
    if not key or len(key) > 1024 or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a valid blob key: {key!r}")
    return key


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Blob Storage's exceptions as the product's errors (a missing blob or container is NotFound)."""
    try:
        yield
    # Messages reach clients: never a blob key or the SDK's text (account URLs, request ids); the log has them.
    except ResourceNotFoundError as exc:
        raise NotFound("A stored file is missing.") from exc
    except (ResourceExistsError, ResourceModifiedError) as exc:
        raise Conflict("A stored file was changed by another request; try again.") from exc
    except ClientAuthenticationError as exc:
        log.warning("Blob Storage refused the credentials (%s): %s", what, exc.message)
        raise ServerError("Blob Storage refused this service's credentials; the server's log has the details.") from exc
    except AzureError as exc:
        log.warning("Blob Storage failed (%s): %s", what, exc.message)
        reason = getattr(exc, "error_code", None) or type(exc).__name__
        raise ServerError(f"Blob Storage failed ({reason}); the server's log has the details.") from exc


class AzureBlobStore:
    """Blobs by key in the ``images``/``models``/``files`` containers of one storage account.

    ``container_prefix`` goes before each container's role (``"cvstudio-"`` gives ``cvstudio-images``); tests
    use a fresh one each. The service client is the caller's (see :mod:`shared.stores.azure.connections`).
    """

    def __init__(self, service: BlobServiceClient, *, container_prefix: str = "") -> None:
        names = {role: f"{container_prefix}{role}" for role in CONTAINER_ROLES}
        bad = [name for name in names.values() if not _CONTAINER_NAME.match(name)]
        if bad:
            raise ValueError(f"not valid blob container names: {', '.join(bad)}")
        self._service = service
        self._names = names
        self._containers = CreatedOnce(service.create_container)

    def container_name(self, key: str) -> str:
        """The name of the container that holds ``key``."""
        return self._names[container_role(_check_key(key))]

    def _container(self, key: str) -> ContainerClient:
        return self._service.get_container_client(self.container_name(key))

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> BlobInfo:
        container = self._container(key)
        settings = ContentSettings(content_type=content_type)
        with _translated(key):
            self._containers.ensure(container.container_name)
            try:
                container.upload_blob(key, data, overwrite=True, content_settings=settings)
            except ResourceNotFoundError:
                # The container was deleted since this process created it: create it again, once.
                self._containers.forget(container.container_name)
                self._containers.ensure(container.container_name)
                container.upload_blob(key, data, overwrite=True, content_settings=settings)
        return BlobInfo(key, len(data), hashlib.sha256(data).hexdigest())

    def get(self, key: str) -> bytes:
        container = self._container(key)
        with _translated(key):
            return container.download_blob(key).readall()

    def exists(self, key: str) -> bool:
        container = self._container(key)
        with _translated(key):
            return container.get_blob_client(key).exists()

    def delete(self, key: str) -> None:
        container = self._container(key)
        with _translated(key), suppress(ResourceNotFoundError):
            container.delete_blob(key, delete_snapshots="include")

    def delete_prefix(self, prefix: str) -> None:
        """Delete every blob under a folder-like prefix (``projects/<id>/``), in every container."""
        folder = _check_key(prefix.rstrip("/"))
        for name in sorted(set(self._names.values())):
            with _translated(f"{prefix} in {name}"):
                self._delete_folder(self._service.get_container_client(name), folder)

    def keys(self, prefix: str) -> list[str]:
        return [e.key for e in self.entries(prefix)]

    def entries(self, prefix: str) -> list[BlobEntry]:
        folder = _check_key(prefix.rstrip("/")) + "/"
        found: list[BlobEntry] = []
        for name in sorted(set(self._names.values())):
            container = self._service.get_container_client(name)
            with _translated(f"{prefix} in {name}"):
                try:
                    found += [
                        BlobEntry(b.name, b.last_modified.astimezone(UTC))
                        for b in container.list_blobs(name_starts_with=folder)
                    ]
                except ResourceNotFoundError:
                    continue  # no container yet, so nothing in it
        return sorted(found, key=lambda e: e.key)

    def delete_unless_written_since(self, key: str, since: datetime) -> bool:
        container = self._container(key)
        with _translated(key):
            try:
                # Blob Storage checks the condition and deletes in one step (412 if written since).
                container.delete_blob(key, delete_snapshots="include", if_unmodified_since=since)
            except (ResourceNotFoundError, ResourceModifiedError):
                return False
        return True

    def _delete_folder(self, container: ContainerClient, folder: str) -> None:
        # Listed by the bare folder name, so that a blob named like the folder goes too (as in the other
        # stores); a sibling folder sharing the name's start ("p1" and "p10") is filtered out.
        try:
            names = [
                blob.name
                for blob in container.list_blobs(name_starts_with=folder)
                if blob.name == folder or blob.name.startswith(folder + "/")
            ]
        except ResourceNotFoundError:
            return  # no container yet, so nothing in it
        for start in range(0, len(names), _BATCH):
            responses = container.delete_blobs(
                *names[start : start + _BATCH], delete_snapshots="include", raise_on_any_failure=False
            )
            failed = [r for r in responses if r.status_code not in (200, 202, 404)]
            if failed:
                raise ServerError(
                    f"Blob Storage failed to delete {len(failed)} blob(s) under {folder}/ in "
                    f"{container.container_name} (status {failed[0].status_code})."
                )
