"""Query-string conventions of the Custom Vision API.

Lists arrive comma-joined (``tagIds=a,b``); ``$filter`` is a small OData subset over image
metadata: ``key eq 'value'`` terms joined by ``and`` and ``or`` under OData's precedence, with
parentheses (``(color eq 'red' or color eq 'blue') and shelf eq '3'``); quoted values may contain
the words "and" and "or".
"""

from __future__ import annotations

import re

from shared.domain.enums import TaggingStatus, parse_member
from shared.domain.errors import BadRequest, Code
from shared.domain.limits import DEFAULT_TAKE, MAX_FILTER_DEPTH, MAX_FILTER_TERMS, MAX_INT32, MAX_TAKE
from shared.services.image_query import MetadataFilter

__all__ = ["check_paging", "metadata_filter", "order_newest_first", "split_list", "tagging_status"]

# One token of a $filter: a parenthesis, a quoted string ('' is a quote inside it), or a bare word.
_TOKEN = re.compile(r"\s*(?:(?P<paren>[()])|(?P<text>'(?:[^']|'')*')|(?P<word>[^\s()']+))")
_UNSUPPORTED = "Unsupported $filter"

# A filter in conjunctive form: every clause must hold; a clause holds when any of its pairs does.
_Clauses = list[tuple[tuple[str, str], ...]]


def split_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _tokens(expression: str) -> list[tuple[str, str]]:
    """(kind, text) tokens; a quote left open is an error, never a word."""
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None or match.end() == position:
            if not expression[position:].strip():
                break
            raise BadRequest(
                f"{_UNSUPPORTED}: a quoted value is not closed near '{expression[position:].strip()[:40]}'.",
                Code.BAD_REQUEST_INVALID,
            )
        kind = match.lastgroup or ""
        tokens.append((kind, match[kind]))
        position = match.end()
        if len(tokens) > 4 * MAX_FILTER_TERMS + 2 * MAX_FILTER_DEPTH:
            raise BadRequest(
                f"A $filter may have at most {MAX_FILTER_TERMS} key eq 'value' terms.", Code.BAD_REQUEST_INVALID
            )
    return tokens


class _FilterParser:
    """OData's precedence over ``key eq 'value'`` terms: parentheses, then ``and``, then ``or``;
    keywords are only keywords between terms, so a quoted value may say "black and white"."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self._tokens = tokens
        self._at = 0

    def parse(self) -> _Clauses:
        clauses = self._or(0)
        if self._at < len(self._tokens):
            raise self._unsupported("expected 'and' or 'or' between terms")
        return clauses

    def _peek_word(self) -> str | None:
        if self._at < len(self._tokens) and self._tokens[self._at][0] == "word":
            return self._tokens[self._at][1].lower()
        return None

    def _or(self, depth: int) -> _Clauses:
        clauses = self._and(depth)
        while self._peek_word() == "or":
            self._at += 1
            other = self._and(depth)
            # (a and b) or (c and d) == (a or c) and (a or d) and (b or c) and (b or d)
            clauses = [tuple(dict.fromkeys(x + y)) for x in clauses for y in other]
            _check_size(clauses)
        return clauses

    def _and(self, depth: int) -> _Clauses:
        clauses = self._primary(depth)
        while self._peek_word() == "and":
            self._at += 1
            clauses = clauses + self._primary(depth)
            _check_size(clauses)
        return clauses

    def _primary(self, depth: int) -> _Clauses:
        if self._at < len(self._tokens) and self._tokens[self._at] == ("paren", "("):
            if depth >= MAX_FILTER_DEPTH:
                raise BadRequest(
                    f"A $filter may nest parentheses at most {MAX_FILTER_DEPTH} deep.", Code.BAD_REQUEST_INVALID
                )
            self._at += 1
            clauses = self._or(depth + 1)
            if self._at >= len(self._tokens) or self._tokens[self._at] != ("paren", ")"):
                raise self._unsupported("a parenthesis is not closed")
            self._at += 1
            return clauses
        return [(self._term(),)]

    def _term(self) -> tuple[str, str]:
        found = self._tokens[self._at : self._at + 3]
        kinds = [kind for kind, _ in found]
        if kinds != ["word", "word", "text"] or found[1][1].lower() != "eq":
            raise self._unsupported("use key eq 'value', joined by and/or")
        self._at += 3
        return found[0][1], found[2][1][1:-1].replace("''", "'")

    def _unsupported(self, why: str) -> BadRequest:
        near = " ".join(text for _, text in self._tokens[self._at : self._at + 4])[:80]
        where = f" near '{near}'" if near else " at its end"
        return BadRequest(f"{_UNSUPPORTED} term{where}: {why}.", Code.BAD_REQUEST_INVALID)


def _check_size(clauses: _Clauses) -> None:
    if sum(len(c) for c in clauses) > MAX_FILTER_TERMS:
        raise BadRequest(
            f"A $filter may have at most {MAX_FILTER_TERMS} key eq 'value' terms "
            "(counting each 'or' spread over the 'and's it joins).",
            Code.BAD_REQUEST_INVALID,
        )


def metadata_filter(expression: str | None) -> MetadataFilter:
    """``$filter`` -> the metadata filter: ``key eq 'value'`` terms joined by ``and``/``or``, with
    parentheses, under OData's precedence; anything else is a 400 that says what was expected."""
    if not expression or not expression.strip():
        return MetadataFilter()
    clauses = _FilterParser(_tokens(expression)).parse()
    return MetadataFilter(tuple(clauses))


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
    if not 0 <= skip <= MAX_INT32:
        raise BadRequest(f"skip must be between 0 and {MAX_INT32}.", Code.BAD_REQUEST_INVALID)
    return take, skip
