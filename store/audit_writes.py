"""What the audit store does inside a write transaction: judge, number, chain, insert.

Each function runs on a connection that :class:`portsift.store.audit.AuditStore` opened
for writing, after :meth:`ChainWriter.lock`: SQLite's ``BEGIN IMMEDIATE`` already holds the
only write lock, and on PostgreSQL the transaction-scoped advisory lock of the table
makes its writers queue, so that what a writer reads (the declaration's latest decision,
the chain's last hash, the largest id) is still true when it commits. Nothing here
commits or catches database errors; the store does both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, Dialect, Row, Table, func, insert, select
from sqlalchemy.exc import DBAPIError

from portsift.store.audit_chain import GENESIS, chain_rows
from portsift.store.audit_records import (
    DecisionKind,
    DecisionRecord,
    DecisionResult,
    DuplicateRequestError,
    FeedbackResult,
    StoredDecision,
)

#: Most values in one ``IN (...)`` of a lookup.
IN_CHUNK: Final[int] = 500
#: Key of the PostgreSQL advisory lock that serialises table creation across processes.
CREATE_LOCK_KEY: Final[int] = 0x706F_7274_7369_6674 & 0x7FFF_FFFF_FFFF_FFFF  # "portsift"
#: Keys of the PostgreSQL advisory locks that serialise each table's writers (its chain).
#: By table name alone, not schema: two names for one table (a schema given to the store,
#: or one reached through ``search_path``) must take the same lock.
CHAIN_LOCK_KEYS: Final[dict[str, int]] = {
    "decisions": CREATE_LOCK_KEY + 1,
    "feedback": CREATE_LOCK_KEY + 2,
}

#: The fields of an outcome whose values make it a repeat (the same) or a correction.
_JUDGED: Final[tuple[str, ...]] = (
    "inspected",
    "illicit",
    "revenue",
    "violation_kind",
    "voluntary_disclosure",
    "note",
)

# Where a declaration's latest decision is while a batch is judged: ("db", row id) or
# ("batch", position among the rows to insert).
_Ref = tuple[str, int]


class ChainWriter:
    """The statements a writer of one table runs under its lock, prepared once per store.

    They run on the transaction's own DBAPI connection, not through SQLAlchemy: the API
    waits for every commit, and SQLAlchemy's execution of these small statements cost
    ten to twenty times what SQLite took to run them (50-130 us against 3-6 us). Driver
    errors are wrapped as SQLAlchemy's, so the store handles them as any other.

    Args:
        table: ``decisions`` or ``feedback``.
        dialect: ``"sqlite"`` or ``"postgresql"``.
        sequence: PostgreSQL: the name of the table's id sequence.
    """

    def __init__(self, table: Table, dialect: str, sequence: str | None = None) -> None:
        self.table = table
        name = f"{table.schema}.{table.name}" if table.schema else table.name
        last_hash = (
            f"SELECT chain_hash FROM {name} WHERE chain_hash IS NOT NULL ORDER BY id DESC LIMIT 1"
        )
        newest = f"SELECT max(id) FROM {name} WHERE declaration_id {{}} GROUP BY declaration_id"
        self._latest = f"SELECT id, declaration_id, input_sha256 FROM {name} WHERE id IN ({newest})"
        self._postgresql = dialect == "postgresql"
        self._sequence = sequence
        self._inserts: dict[tuple[str, ...], _PreparedInsert] = {}
        if self._postgresql:
            if sequence is None:
                raise ValueError("a PostgreSQL table needs its id sequence")
            self._lock_sql = f"SELECT pg_advisory_xact_lock({CHAIN_LOCK_KEYS[table.name]})"
            self._start = (
                f"SELECT ({last_hash}), nextval(%s::regclass), (SELECT max(id) FROM {name}) "
                "FROM generate_series(1, %s)"
            )
            self._catch_up = "SELECT setval(%s::regclass, %s)"
            self._latest = self._latest.format("= ANY(%s)")
        else:
            self._start = f"SELECT ({last_hash}), (SELECT max(id) FROM {name})"

    def lock(self, conn: Connection) -> None:
        """Queue behind the table's other writers (PostgreSQL; SQLite's lock is held).

        Args:
            conn: A connection inside a write transaction.
        """
        if self._postgresql:
            _run(conn, self._lock_sql, ())

    def start(self, conn: Connection, count: int) -> tuple[str, list[int]]:
        """The chain's last hash and the ids of ``count`` rows to append after it.

        The ids are assigned here rather than by the INSERT so that they are known before
        the rows are hashed (``amends`` may name a row of the same batch) and increase in
        chain order: on SQLite ``max(id) + 1`` on, as SQLite itself would number them; on
        PostgreSQL from the table's sequence, whose values only grow.

        Args:
            conn: A connection after :meth:`lock`.
            count: How many rows are appended.

        Returns:
            The last chained row's hash (:data:`~portsift.store.audit_chain.GENESIS` when
            none is) and the ids, increasing.
        """
        if self._postgresql:
            numbered = _run(conn, self._start, (self._sequence, count))
            previous, top = numbered[0][0], numbered[0][2]
            ids = sorted(int(row[1]) for row in numbered)
            if top is not None and ids[0] <= top:
                # A row was inserted with an explicit id past the sequence (by hand, or an
                # import): move the sequence beyond it rather than collide with it forever.
                _run(conn, self._catch_up, (self._sequence, top))
                ids = sorted(
                    int(row[1]) for row in _run(conn, self._start, (self._sequence, count))
                )
        else:
            ((previous, top),) = _run(conn, self._start, ())
            ids = list(range((top or 0) + 1, (top or 0) + 1 + count))
        return previous or GENESIS, ids

    def latest_inputs(
        self, conn: Connection, declaration_ids: Iterable[str]
    ) -> list[tuple[int, str, str]]:
        """``(id, declaration_id, input_sha256)`` of each declaration's latest decision.

        Args:
            conn: A connection inside a transaction.
            declaration_ids: The declarations.

        Returns:
            One tuple per declaration that has a decision.
        """
        found: list[tuple[int, str, str]] = []
        for chunk in chunks(declaration_ids):
            if self._postgresql:
                rows = _run(conn, self._latest, (chunk,))
            else:
                marks = ", ".join("?" * len(chunk))
                rows = _run(conn, self._latest.format(f"IN ({marks})"), chunk)
            found.extend((int(r[0]), str(r[1]), str(r[2])) for r in rows)
        return found

    def insert(self, conn: Connection, values: Sequence[Mapping[str, Any]]) -> None:
        """Insert rows (every row with the same keys) in one ``executemany``.

        The statement is compiled once per writer and dialect, and each value goes
        through its column type's own bind processor, as ``conn.execute(insert(table),
        values)`` would do; it runs through ``exec_driver_sql``, so the engine's events
        and error wrapping still see it, without SQLAlchemy's per-call compile-cache
        lookup and parameter processing (most of an insert's cost for one row).

        Args:
            conn: A connection after :meth:`lock`.
            values: The rows, by column key, the keys of the first row in every row.
        """
        keys = tuple(values[0])
        prepared = self._inserts.get(keys)
        if prepared is None:
            prepared = _prepared_insert(self.table, keys, conn.dialect)
            self._inserts[keys] = prepared
        sql, names, processors, positional = prepared
        # Column by column: one list per column, its processor (when it has one) mapped
        # over it, then the columns zipped into rows; not a generator per row and value.
        columns = []
        for name, process in zip(names, processors, strict=True):
            column = [row[name] for row in values]
            columns.append(column if process is None else list(map(process, column)))
        rows: list[Any] = list(zip(*columns, strict=True))
        if not positional:
            # qmark (sqlite3) takes a tuple, pyformat (psycopg) a mapping by bind name.
            rows = [dict(zip(names, bound, strict=True)) for bound in rows]
        conn.exec_driver_sql(sql, rows if len(rows) > 1 else rows[0])


#: A compiled INSERT: its SQL, the parameter names in order, their bind processors, and
#: whether the driver takes positional parameters.
_PreparedInsert = tuple[str, tuple[str, ...], tuple[Callable[[Any], Any] | None, ...], bool]


def _prepared_insert(table: Table, keys: Sequence[str], dialect: Dialect) -> _PreparedInsert:
    """The INSERT of these columns of ``table`` for ``dialect``, and how to bind it."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
    # An INSERT's bind parameters are named after the column keys.
    names = tuple(compiled.positiontup) if compiled.positiontup else tuple(keys)
    processors = tuple(
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    )
    return compiled.string, names, processors, bool(compiled.positional)


def _run(conn: Connection, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run one statement on the transaction's DBAPI connection; driver errors wrapped."""
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, tuple(parameters))
        return list(cursor.fetchall())
    except dbapi.Error as err:
        raise DBAPIError.instance(sql, parameters, err, dbapi.Error) from err
    finally:
        cursor.close()


def prepare_writers(conn: Connection, tables: Sequence[Table]) -> dict[str, ChainWriter]:
    """A :class:`ChainWriter` for each table (on PostgreSQL, found its id sequence).

    Args:
        conn: A connection to the store, the tables created.
        tables: ``decisions`` and ``feedback``.

    Returns:
        The writers by table name.
    """
    writers: dict[str, ChainWriter] = {}
    for table in tables:
        sequence = None
        if conn.dialect.name == "postgresql":
            qualified = f"{table.schema}.{table.name}" if table.schema else table.name
            sequence = conn.execute(
                select(func.pg_get_serial_sequence(qualified, "id"))
            ).scalar_one()
        writers[table.name] = ChainWriter(table, conn.dialect.name, sequence)
    return writers


def append_decisions(
    conn: Connection,
    writer: ChainWriter,
    rows: Sequence[DecisionRecord],
    texts: Sequence[str],
    *,
    now: datetime,
    skip_repeats: bool,
) -> list[DecisionResult]:
    """Judge each row against its declaration's latest decision, then chain and insert.

    Args:
        conn: A connection after the writer's :meth:`~ChainWriter.lock`.
        writer: The ``decisions`` table's writer.
        rows: The batch, in chain order (request ids distinct).
        texts: Each row's decision JSON.
        now: ``recorded_at`` of rows that carry none.
        skip_repeats: Whether a repeat is left unwritten (else written as new).

    Returns:
        One result per row, in row order.

    Raises:
        DuplicateRequestError: When a repeat's request id is already on record.
    """
    table = writer.table
    latest: dict[str, tuple[_Ref, str]] = {
        declaration_id: (("db", row_id), sha)
        for row_id, declaration_id, sha in writer.latest_inputs(
            conn, [row.declaration_id for row in rows]
        )
    }
    plan: list[tuple[DecisionKind, _Ref | None]] = []
    inserts: list[int] = []  # positions (in rows) of the rows to write
    for position, row in enumerate(rows):
        known = latest.get(row.declaration_id)
        if known is not None and known[1] == row.input_sha256 and skip_repeats:
            plan.append(("repeat", known[0]))
            continue
        amended = known is not None and known[1] != row.input_sha256
        plan.append(("amendment", known[0]) if amended and known else ("new", None))
        latest[row.declaration_id] = (("batch", len(inserts)), row.input_sha256)
        inserts.append(position)

    values: list[dict[str, Any]] = []
    if inserts:
        previous, ids = writer.start(conn, len(inserts))
        for row_id, position in zip(ids, inserts, strict=True):
            row, amends = rows[position], plan[position][1]
            values.append(
                {
                    "id": row_id,
                    "request_id": row.request_id,
                    "recorded_at": (row.recorded_at or now).astimezone(UTC),
                    "declaration_id": row.declaration_id,
                    "input_sha256": row.input_sha256,
                    "decision": texts[position],
                    "model_version": row.model_version,
                    "policy_version": row.policy_version,
                    "credential": row.credential,
                    "idempotency_key": row.idempotency_key,
                    "amends": None if amends is None else _row_id(amends, ids),
                    "declared_value": row.declared_value,
                    "customs_office": row.customs_office,
                    "importer_id": row.importer_id,
                    "selected": row.selected,
                }
            )
        chain_rows("decisions", values, previous)
        writer.insert(conn, values)
    written = [StoredDecision(**_stored_fields(value)) for value in values]

    repeats = [position for position, (kind, _) in enumerate(plan) if kind == "repeat"]
    on_record: dict[int, StoredDecision] = {}
    if repeats:
        # A repeat writes nothing, so the unique index cannot refuse its request id.
        taken = existing_request_ids(conn, table, [rows[p].request_id for p in repeats])
        if taken:
            raise DuplicateRequestError(taken)
        earlier = sorted({ref[1] for _, ref in plan if ref is not None and ref[0] == "db"})
        found = conn.execute(select(table).where(table.c.id.in_(earlier)))
        on_record = {row.id: stored_decision(row) for row in found}
    results: list[DecisionResult] = []
    next_written = iter(written)
    for kind, ref in plan:
        if kind != "repeat":
            results.append(DecisionResult(kind, next(next_written)))
        elif ref is not None and ref[0] == "batch":
            results.append(DecisionResult(kind, written[ref[1]]))
        elif ref is not None:
            results.append(DecisionResult(kind, on_record[ref[1]]))
    return results


def append_feedback(
    conn: Connection, writer: ChainWriter, outcome: Mapping[str, Any]
) -> FeedbackResult:
    """Judge an outcome against the same sender's latest one, then chain and insert.

    The sender is the credential and, for the officer console, the officer: the same
    officer sending the same outcome again writes nothing, a changed one supersedes.

    Args:
        conn: A connection after the writer's :meth:`~ChainWriter.lock`.
        writer: The ``feedback`` table's writer.
        outcome: Every column but ``id``, ``corrects`` and the chain fields, checked.

    Returns:
        What was done.
    """
    table = writer.table
    sender = [
        table.c[name].is_(None) if outcome.get(name) is None else table.c[name] == outcome[name]
        for name in ("credential", "officer_id")
    ]
    last = conn.execute(
        select(table.c.id, *(table.c[name] for name in _JUDGED), table.c.corrects)
        .where(table.c.declaration_id == outcome["declaration_id"], *sender)
        .order_by(table.c.id.desc())
        .limit(1)
    ).one_or_none()
    said = tuple(outcome.get(name) for name in _JUDGED)
    if last is not None and tuple(last[1 : 1 + len(_JUDGED)]) == said:
        return FeedbackResult(int(last.id), "repeat", last.corrects)
    corrects = None if last is None else int(last.id)
    previous, (row_id,) = writer.start(conn, 1)
    values = {**outcome, "id": row_id, "corrects": corrects}
    chain_rows("feedback", [values], previous)
    conn.execute(insert(table).values(values))
    return FeedbackResult(row_id, "new" if corrects is None else "correction", corrects)


def existing_request_ids(conn: Connection, table: Table, request_ids: Sequence[str]) -> list[str]:
    """Which of these request ids are on record, in the order given.

    Args:
        conn: A connection inside a transaction.
        table: The ``decisions`` table.
        request_ids: The ids.

    Returns:
        The ids found.
    """
    found: set[str] = set()
    for chunk in chunks(request_ids):
        statement = select(table.c.request_id).where(table.c.request_id.in_(chunk))
        found.update(conn.execute(statement).scalars())
    return [request_id for request_id in request_ids if request_id in found]


def stored_decision(row: Row[Any]) -> StoredDecision:
    """A ``decisions`` row as a :class:`StoredDecision`.

    Args:
        row: A row selected with every column of the table.

    Returns:
        The stored decision.
    """
    return StoredDecision(**_stored_fields(row._mapping))


def chunks(values: Iterable[str]) -> Iterator[list[str]]:
    """The distinct values, :data:`IN_CHUNK` at a time, in first-seen order.

    Args:
        values: The values.

    Yields:
        Lists of at most :data:`IN_CHUNK` values.
    """
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), IN_CHUNK):
        yield unique[start : start + IN_CHUNK]


def _row_id(ref: _Ref, ids: Sequence[int]) -> int:
    return ids[ref[1]] if ref[0] == "batch" else ref[1]


def _stored_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    fields = dict(values)
    fields["decision_json"] = fields.pop("decision")
    return fields


__all__ = [
    "CHAIN_LOCK_KEYS",
    "CREATE_LOCK_KEY",
    "IN_CHUNK",
    "ChainWriter",
    "append_decisions",
    "append_feedback",
    "chunks",
    "existing_request_ids",
    "prepare_writers",
    "stored_decision",
]
