"""The DropFolder contract, written once and run against every adapter (memory, a directory, a blob container)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from shared.domain.errors import NotFound
from shared.stores.azure.connections import blob_service
from shared.stores.azure.drop_container import DropContainer
from shared.stores.drop_folder import DropFolder, MemoryDropFolder
from shared.stores.embedded.drop_directory import DropDirectory
from tests.azure_stack import AzureStack


class DropFolderContract:
    def test_an_empty_folder_lists_nothing(self, folder: DropFolder) -> None:
        assert folder.list() == []
        with pytest.raises(NotFound):
            folder.read("p/a.jpg")

    def test_write_read_and_list_by_prefix(self, folder: DropFolder) -> None:
        before = time.time() - 5
        folder.write("p/t/a.jpg", b"aaa")
        folder.write("p/b.json", b"{}")
        folder.write("p2/c.jpg", b"c")
        assert folder.read("p/t/a.jpg") == b"aaa"
        entries = {e.name: e for e in folder.list("p/")}
        assert sorted(entries) == ["p/b.json", "p/t/a.jpg"]
        assert entries["p/t/a.jpg"].size == 3
        assert entries["p/t/a.jpg"].modified >= before
        assert sorted(e.name for e in folder.list()) == ["p/b.json", "p/t/a.jpg", "p2/c.jpg"]

    def test_write_replaces(self, folder: DropFolder) -> None:
        folder.write("p/a.jpg.result.json", b"one")
        folder.write("p/a.jpg.result.json", b"two")
        assert folder.read("p/a.jpg.result.json") == b"two"
        assert [e.name for e in folder.list("p/")] == ["p/a.jpg.result.json"]

    def test_move(self, folder: DropFolder) -> None:
        folder.write("p/a.jpg", b"a")
        folder.move("p/a.jpg", "_rejected/p/a.jpg")
        assert folder.read("_rejected/p/a.jpg") == b"a"
        assert [e.name for e in folder.list()] == ["_rejected/p/a.jpg"]
        with pytest.raises(NotFound):
            folder.move("p/a.jpg", "_rejected/p/a.jpg")

    def test_names_cannot_escape_the_folder(self, folder: DropFolder) -> None:
        for name in ("../outside", "a/../../b", "/abs", "a//b", ""):
            with pytest.raises(ValueError):
                folder.write(name, b"x")


class TestMemoryDropFolder(DropFolderContract):
    @pytest.fixture
    def folder(self) -> MemoryDropFolder:
        return MemoryDropFolder()


class TestDropDirectory(DropFolderContract):
    @pytest.fixture
    def folder(self, tmp_path: Path) -> DropDirectory:
        return DropDirectory(tmp_path / "drop")


class TestDropContainer(DropFolderContract):
    @pytest.fixture
    def folder(self, azure_stack: AzureStack) -> DropContainer:
        return DropContainer(blob_service(azure_stack.storage_connection_string), f"drop-{uuid.uuid4().hex[:12]}")
