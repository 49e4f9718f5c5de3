"""Validation of what users name and draw: names, descriptions, ids, regions and metadata.

Each check raises :class:`~shared.domain.errors.BadRequest` with the Custom Vision code for the
field and a message that says what to change.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping

from shared.domain.errors import BadRequest, Code
from shared.domain.limits import (
    MAX_DESCRIPTION_LENGTH,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_PAIRS,
    MAX_METADATA_VALUE_LENGTH,
    MAX_NAME_LENGTH,
)

__all__ = [
    "PUBLISH_NAME_PATTERN",
    "check_description",
    "check_metadata",
    "check_name",
    "check_region",
    "is_guid",
    "parse_guid",
    "parse_guids",
]

# A publish name (what apps call a model by); also sent to the studio, which checks it before a call.
PUBLISH_NAME_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9 _.\-]{{0,{MAX_NAME_LENGTH - 1}}}$"

# Rounding in clients (0.1 + 0.9 in floats) must not turn a box on the edge into an error.
_EDGE_TOLERANCE = 1e-6


def is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def parse_guid(value: str, what: str) -> str:
    """One id that must be there (a field of a JSON body): lowercase, or a 400 when blank or malformed."""
    text = value.strip()
    if not text:
        raise BadRequest(f"A {what} id is blank; give the {what}'s id (a GUID).", Code.BAD_REQUEST_INVALID_IDS)
    if not is_guid(text):
        raise BadRequest(f"'{text[:64]}' is not a valid {what} id.", Code.BAD_REQUEST_INVALID_IDS)
    return str(uuid.UUID(text))


def parse_guids(values: Iterable[str], what: str, *, limit: int, blanks: bool = True) -> list[str]:
    """Normalise ids (lowercase, each once, in order); refuse malformed ids and too many. Blank
    ids are skipped (a query string's ``a,,b``), or refused with ``blanks=False`` (a JSON list)."""
    out: dict[str, None] = {}
    for raw in values:
        value = raw.strip()
        if not value and blanks:
            continue
        if not value:
            raise BadRequest(f"A blank {what} id was given.", Code.BAD_REQUEST_INVALID_IDS)
        if not is_guid(value):
            raise BadRequest(f"'{value[:64]}' is not a valid {what} id.", Code.BAD_REQUEST_INVALID_IDS)
        out.setdefault(str(uuid.UUID(value)), None)
    if len(out) > limit:
        raise BadRequest(
            f"At most {limit} {what} ids may be given at once; got {len(out)}.",
            Code.BAD_REQUEST_EXCEEDED_BATCH_SIZE,
        )
    return list(out)


def check_name(value: str | None, what: str, code: Code) -> str:
    name = (value or "").strip()
    if not name:
        raise BadRequest(f"A {what} needs a name.", code)
    if len(name) > MAX_NAME_LENGTH:
        raise BadRequest(f"A {what} name may be at most {MAX_NAME_LENGTH} characters.", code)
    if any(ord(c) < 32 for c in name):
        raise BadRequest(f"A {what} name may not contain control characters.", code)
    if not _is_utf8(name):
        raise BadRequest(f"A {what} name must be valid Unicode text (it holds a lone surrogate).", code)
    return name


def _is_utf8(text: str) -> bool:
    """Whether the text can be written as UTF-8: JSON's ``"\ud800"`` reads as a lone surrogate, which
    no store can keep and no client could read back."""
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def check_description(value: str | None, what: str, code: Code) -> str:
    text = value or ""
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise BadRequest(f"A {what} description may be at most {MAX_DESCRIPTION_LENGTH} characters.", code)
    if not _is_utf8(text):
        raise BadRequest(f"A {what} description must be valid Unicode text (it holds a lone surrogate).", code)
    return text


def check_region(left: float, top: float, width: float, height: float) -> tuple[float, float, float, float]:
    """A box must lie inside the image: normalised 0..1, positive size, no NaN or infinity."""
    values = (left, top, width, height)
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        raise BadRequest("Region coordinates must be finite numbers.", Code.BAD_REQUEST_IMAGE_REGIONS)
    left, top, width, height = (float(v) for v in values)
    if width <= 0 or height <= 0:
        raise BadRequest("A region needs a positive width and height.", Code.BAD_REQUEST_IMAGE_REGIONS)
    if left < 0 or top < 0 or left + width > 1 + _EDGE_TOLERANCE or top + height > 1 + _EDGE_TOLERANCE:
        raise BadRequest(
            "Region coordinates are fractions of the image size: left, top, width and height must keep "
            f"the box inside 0..1 (got left={left}, top={top}, width={width}, height={height}).",
            Code.BAD_REQUEST_IMAGE_REGIONS,
        )
    return left, top, min(width, 1 - left), min(height, 1 - top)


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    pairs = dict(metadata or {})
    if len(pairs) > MAX_METADATA_PAIRS:
        raise BadRequest(
            f"An image may carry at most {MAX_METADATA_PAIRS} metadata pairs; got {len(pairs)}.",
            Code.BAD_REQUEST_IMAGE_METADATA_KEY,
        )
    for key, value in pairs.items():
        if not isinstance(key, str) or not key or len(key) > MAX_METADATA_KEY_LENGTH:
            raise BadRequest(
                f"Metadata keys must be 1 to {MAX_METADATA_KEY_LENGTH} characters.",
                Code.BAD_REQUEST_IMAGE_METADATA_KEY,
            )
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE_LENGTH:
            raise BadRequest(
                f"Metadata value for '{key}' must be text of at most {MAX_METADATA_VALUE_LENGTH} characters.",
                Code.BAD_REQUEST_IMAGE_METADATA_VALUE,
            )
    return pairs
