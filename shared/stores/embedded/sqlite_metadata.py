"""The embedded metadata store: JSON documents in one SQLite table.

One row per document, keyed by (kind, partition, id), with the document as JSON text and an
etag. Conditions become ``json_extract``/``json_each`` expressions; pages are keyset pages
(``ORDER BY field, id`` after the last position), never OFFSET, just as Cosmos DB pages by
continuation tokens. WAL mode lets readers run beside the one writer; every statement commits
at once, so a stopped process loses nothing it acknowledged.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.domain.errors import Conflict, NotFound
from shared.stores.conditions import check_field, decode_token, encode_token
from shared.stores.ports import ArrayContainsAny, ArrayEmpty, Condition, Eq, In, Page, Range, Stored

__all__ = ["SqliteMetadataStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL,
    pk TEXT NOT NULL,
    id TEXT NOT NULL,
    etag TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, pk, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS docs_created ON docs (kind, pk, json_extract(body, '$.created'), id);
"""


def _path(field: str) -> str:
    return f"'$.{check_field(field)}'"


def _condition_sql(cond: Condition) -> tuple[str, list[Any]]:
    path = _path(cond.field)
    if isinstance(cond, Eq):
        if cond.value is None:
            return f"json_extract(body, {path}) IS NULL", []
        return f"json_extract(body, {path}) = ?", [cond.value]
    if isinstance(cond, In):
        if not cond.values:
            return "0", []
        marks = ",".join("?" * len(cond.values))
        return f"json_extract(body, {path}) IN ({marks})", list(cond.values)
    if isinstance(cond, Range):
        parts, values = [f"json_extract(body, {path}) IS NOT NULL"], []
        if cond.low is not None:
            parts.append(f"json_extract(body, {path}) >= ?")
            values.append(cond.low)
        if cond.high is not None:
            parts.append(f"json_extract(body, {path}) < ?")
            values.append(cond.high)
        return " AND ".join(parts), values
    if isinstance(cond, ArrayContainsAny):
        if not cond.values:
            return "0", []
        marks = ",".join("?" * len(cond.values))
        return f"EXISTS (SELECT 1 FROM json_each(body, {path}) WHERE value IN ({marks}))", list(cond.values)
    if isinstance(cond, ArrayEmpty) and cond.ignoring:
        marks = ",".join("?" * len(cond.ignoring))
        other = f"EXISTS (SELECT 1 FROM json_each(body, {path}) WHERE value NOT IN ({marks}))"
        return (f"NOT {other}" if cond.empty else other), list(cond.ignoring)
    if isinstance(cond, ArrayEmpty):
        op = "=" if cond.empty else ">"
        return f"coalesce(json_array_length(body, {path}), 0) {op} 0", []
    raise TypeError(cond)  # pragma: no cover - the Condition union is closed


class SqliteMetadataStore:
    """Documents in ``<path>``; the connection opens on first use, not at construction."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            # The trainer runs in its own process and writes beside the server: wait for locks.
            conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None, timeout=10.0)
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def create(self, kind: str, partition: str, doc: dict[str, Any]) -> str:
        etag = uuid.uuid4().hex
        with self._lock:
            try:
                self._db().execute(
                    "INSERT INTO docs (kind, pk, id, etag, body) VALUES (?, ?, ?, ?, ?)",
                    (kind, partition, doc["id"], etag, json.dumps(doc)),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"A {kind} with id {doc['id']} already exists.") from exc
        return etag

    def read(self, kind: str, partition: str, doc_id: str) -> Stored:
        with self._lock:
            row = (
                self._db()
                .execute(
                    "SELECT body, etag FROM docs WHERE kind = ? AND pk = ? AND id = ?",
                    (kind, partition, doc_id),
                )
                .fetchone()
            )
        if row is None:
            raise NotFound(f"No {kind} with id {doc_id}.")
        return Stored(json.loads(row[0]), row[1])

    def replace(self, kind: str, partition: str, doc: dict[str, Any], *, if_match: str | None = None) -> str:
        etag = uuid.uuid4().hex
        sql = "UPDATE docs SET body = ?, etag = ? WHERE kind = ? AND pk = ? AND id = ?"
        params: list[Any] = [json.dumps(doc), etag, kind, partition, doc["id"]]
        if if_match is not None:
            sql += " AND etag = ?"
            params.append(if_match)
        with self._lock:
            changed = self._db().execute(sql, params).rowcount
            if changed == 0:
                self._raise_missing_or_stale(kind, partition, doc["id"])
        return etag

    def delete(self, kind: str, partition: str, doc_id: str, *, if_match: str | None = None) -> None:
        sql = "DELETE FROM docs WHERE kind = ? AND pk = ? AND id = ?"
        params: list[Any] = [kind, partition, doc_id]
        if if_match is not None:
            sql += " AND etag = ?"
            params.append(if_match)
        with self._lock:
            if self._db().execute(sql, params).rowcount == 0:
                self._raise_missing_or_stale(kind, partition, doc_id)

    def _raise_missing_or_stale(self, kind: str, partition: str, doc_id: str) -> None:
        exists = (
            self._db()
            .execute("SELECT 1 FROM docs WHERE kind = ? AND pk = ? AND id = ?", (kind, partition, doc_id))
            .fetchone()
        )
        if exists:
            raise Conflict(f"The {kind} {doc_id} was changed by another request.")
        raise NotFound(f"No {kind} with id {doc_id}.")

    @staticmethod
    def _where(kind: str, partition: str | None, where: Sequence[Condition]) -> tuple[str, list[Any]]:
        clauses = ["kind = ?"]
        params: list[Any] = [kind]
        if partition is not None:
            clauses.append("pk = ?")
            params.append(partition)
        for cond in where:
            sql, values = _condition_sql(cond)
            clauses.append(sql)
            params.extend(values)
        return " AND ".join(clauses), params

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
        sql_where, params = self._where(kind, partition, where)
        sort = f"coalesce(json_extract(body, {_path(order_by)}), '')"
        if continuation:
            value, last_id = decode_token(continuation)
            op = "<" if descending else ">"
            sql_where += f" AND ({sort} {op} ? OR ({sort} = ? AND id {op} ?))"
            pos = "" if value is None else value
            params += [pos, pos, last_id]
        direction = "DESC" if descending else "ASC"
        sql = f"SELECT body, etag FROM docs WHERE {sql_where} ORDER BY {sort} {direction}, id {direction} LIMIT ?"
        with self._lock:
            rows = self._db().execute(sql, [*params, limit + 1]).fetchall()
        items = [Stored(json.loads(body), etag) for body, etag in rows[:limit]]
        token = None
        if len(rows) > limit and items:
            last = items[-1].doc
            token = encode_token(last.get(order_by), last["id"])
        return Page(items, token)

    def count(self, kind: str, partition: str | None, where: Sequence[Condition] = ()) -> int:
        sql_where, params = self._where(kind, partition, where)
        with self._lock:
            (n,) = self._db().execute(f"SELECT count(*) FROM docs WHERE {sql_where}", params).fetchone()
        return int(n)

    def delete_partition(self, partition: str) -> None:
        with self._lock:
            self._db().execute("DELETE FROM docs WHERE pk = ?", (partition,))
