"""The BlobStore contract, written once and run against every adapter."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from azure.storage.blob import BlobServiceClient

from shared.domain.errors import NotFound, ServerError
from shared.stores.azure import blob_store as azure_blob_store
from shared.stores.azure.blob_store import AzureBlobStore, container_role
from shared.stores.azure.connections import blob_service
from shared.stores.embedded.file_blobs import FileBlobStore
from shared.stores.memory import MemoryBlobStore
from shared.stores.ports import BlobStore
from tests.azure_stack import AzureStack


class BlobStoreContract:
    def test_put_then_get_returns_the_same_bytes_and_their_hash(self, blobs: BlobStore) -> None:
        data = bytes(range(256)) * 10
        info = blobs.put("projects/p1/images/i1", data, "image/jpeg")
        assert info.size == len(data)
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        assert blobs.get("projects/p1/images/i1") == data
        assert blobs.exists("projects/p1/images/i1")

    def test_put_overwrites(self, blobs: BlobStore) -> None:
        blobs.put("a/b", b"one")
        blobs.put("a/b", b"two")
        assert blobs.get("a/b") == b"two"

    def test_missing_blob_raises_not_found_and_delete_is_idempotent(self, blobs: BlobStore) -> None:
        with pytest.raises(NotFound):
            blobs.get("a/missing")
        assert not blobs.exists("a/missing")
        blobs.delete("a/missing")

    def test_delete_prefix_removes_a_folder_and_nothing_beside_it(self, blobs: BlobStore) -> None:
        blobs.put("projects/p1/x", b"1")
        blobs.put("projects/p1/y/z", b"2")
        blobs.put("projects/p10/x", b"3")
        blobs.delete_prefix("projects/p1/")
        assert not blobs.exists("projects/p1/x")
        assert not blobs.exists("projects/p1/y/z")
        assert blobs.get("projects/p10/x") == b"3"

    def test_keys_lists_a_folder_in_every_container_and_nothing_beside_it(self, blobs: BlobStore) -> None:
        assert blobs.keys("projects/p1/") == []
        blobs.put("projects/p1/images/i1/original", b"1")
        blobs.put("projects/p1/iterations/it/model.onnx", b"2")
        blobs.put("projects/p1/other/x", b"3")
        blobs.put("projects/p10/images/i2/original", b"4")
        assert blobs.keys("projects/p1/") == [
            "projects/p1/images/i1/original",
            "projects/p1/iterations/it/model.onnx",
            "projects/p1/other/x",
        ]
        assert blobs.keys("projects/p1/images") == ["projects/p1/images/i1/original"]

    def test_entries_tell_when_each_blob_was_written(self, blobs: BlobStore) -> None:
        before = datetime.now(UTC) - timedelta(seconds=2)  # Blob Storage keeps whole seconds
        blobs.put("projects/p1/images/i1/original", b"1")
        blobs.put("projects/p1/images/i2/original", b"2")
        blobs.put("projects/p10/images/i3/original", b"3")
        entries = blobs.entries("projects/p1/images/")
        assert [e.key for e in entries] == ["projects/p1/images/i1/original", "projects/p1/images/i2/original"]
        assert all(before <= e.modified <= datetime.now(UTC) + timedelta(seconds=2) for e in entries)

    def test_a_conditional_delete_spares_bytes_written_since_they_were_listed(self, blobs: BlobStore) -> None:
        blobs.put("projects/p/images/old/original", b"old")
        blobs.put("projects/p/images/new/original", b"new")
        listed = {e.key: e.modified for e in blobs.entries("projects/p/images/")}
        time.sleep(1.1)  # Blob Storage's times have whole seconds
        blobs.put("projects/p/images/new/original", b"new")  # written again, as by a second upload
        assert blobs.delete_unless_written_since(
            "projects/p/images/old/original", listed["projects/p/images/old/original"]
        )
        assert not blobs.exists("projects/p/images/old/original")
        assert not blobs.delete_unless_written_since(
            "projects/p/images/new/original", listed["projects/p/images/new/original"]
        )
        assert blobs.get("projects/p/images/new/original") == b"new"
        assert not blobs.delete_unless_written_since("projects/p/images/gone/original", datetime.now(UTC))
        assert blobs.keys("projects/p/") == ["projects/p/images/new/original"]


class TestMemoryBlobStore(BlobStoreContract):
    @pytest.fixture
    def blobs(self) -> MemoryBlobStore:
        return MemoryBlobStore()


class TestFileBlobStore(BlobStoreContract):
    @pytest.fixture
    def blobs(self, tmp_path: Path) -> FileBlobStore:
        return FileBlobStore(tmp_path / "blobs")

    def test_keys_cannot_escape_the_root(self, tmp_path: Path) -> None:
        blobs = FileBlobStore(tmp_path / "blobs")
        for key in ("../outside", "a/../../b", "/etc/passwd/..", ""):
            with pytest.raises(ValueError):
                blobs.put(key, b"x")

    def test_no_temporary_files_are_left_behind(self, tmp_path: Path) -> None:
        blobs = FileBlobStore(tmp_path / "blobs")
        blobs.put("a/b", b"x" * 1000)
        assert [p.name for p in (tmp_path / "blobs" / "a").iterdir()] == ["b"]


@pytest.fixture
def blob_service_client(azure_stack: AzureStack) -> Iterator[BlobServiceClient]:
    with blob_service(azure_stack.storage_connection_string) as service:
        yield service


@pytest.fixture
def container_prefix(blob_service_client: BlobServiceClient) -> Iterator[str]:
    """A fresh container-name prefix; its containers are deleted after the test."""
    prefix = f"t{uuid.uuid4().hex[:12]}-"
    yield prefix
    for container in blob_service_client.list_containers(name_starts_with=prefix):
        blob_service_client.delete_container(container.name)


class TestAzureBlobStore(BlobStoreContract):
    @pytest.fixture
    def blobs(self, blob_service_client: BlobServiceClient, container_prefix: str) -> AzureBlobStore:
        return AzureBlobStore(blob_service_client, container_prefix=container_prefix)

    def test_keys_go_to_the_container_of_what_they_hold(
        self, blobs: AzureBlobStore, blob_service_client: BlobServiceClient, container_prefix: str
    ) -> None:
        expected = {
            "projects/p/images/i/original": "images",
            "projects/p/images/i/thumbnail": "images",
            "projects/p/predictions/r/original": "images",
            "projects/p/iterations/it/snapshot.json": "models",
            "projects/p/iterations/it/model.onnx": "models",
            "projects/p/iterations/it/exports/model.zip": "models",
            "projects/p/other/x": "files",
            "a/b": "files",
        }
        for key, role in expected.items():
            assert container_role(key) == role
            blobs.put(key, key.encode())
        for key, role in expected.items():
            container = blob_service_client.get_container_client(container_prefix + role)
            # The blob's name inside its container is the whole key.
            assert container.download_blob(key).readall() == key.encode()

    def test_delete_prefix_removes_a_project_from_every_container(self, blobs: AzureBlobStore) -> None:
        keys = ["projects/p/images/i/original", "projects/p/iterations/it/model.onnx", "projects/p/misc"]
        for key in keys + ["projects/q/images/i/original"]:
            blobs.put(key, b"x")
        blobs.delete_prefix("projects/p/")
        assert not any(blobs.exists(key) for key in keys)
        assert blobs.exists("projects/q/images/i/original")

    def test_delete_prefix_deletes_in_batches(self, blobs: AzureBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(azure_blob_store, "_BATCH", 2)
        for n in range(5):
            blobs.put(f"projects/p/images/i{n}/original", b"x")
        blobs.delete_prefix("projects/p/images/")
        assert not any(blobs.exists(f"projects/p/images/i{n}/original") for n in range(5))

    def test_the_content_type_is_stored(self, blobs: AzureBlobStore, blob_service_client: BlobServiceClient) -> None:
        blobs.put("projects/p/images/i/original", b"\xff\xd8", "image/jpeg")
        container = blob_service_client.get_container_client(blobs.container_name("projects/p/images/i/original"))
        properties = container.get_blob_client("projects/p/images/i/original").get_blob_properties()
        assert properties.content_settings.content_type == "image/jpeg"

    def test_containers_are_created_on_first_put_not_before(
        self, blob_service_client: BlobServiceClient, container_prefix: str
    ) -> None:
        blobs = AzureBlobStore(blob_service_client, container_prefix=container_prefix)
        blobs.delete_prefix("projects/p/")
        assert not blobs.exists("projects/p/images/i/original")
        assert list(blob_service_client.list_containers(name_starts_with=container_prefix)) == []
        blobs.put("projects/p/images/i/original", b"x")
        names = [c.name for c in blob_service_client.list_containers(name_starts_with=container_prefix)]
        assert names == [container_prefix + "images"]

    def test_a_deleted_container_is_created_again(
        self, blobs: AzureBlobStore, blob_service_client: BlobServiceClient
    ) -> None:
        blobs.put("a/b", b"1")
        blob_service_client.delete_container(blobs.container_name("a/b"))
        # Azurite deletes at once; Azure would answer 409 ContainerBeingDeleted for a while.
        blobs.put("a/b", b"2")
        assert blobs.get("a/b") == b"2"

    def test_driver_errors_become_the_products_errors(self, azure_stack: AzureStack) -> None:
        unreachable = azure_stack.storage_connection_string.replace(str(azure_stack.blob_port), "1")
        with BlobServiceClient.from_connection_string(unreachable, retry_total=0) as service:
            blobs = AzureBlobStore(service, container_prefix="unreachable-")
            with pytest.raises(ServerError):
                blobs.get("a/b")
            with pytest.raises(ServerError):
                blobs.put("a/b", b"x")

    def test_bad_keys_and_container_prefixes_are_refused(self, blob_service_client: BlobServiceClient) -> None:
        blobs = AzureBlobStore(blob_service_client, container_prefix="unused-")
        for key in ("", "a/../b", "a//b", "./a", "/a"):
            with pytest.raises(ValueError):
                blobs.put(key, b"x")
        for prefix in ("Upper-", "a--", "under_score-", "x" * 60):
            with pytest.raises(ValueError):
                AzureBlobStore(blob_service_client, container_prefix=prefix)


class TestBlobServiceConnections:
    def test_a_connection_string_or_a_service_uri_with_a_credential(self) -> None:
        with blob_service("UseDevelopmentStorage=true") as local:
            assert local.url.startswith("http://127.0.0.1:10000/devstoreaccount1")
        credential = _NoToken()
        with blob_service(None, "https://acct.blob.core.windows.net", credential) as by_identity:
            assert by_identity.url.startswith("https://acct.blob.core.windows.net")
            assert by_identity.credential is credential
        with pytest.raises(ValueError):
            blob_service(" ", None)


class _NoToken:
    """A token credential that is never asked (nothing above connects)."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        raise AssertionError("no request was expected")
