"""The drop folder on Azure: one blob container (``CVSTUDIO_DROP_CONTAINER``, default ``cvstudio-drop``).

The blob trigger (:mod:`functions.drop_folder`) fires for every blob written into it; this adapter
lists, reads and writes the container's blobs for the ingestion. The container is created on first
use, once per process, like the other containers. A move is a copy of the bytes then a delete (drop
files are images and annotation files: megabytes at most). Every SDK exception is translated into
:mod:`shared.domain.errors` before it leaves this module.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from azure.core.exceptions import AzureError, ClientAuthenticationError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from shared.domain.errors import NotFound, ServerError
from shared.stores.azure.connections import CreatedOnce
from shared.stores.drop_folder import DropEntry, check_name

__all__ = ["DropContainer"]

log = logging.getLogger(__name__)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except ResourceNotFoundError as exc:
        raise NotFound(f"No file {what} in the drop container.") from exc
    except ClientAuthenticationError as exc:
        log.warning("Blob Storage refused the credentials (drop container, %s): %s", what, exc.message)
        raise ServerError("Blob Storage refused this service's credentials; the server's log has the details.") from exc
    except AzureError as exc:
        log.warning("Blob Storage failed on the drop container (%s): %s", what, exc.message)
        reason = getattr(exc, "error_code", None) or type(exc).__name__
        raise ServerError(f"Blob Storage failed on the drop container ({reason}); see the server's log.") from exc


class DropContainer:
    def __init__(self, service: BlobServiceClient, container: str) -> None:
        self._service = service
        self._client: ContainerClient = service.get_container_client(container)
        self._created = CreatedOnce(lambda _: self._client.create_container())

    @property
    def container_name(self) -> str:
        return str(self._client.container_name)

    def _ensure(self) -> None:
        self._created.ensure(self.container_name)

    def list(self, prefix: str = "") -> list[DropEntry]:
        with _translated(prefix or "(all)"):
            self._ensure()
            return [
                DropEntry(blob.name, int(blob.size or 0), blob.last_modified.timestamp() if blob.last_modified else 0.0)
                for blob in self._client.list_blobs(name_starts_with=prefix or None)
            ]

    def read(self, name: str) -> bytes:
        with _translated(name):
            return self._client.download_blob(check_name(name)).readall()

    def write(self, name: str, data: bytes) -> None:
        with _translated(name):
            self._ensure()
            self._client.upload_blob(check_name(name), data, overwrite=True)

    def move(self, name: str, to: str) -> None:
        data = self.read(name)
        self.write(to, data)
        with _translated(name), suppress(ResourceNotFoundError):
            self._client.delete_blob(check_name(name), delete_snapshots="include")
