"""The Azure Cosmos DB (SQL API) adapter of :class:`~shared.stores.ports.MetadataStore`.

Every kind lives in one container partitioned by ``/projectId`` (docs/architecture.md), so a project's
documents are one logical partition and a point read is one request. Each document is stored in an
envelope::

    {"id": "<kind>:<doc id>", "projectId": <partition>, "kind": <kind>, "doc": {...the document...}}

The envelope keeps the document exactly as written, whatever fields it has (a document may carry its own
``kind`` or ``projectId``, or none: claim documents do not), and reads give back ``doc`` alone, without the
service's ``_rid``/``_ts``/``_etag`` fields. The item id is unique per kind because a kind is a plain
identifier (no ``:``). Conditions address ``c.doc["<field>"]`` (bracket notation: ``value``, ``order`` and
``group`` are keywords of Cosmos SQL), and every value travels as a query parameter.

Paging is keyset paging on (value, id), like the other adapters, with the port's own token. Cosmos DB
serves a two-field ORDER BY only from a composite index declared for exactly those paths and directions,
and the sort field is the caller's choice, so every query here orders by one path only, which the
default indexing policy (every path range-indexed) serves on Azure and on the local server alike:

* a *tie group* (every match sharing one sort value) is read ``ORDER BY c.doc["id"]``;
* the values after a position are scanned ``ORDER BY c.doc["<field>"]``, ``TOP`` the rows still
  wanted; groups wholly inside that scan are put in id order here, and the last group, which the
  ``TOP`` may have cut anywhere, is read again as a tie group, so a page always holds the smallest ids.

A page therefore costs two or three bounded queries, and ties that span pages resume with
``value = v AND id > last``. As in :func:`~shared.stores.conditions.sort_key`, a missing, null or empty
sort value is the blank value ``""``: blank documents form one group that sorts first (last when
descending). The other values of a sort field are expected to share one type (Cosmos DB compares
values of different types as undefined, so a keyset bound would skip them).

The database and the container are created on first use (a fresh account needs no manual step),
once, under a lock. ``create_*_if_not_exists`` reads first, so with an Entra ID identity, which may
read but not create them, a database and container provisioned beforehand work as they are.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlparse

from azure.core import MatchConditions
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey
from azure.cosmos.exceptions import CosmosResourceNotFoundError
from urllib3.exceptions import InsecureRequestWarning

from shared.domain.errors import BadRequest, Code, Conflict, NotFound, ServerError
from shared.stores.azure.connections import default_credential
from shared.stores.conditions import check_field, decode_token, encode_token
from shared.stores.ports import ArrayContainsAny, ArrayEmpty, Condition, Eq, In, Page, Range, Stored

__all__ = ["CosmosMetadataStore"]

_PARTITION_PATH = "/projectId"
log = logging.getLogger(__name__)
# Characters Cosmos DB refuses in an item id (it also refuses an id that ends in a space).
_ILLEGAL_ID_CHARS = frozenset("/\\?#\t\r\n")
# The hosts for which azure-cosmos itself turns TLS verification off (its local emulator).
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
_LOOPBACK_WARNING = r"Unverified HTTPS request is being made to host '(127\.0\.0\.1|localhost)'"


def _quiet_loopback_tls() -> None:
    """Silence urllib3's InsecureRequestWarning for loopback hosts only.

    azure-cosmos turns verification off for 127.0.0.1/localhost (the emulator's self-signed certificate)
    and urllib3 then warns on every request. ``warnings.catch_warnings`` around calls would not do: it
    swaps the process-wide filter list, so with the many threads that call this store it races (one
    thread restores another's filters) and, while open, also hides the warning for real endpoints called
    from other threads. Instead this puts one filter first whose message pattern names only the loopback
    hosts, so the warning still shows for any other host. It is re-asserted before each call (re-adding
    an identical filter only moves it to the front) because test runners reset the filters per test.
    """
    warnings.filterwarnings("ignore", message=_LOOPBACK_WARNING, category=InsecureRequestWarning)


@contextmanager
def _translated(what: str, *, missing: str | None = None) -> Iterator[None]:
    """Cosmos DB's exceptions as the product's errors; ``missing`` is the NotFound message (a 404 on a
    query means the database or container went away, which is a server error, not a missing document)."""
    try:
        yield
    except HttpResponseError as exc:
        status = exc.status_code
        if status == 404 and missing is not None:
            raise NotFound(missing) from exc
        if status in (409, 412):
            raise Conflict(f"The {what} was changed by another request.") from exc
        # Messages reach clients: never the SDK's text (account URLs, request ids); the log has it.
        log.warning("Cosmos DB failed on %s (status %s): %s", what, status, exc.message)
        if status == 400:
            raise BadRequest(f"The metadata store refused the request for {what}.") from exc
        raise ServerError(f"Cosmos DB failed on {what} (status {status}); the server's log has the details.") from exc
    except AzureError as exc:  # no response: connection, timeout, credentials
        log.warning("Cosmos DB failed on %s: %s", what, exc.message)
        raise ServerError(f"Cosmos DB failed on {what} ({type(exc).__name__}); see the server's log.") from exc


def _field(name: str) -> str:
    return f'c.doc["{check_field(name)}"]'


def _blank(x: str) -> str:
    return f'(NOT IS_DEFINED({x}) OR IS_NULL({x}) OR (IS_STRING({x}) AND {x} = ""))'


def _filled(x: str) -> str:
    return f'(IS_DEFINED({x}) AND NOT IS_NULL({x}) AND NOT (IS_STRING({x}) AND {x} = ""))'


def _is_blank(value: Any) -> bool:
    return value is None or value == ""


class _Sql:
    """A WHERE clause under construction; values become named parameters, never query text."""

    def __init__(self, clauses: Sequence[str] = (), parameters: Sequence[dict[str, Any]] = ()) -> None:
        self.clauses = list(clauses)
        self.parameters = list(parameters)

    def _value(self, value: Any) -> str:
        name = f"@v{len(self.parameters)}"
        self.parameters.append({"name": name, "value": value})
        return name

    def where(self, clause: str, *values: Any) -> _Sql:
        """A copy with ``clause`` added, each ``{}`` in it standing for the next of ``values``."""
        sql = _Sql(self.clauses, self.parameters)
        sql.clauses.append(clause.format(*(sql._value(v) for v in values)))
        return sql

    def text(self) -> str:
        return " AND ".join(self.clauses) or "true"


def _marks(n: int) -> str:
    return ", ".join(["{}"] * n)


def _condition(sql: _Sql, cond: Condition) -> _Sql:
    """``sql`` with ``cond`` added, meaning what :func:`shared.stores.conditions.matches` means."""
    x = _field(cond.field)
    if isinstance(cond, Eq):
        if cond.value is None:
            return sql.where(f"(NOT IS_DEFINED({x}) OR IS_NULL({x}))")
        return sql.where(f"{x} = {{}}", cond.value)
    if isinstance(cond, In):
        if not cond.values:
            return sql.where("false")
        clause = f"{x} IN ({_marks(len(cond.values))})"
        if None in cond.values:  # as in Python, None also matches a missing field
            clause = f"({clause} OR NOT IS_DEFINED({x}))"
        return sql.where(clause, *cond.values)
    if isinstance(cond, Range):
        sql = sql.where(f"IS_DEFINED({x}) AND NOT IS_NULL({x})")
        if cond.low is not None:
            sql = sql.where(f"{x} >= {{}}", cond.low)
        if cond.high is not None:
            sql = sql.where(f"{x} < {{}}", cond.high)
        return sql
    if isinstance(cond, ArrayContainsAny):
        if not cond.values:
            return sql.where("false")
        tests = " OR ".join([f"ARRAY_CONTAINS({x}, {{}})"] * len(cond.values))
        return sql.where(f"({tests})", *cond.values)
    if isinstance(cond, ArrayEmpty) and cond.ignoring:
        other = f"EXISTS(SELECT VALUE v FROM v IN {x} WHERE NOT ARRAY_CONTAINS({{}}, v))"
        if cond.empty:
            return sql.where(f"(NOT IS_DEFINED({x}) OR IS_NULL({x}) OR NOT {other})", list(cond.ignoring))
        return sql.where(other, list(cond.ignoring))
    if isinstance(cond, ArrayEmpty):
        if cond.empty:
            return sql.where(f"(NOT IS_DEFINED({x}) OR IS_NULL({x}) OR ARRAY_LENGTH({x}) = 0)")
        return sql.where(f"ARRAY_LENGTH({x}) > 0")
    raise TypeError(cond)  # pragma: no cover - the Condition union is closed


def _id_order(rows: list[Stored], field: str, descending: bool) -> list[Stored]:
    """Rows that came ordered by ``field`` alone, with each run of equal values put in id order."""
    out: list[Stored] = []
    start = 0
    for end in range(1, len(rows) + 1):
        if end == len(rows) or rows[end].doc.get(field) != rows[start].doc.get(field):
            out += sorted(rows[start:end], key=lambda s: str(s.doc["id"]), reverse=descending)
            start = end
    return out


class CosmosMetadataStore:
    """Documents in the container ``container`` of the database ``database`` of one Cosmos DB account.

    ``key`` is the account key; without one, ``credential`` (or the process's
    :class:`~azure.identity.DefaultAzureCredential`) signs in with Entra ID. Nothing connects before the
    first call.
    """

    def __init__(
        self,
        endpoint: str,
        database: str,
        *,
        key: str | None = None,
        credential: TokenCredential | None = None,
        container: str = "documents",
    ) -> None:
        self._endpoint = endpoint
        self._database = database
        self._container_name = container
        self._key = key
        self._credential = credential
        self._loopback = urlparse(endpoint).hostname in _LOOPBACK_HOSTS
        self._client: CosmosClient | None = None
        self._proxy: ContainerProxy | None = None
        self._lock = threading.Lock()

    def _container(self) -> ContainerProxy:
        if self._loopback:
            _quiet_loopback_tls()
        proxy = self._proxy
        if proxy is not None:
            return proxy
        with self._lock:
            if self._proxy is None:
                if self._client is None:
                    self._client = CosmosClient(
                        self._endpoint, credential=self._key or self._credential or default_credential()
                    )
                database = self._client.create_database_if_not_exists(self._database)
                self._proxy = database.create_container_if_not_exists(
                    id=self._container_name, partition_key=PartitionKey(path=_PARTITION_PATH)
                )
            return self._proxy

    def close(self) -> None:
        """Close the client's connections (a later call opens new ones)."""
        with self._lock:
            client, self._client, self._proxy = self._client, None, None
        if client is not None:
            client.close()

    @staticmethod
    def _item_id(kind: str, doc_id: str) -> str | None:
        """The item id of a document, or None when Cosmos DB could not hold such an id."""
        if not isinstance(doc_id, str) or doc_id.endswith(" ") or _ILLEGAL_ID_CHARS.intersection(doc_id):
            return None
        return f"{check_field(kind)}:{doc_id}"

    def _envelope(self, kind: str, partition: str, doc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        item_id = self._item_id(kind, doc["id"])
        if item_id is None:
            raise BadRequest(
                f"A {kind} id cannot contain / \\ ? #, a tab or a line break, nor end in a space.",
                Code.BAD_REQUEST_INVALID,
            )
        return item_id, {"id": item_id, "projectId": partition, "kind": kind, "doc": doc}

    def create(self, kind: str, partition: str, doc: dict[str, Any]) -> str:
        _, item = self._envelope(kind, partition, doc)
        with _translated(f"{kind} {doc['id']}"):
            try:
                written = self._container().create_item(item)
            except HttpResponseError as exc:
                if exc.status_code == 409:
                    raise Conflict(f"A {kind} with id {doc['id']} already exists.") from exc
                raise
        return str(written["_etag"])

    def read(self, kind: str, partition: str, doc_id: str) -> Stored:
        item_id = self._item_id(kind, doc_id)
        if item_id is None:
            raise NotFound(f"No {kind} with id {doc_id}.")
        with _translated(f"{kind} {doc_id}", missing=f"No {kind} with id {doc_id}."):
            item = self._container().read_item(item_id, partition_key=partition)
        return Stored(item["doc"], str(item["_etag"]))

    def replace(self, kind: str, partition: str, doc: dict[str, Any], *, if_match: str | None = None) -> str:
        item_id, item = self._envelope(kind, partition, doc)
        with _translated(f"{kind} {doc['id']}", missing=f"No {kind} with id {doc['id']}."):
            written = self._container().replace_item(
                item_id,
                item,
                etag=if_match,
                match_condition=MatchConditions.IfNotModified if if_match is not None else None,
            )
        return str(written["_etag"])

    def delete(self, kind: str, partition: str, doc_id: str, *, if_match: str | None = None) -> None:
        item_id = self._item_id(kind, doc_id)
        if item_id is None:
            raise NotFound(f"No {kind} with id {doc_id}.")
        with _translated(f"{kind} {doc_id}", missing=f"No {kind} with id {doc_id}."):
            self._container().delete_item(
                item_id,
                partition_key=partition,
                etag=if_match,
                match_condition=MatchConditions.IfNotModified if if_match is not None else None,
            )

    @staticmethod
    def _base(kind: str, partition: str | None, where: Sequence[Condition]) -> _Sql:
        sql = _Sql()
        # The partition is also a WHERE clause: the local server ignores the partition key header of a
        # query and refuses a single-partition query whose text does not name the partition key.
        if partition is not None:
            sql = sql.where("c.projectId = {}", partition)
        sql = sql.where("c.kind = {}", kind)
        for cond in where:
            sql = _condition(sql, cond)
        return sql

    def _query(self, text: str, parameters: list[dict[str, Any]], partition: str | None) -> Iterator[Any]:
        container = self._container()
        if partition is None:
            return iter(container.query_items(text, parameters=parameters, enable_cross_partition_query=True))
        return iter(container.query_items(text, parameters=parameters, partition_key=partition))

    def _rows(self, sql: _Sql, partition: str | None, order: str, top: int) -> list[Stored]:
        """The first ``top`` matches of ``sql`` in the order ``order`` (one path and a direction)."""
        if top <= 0:
            return []
        text = f"SELECT TOP {int(top)} c.doc, c._etag FROM c WHERE {sql.text()} ORDER BY {order}"
        with _translated("a query"):
            found = self._query(text, sql.parameters, partition)
            return [Stored(row["doc"], str(row["_etag"])) for row, _ in zip(found, range(top), strict=False)]

    def _group(self, sql: _Sql, partition: str | None, after_id: str | None, desc: bool, top: int) -> list[Stored]:
        """The matches of ``sql`` (one tie group) in id order, after ``after_id`` when given."""
        x = _field("id")
        if after_id is not None:
            sql = sql.where(f"{x} {'<' if desc else '>'} {{}}", after_id)
        return self._rows(sql, partition, f"{x} {'DESC' if desc else 'ASC'}", top)

    def _scan(self, base: _Sql, partition: str | None, field: str, after: Any, desc: bool, top: int) -> list[Stored]:
        """The first ``top`` matches with a non-blank ``field`` beyond the value ``after`` (None: from
        the first), in (value, id) order."""
        if top <= 0:
            return []
        x = _field(field)
        sql = base.where(_filled(x))
        if after is not None:
            sql = sql.where(f"{x} {'<' if desc else '>'} {{}}", after)
        rows = self._rows(sql, partition, f"{x} {'DESC' if desc else 'ASC'}", top)
        if len(rows) < top:
            return _id_order(rows, field, desc)  # the scan ran out: every group in it is whole
        # The TOP may have cut the last group anywhere: read that group again, in id order.
        last = rows[-1].doc.get(field)
        cut = len(rows)
        while cut > 0 and rows[cut - 1].doc.get(field) == last:
            cut -= 1
        head = _id_order(rows[:cut], field, desc)
        return head + self._group(base.where(f"{x} = {{}}", last), partition, None, desc, top - len(head))

    def query(
        self,
        kind: str,
        partition: str | None,
        where: Sequence[Condition] = (),
        *,
        order_by: str = "id",
        descending: bool = False,
        limit: int = 100,
        continuation: str | None = None,
    ) -> Page:
        x = _field(order_by)
        base = self._base(kind, partition, where)
        want = max(limit, 0) + 1  # one more than the page: it tells whether another page follows
        if continuation:
            value, last_id = decode_token(continuation)
            rows = self._after(base, partition, order_by, descending, want, value, last_id)
        elif order_by == "id":
            rows = self._scan(base, partition, order_by, None, descending, want)
        elif descending:  # the blank group comes last
            rows = self._scan(base, partition, order_by, None, True, want)
            rows += self._group(base.where(_blank(x)), partition, None, True, want - len(rows))
        else:  # the blank group comes first
            rows = self._group(base.where(_blank(x)), partition, None, False, want)
            rows += self._scan(base, partition, order_by, None, False, want - len(rows))
        items = rows[:limit]
        token = None
        if len(rows) > limit and items:
            last = items[-1].doc
            token = encode_token(last.get(order_by), last["id"])
        return Page(items, token)

    def _after(
        self, base: _Sql, partition: str | None, order_by: str, desc: bool, want: int, value: Any, last_id: str
    ) -> list[Stored]:
        """The next ``want`` matches after the position (``value``, ``last_id``) of a continuation token."""
        x = _field(order_by)
        if order_by == "id":  # ids are never blank and never tie
            return self._scan(base, partition, order_by, last_id, desc, want)
        if _is_blank(value):
            rows = self._group(base.where(_blank(x)), partition, last_id, desc, want)
            if not desc:
                rows += self._scan(base, partition, order_by, None, False, want - len(rows))
            return rows
        rows = self._group(base.where(f"{x} = {{}}", value), partition, last_id, desc, want)
        rows += self._scan(base, partition, order_by, value, desc, want - len(rows))
        if desc:
            rows += self._group(base.where(_blank(x)), partition, None, True, want - len(rows))
        return rows

    def count(self, kind: str, partition: str | None, where: Sequence[Condition] = ()) -> int:
        sql = self._base(kind, partition, where)
        with _translated("a count"):
            found = self._query(f"SELECT VALUE COUNT(1) FROM c WHERE {sql.text()}", sql.parameters, partition)
            # Summed: a cross-partition count may come back as one number per partition.
            return sum(int(n) for n in found)

    def delete_partition(self, partition: str) -> None:
        """Delete the partition's items one by one (the local server cannot delete by partition key)."""
        sql = _Sql().where("c.projectId = {}", partition)
        with _translated(f"partition {partition}"):
            item_ids = [
                str(i) for i in self._query(f"SELECT VALUE c.id FROM c WHERE {sql.text()}", sql.parameters, partition)
            ]
            container = self._container()
            for item_id in item_ids:
                with suppress(CosmosResourceNotFoundError):  # deleted meanwhile by someone else
                    container.delete_item(item_id, partition_key=partition)
