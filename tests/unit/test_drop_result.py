"""``<file>.result.json``: written and read by the same class; a newer version is refused."""

from __future__ import annotations

import json

import pytest

from shared.contracts.drop_result import DropResult, DropStatus
from shared.domain.versioning import ContractError, ContractVersionError


def test_round_trip() -> None:
    result = DropResult(
        "p/labels.json",
        DropStatus.WAITING,
        "ab" * 32,
        "2026-11-30T15:00:00.000Z",
        "project-id",
        message="Waiting for 1 image(s) this file names.",
        applied_to={"p/a.jpg": "image-id"},
        waiting_for=("b.jpg",),
    )
    assert DropResult.from_json(result.to_json()) == result
    raw = json.loads(result.to_json())
    assert (raw["version"], raw["status"], raw["waitingFor"]) == (1, "waiting", ["b.jpg"])


def test_a_newer_version_is_refused_and_a_malformed_one_is_an_error() -> None:
    raw = json.loads(DropResult("a/b.jpg", DropStatus.OK, "00", "t").to_json())
    with pytest.raises(ContractVersionError, match="newer cvstudio"):
        DropResult.from_json(json.dumps({**raw, "version": 2}))
    with pytest.raises(ContractError):
        DropResult.from_json(json.dumps({**raw, "status": "lost"}))
    with pytest.raises(ContractError):
        DropResult.from_json(b"not json")
