"""What every metadata store agrees on: field-name rules, keyset continuation tokens, and the
Python meaning of each query condition (the in-memory store runs it; the others translate it)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from typing import Any

from shared.domain.errors import BadRequest, Code
from shared.stores.ports import ArrayContainsAny, ArrayEmpty, Condition, Eq, In, Range

__all__ = ["check_field", "decode_token", "encode_token", "matches", "sort_key"]

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_field(name: str) -> str:
    """Field names reach SQL text, so only plain identifiers are allowed."""
    if not _FIELD.match(name):
        raise ValueError(f"not a plain field name: {name!r}")
    return name


def encode_token(last_value: Any, last_id: str) -> str:
    """A keyset position: the sort value and id of the last item of the page."""
    raw = json.dumps([last_value, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[Any, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        value, last_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise BadRequest("The continuation token is not valid.", Code.BAD_REQUEST_INVALID) from exc
    if not isinstance(last_id, str):
        raise BadRequest("The continuation token is not valid.", Code.BAD_REQUEST_INVALID)
    return value, last_id


def sort_key(doc: dict[str, Any], order_by: str) -> tuple[Any, str]:
    value = doc.get(order_by)
    return ("" if value is None else value, doc["id"])


def matches(doc: dict[str, Any], where: Sequence[Condition]) -> bool:
    for cond in where:
        value = doc.get(cond.field)
        if isinstance(cond, Eq):
            if value != cond.value:
                return False
        elif isinstance(cond, In):
            if value not in cond.values:
                return False
        elif isinstance(cond, Range):
            if value is None:
                return False
            if cond.low is not None and value < cond.low:
                return False
            if cond.high is not None and value >= cond.high:
                return False
        elif isinstance(cond, ArrayContainsAny):
            if not any(v in cond.values for v in value or ()):
                return False
        elif isinstance(cond, ArrayEmpty):
            if (not [v for v in value or () if v not in cond.ignoring]) != cond.empty:
                return False
        else:  # pragma: no cover - the Condition union is closed
            raise TypeError(cond)
    return True
