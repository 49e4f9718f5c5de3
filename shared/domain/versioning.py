"""The ``version`` every cross-process document carries, and the refusal of a newer one.

A document written before versions existed has none and reads as version 1. A reader that meets a
version above the one it knows raises :class:`ContractVersionError`: the writer is a newer
cvstudio, and guessing at its format could misread a model or a job.
"""

from __future__ import annotations

import json
from typing import Any

from shared.domain.errors import ServerError

__all__ = ["ContractError", "ContractVersionError", "parse_document", "read_version"]

_FIELD = "version"


class ContractError(ServerError):
    """A cross-process document that cannot be read: malformed, or of an unknown type."""


class ContractVersionError(ContractError):
    """A document written by a newer cvstudio than the one reading it."""


def parse_document(name: str, data: bytes | str) -> dict[str, Any]:
    """The JSON object in ``data``, or a :class:`ContractError` naming the document."""
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise ContractError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ContractError(f"{name} is not a JSON object.")
    return raw


def read_version(name: str, raw: dict[str, Any], known: int) -> int:
    """The document's version (1 when absent); refuses one above ``known``."""
    version = raw.get(_FIELD, 1)
    if not isinstance(version, int) or version < 1:
        raise ContractError(f"{name} has an invalid version: {version!r}.")
    if version > known:
        raise ContractVersionError(
            f"{name} was written by a newer cvstudio (format version {version}; this one reads up to "
            f"{known}). Upgrade every cvstudio process that shares these stores to the same release."
        )
    return version
