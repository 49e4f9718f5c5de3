"""Query-string conventions of the Custom Vision API.

Lists arrive comma-joined (``tagIds=a,b``); ``$filter`` is a small OData subset over image
metadata: ``key eq 'value'`` terms joined by ``and``, each term optionally an ``or`` group in
parentheses (``(color eq 'red' or color eq 'blue') and shelf eq '3'``).
"""

from __future__ import annotations

import re

from shared.domain.enums import TaggingStatus, parse_member
from shared.domain.errors import BadRequest, Code
from shared.domain.limits import DEFAULT_TAKE, MAX_TAKE
from shared.services.image_query import MetadataFilter

__all__ = ["check_paging", "metadata_filter", "order_newest_first", "split_list", "tagging_status"]

_TERM = re.compile(r"^\s*([^\s()']+)\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)


def split_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _term(text: str) -> tuple[str, str]:
    match = _TERM.match(text)
    if not match:
        raise BadRequest(
            f"Unsupported $filter term '{text.strip()}': use key eq 'value', joined by and/or.",
            Code.BAD_REQUEST_INVALID,
        )
    return match[1], match[2].replace("''", "'")


def metadata_filter(expression: str | None) -> MetadataFilter:
    if not expression or not expression.strip():
        return MetadataFilter()
    groups: list[tuple[tuple[str, str], ...]] = []
    for group in re.split(r"\s+and\s+", expression.strip(), flags=re.IGNORECASE):
        group = group.strip()
        if group.startswith("(") and group.endswith(")"):
            group = group[1:-1]
        terms = re.split(r"\s+or\s+", group, flags=re.IGNORECASE)
        groups.append(tuple(_term(t) for t in terms))
    return MetadataFilter(tuple(groups))


def order_newest_first(order_by: str | None) -> bool:
    if order_by is None or order_by.lower() == "newest":
        return True
    if order_by.lower() == "oldest":
        return False
    raise BadRequest(f"orderBy must be Newest or Oldest, not '{order_by}'.", Code.BAD_REQUEST_INVALID)


def tagging_status(value: str | None) -> TaggingStatus:
    found = parse_member(TaggingStatus, value, TaggingStatus.ALL)
    if found is not None:
        return found
    raise BadRequest(f"taggingStatus must be All, Tagged or Untagged, not '{value}'.", Code.BAD_REQUEST_INVALID)


def check_paging(take: int | None, skip: int | None) -> tuple[int, int]:
    take = DEFAULT_TAKE if take is None else take
    skip = 0 if skip is None else skip
    if not 0 <= take <= MAX_TAKE:
        raise BadRequest(f"take must be between 0 and {MAX_TAKE}.", Code.BAD_REQUEST_INVALID)
    if skip < 0:
        raise BadRequest("skip must not be negative.", Code.BAD_REQUEST_INVALID)
    return take, skip
