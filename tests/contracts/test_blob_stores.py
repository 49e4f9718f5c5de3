"""The BlobStore contract, written once and run against every adapter."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shared.domain.errors import NotFound
from shared.stores.embedded.file_blobs import FileBlobStore
from shared.stores.memory import MemoryBlobStore
from shared.stores.ports import BlobStore


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
