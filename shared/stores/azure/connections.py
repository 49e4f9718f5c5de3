"""Building the Azure Storage service clients from the product's settings.

Two ways to reach a storage account, the same two the Functions host knows for a connection:

* a connection string: a full one, or ``UseDevelopmentStorage=true`` for Azurite on its default ports;
* the service URIs (``https://<account>.blob.core.windows.net``, ``...queue...``) with a token credential, by
  default :class:`~azure.identity.DefaultAzureCredential` (the managed identity in Azure, the developer's
  ``az login`` on a laptop). Token credentials cache their tokens, so one is shared by every client of the
  process; it is made on first use, never at import, and ``azure.identity`` is imported only then.

A connection string wins when both are given, as in :class:`shared.settings.Settings`. Nothing here connects:
the SDK clients open connections on their first request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

__all__ = ["CreatedOnce", "blob_service", "default_credential", "queue_service"]

_credential: TokenCredential | None = None
_credential_lock = threading.Lock()


def default_credential() -> TokenCredential:
    """The process's one :class:`~azure.identity.DefaultAzureCredential` (made on first call).

    A user-assigned identity is chosen by the ``AZURE_CLIENT_ID`` environment variable, which the credential
    reads itself.
    """
    global _credential
    with _credential_lock:
        if _credential is None:
            from azure.identity import DefaultAzureCredential

            _credential = DefaultAzureCredential()
        return _credential


def _pick(connection_string: str | None, service_uri: str | None, what: str) -> tuple[str, bool]:
    """``(value, True)`` for the connection string, ``(value, False)`` for the service URI."""
    if connection_string and connection_string.strip():
        return connection_string.strip(), True
    if service_uri and service_uri.strip():
        return service_uri.strip(), False
    raise ValueError(f"Azure Storage needs a connection string or the {what} service URI.")


def blob_service(
    connection_string: str | None = None,
    blob_service_uri: str | None = None,
    credential: TokenCredential | None = None,
) -> BlobServiceClient:
    """A Blob service client from a connection string, or from the service URI and a token credential
    (``credential``, else :func:`default_credential`)."""
    value, is_connection_string = _pick(connection_string, blob_service_uri, "blob")
    if is_connection_string:
        return BlobServiceClient.from_connection_string(value)
    return BlobServiceClient(value, credential=credential or default_credential())


def queue_service(
    connection_string: str | None = None,
    queue_service_uri: str | None = None,
    credential: TokenCredential | None = None,
) -> QueueServiceClient:
    """A Queue service client from a connection string, or from the service URI and a token credential
    (``credential``, else :func:`default_credential`)."""
    value, is_connection_string = _pick(connection_string, queue_service_uri, "queue")
    if is_connection_string:
        return QueueServiceClient.from_connection_string(value)
    return QueueServiceClient(value, credential=credential or default_credential())


class CreatedOnce:
    """Containers and queues are created on first use, once per process (never at import or
    construction): ``ensure(name)`` calls ``create(name)`` the first time, under a lock, and a
    creation that finds the thing there already counts as done."""

    def __init__(self, create: Callable[[str], object]) -> None:
        self._create = create
        self._done: set[str] = set()
        self._lock = threading.Lock()

    def ensure(self, name: str) -> None:
        if name in self._done:
            return
        with self._lock:
            if name in self._done:
                return
            with suppress(ResourceExistsError):
                self._create(name)
            self._done.add(name)

    def forget(self, name: str) -> None:
        """``name`` was deleted behind this process's back: the next ``ensure`` creates it again."""
        self._done.discard(name)
