"""Checking the audit tables' hash chain: what was edited, deleted or moved, and where.

:func:`verify_table` streams a table in ``id`` order, in chunks, inside one read
transaction, recomputes each row's hash (:mod:`portsift.store.audit_chain`) and follows
the links; it keeps only the chain's state, so memory does not grow with the table. The
first problem is classified:

``edited``
    the row's content does not match its ``chain_hash``;
``missing``
    its ``chain_prev`` matches no row's hash: the row before it was deleted (or changed
    and its own hash recomputed);
``reordered``
    its ``chain_prev`` is the hash of another row, not of the row before it (rows were
    swapped or moved);
``unchained``
    a row without chain fields after the chain began (written by a writer of the
    previous version after the upgrade, or inserted behind the store's back);
``truncated``, ``rewritten``
    an expected head (``ID:HASH`` recorded earlier) is not in the chain: there is no row
    with that id and the last row is older (rows at the end were deleted), or the row
    has another hash (the chain was recomputed from there on or earlier).

Rows with neither ``chain_prev`` nor ``chain_hash`` before the first chained row are rows
from before the chain (a store upgraded from the previous version): counted, not checked.
A chain alone cannot show that its last rows were deleted; only a head recorded outside
the database can.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Self

from sqlalchemy import ColumnElement, Connection, String, Table, cast, func, literal, select

from portsift.store.audit_chain import CHAIN_FIELDS, GENESIS, content_hash

#: How a broken chain is classified (see the module docstring).
ProblemKind = Literal["edited", "missing", "reordered", "unchained", "truncated", "rewritten"]

#: Rows fetched from the database at a time.
DEFAULT_CHUNK_ROWS: Final[int] = 5_000

_HEAD = re.compile(r"(?:(?P<table>[a-z_]+)=)?(?P<id>[0-9]+):(?P<hash>[0-9a-f]{64})")


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last row of a chain: its id and hash, written ``ID:HASH``.

    Attributes:
        id: Row id.
        hash: The row's ``chain_hash``.
    """

    id: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read ``ID:HASH`` (64 lower-case hex digits).

        Args:
            text: The head as :meth:`__str__` writes it.

        Returns:
            The head.

        Raises:
            ValueError: When the text is not of that form.
        """
        match = _HEAD.fullmatch(text.strip())
        if match is None or match.group("table"):
            raise ValueError(f"{text!r} is not a chain head ID:HASH (HASH: 64 hex digits)")
        return cls(int(match.group("id")), match.group("hash"))

    def __str__(self) -> str:
        return f"{self.id}:{self.hash}"


def parse_heads(texts: Iterable[str], tables: Sequence[str]) -> dict[str, ChainHead]:
    """Read expected heads given as ``TABLE=ID:HASH`` or ``ID:HASH`` (the first table).

    Args:
        texts: The heads.
        tables: The table names, the default one first.

    Returns:
        The expected head of each table named.

    Raises:
        ValueError: On a malformed head, an unknown table or two heads for one table.
    """
    heads: dict[str, ChainHead] = {}
    for text in texts:
        match = _HEAD.fullmatch(text.strip())
        if match is None:
            raise ValueError(
                f"{text!r} is not a chain head [TABLE=]ID:HASH (HASH: 64 lower-case hex digits)"
            )
        table = match.group("table") or tables[0]
        if table not in tables:
            raise ValueError(f"{text!r}: no table {table!r} (tables: {', '.join(tables)})")
        if table in heads:
            raise ValueError(f"two expected heads for the table {table!r}")
        heads[table] = ChainHead(int(match.group("id")), match.group("hash"))
    return heads


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """The first place where a table's chain does not hold.

    Attributes:
        kind: What is wrong (:data:`ProblemKind`).
        id: The row where it shows (for ``truncated``, the expected head's id).
        detail: One sentence for a person.
    """

    kind: ProblemKind
    id: int
    detail: str


@dataclass(frozen=True, slots=True)
class TableReport:
    """What :func:`verify_table` found in one table.

    Attributes:
        table: ``"decisions"`` or ``"feedback"``.
        checked: Rows whose hash and link were checked.
        before_chain: Rows from before the chain (no chain fields), not checkable.
        head: The last chained row (``None`` when no row is chained yet).
        problem: The first problem, ``None`` when the chain is intact.
        problems: How many rows showed a problem (an expected head that is not in the
            chain counts as one).
        expected_head: The head the chain was checked to contain, if one was given.
    """

    table: str
    checked: int
    before_chain: int
    head: ChainHead | None
    problem: ChainProblem | None = None
    problems: int = 0
    expected_head: ChainHead | None = None

    @property
    def ok(self) -> bool:
        """Whether the chain is intact (and contains the expected head, if given)."""
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values.

        Returns:
            ``table``, ``ok``, ``checked``, ``before_chain``, ``head`` (``ID:HASH`` or
            ``None``), ``expected_head``, ``problems`` and ``problem`` (``kind``, ``id``,
            ``detail``, or ``None``).
        """
        problem = self.problem
        return {
            "table": self.table,
            "ok": self.ok,
            "checked": self.checked,
            "before_chain": self.before_chain,
            "head": None if self.head is None else str(self.head),
            "expected_head": None if self.expected_head is None else str(self.expected_head),
            "problems": self.problems,
            "problem": None
            if problem is None
            else {"kind": problem.kind, "id": problem.id, "detail": problem.detail},
        }


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What :meth:`~portsift.store.audit.AuditStore.verify` found, one report per table.

    Attributes:
        tables: The reports, ``decisions`` first.
    """

    tables: tuple[TableReport, ...]

    @property
    def ok(self) -> bool:
        """Whether every table's chain is intact."""
        return all(report.ok for report in self.tables)

    def __getitem__(self, table: str) -> TableReport:
        for report in self.tables:
            if report.table == table:
                return report
        raise KeyError(table)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values: ``ok``, and ``tables`` as ``TableReport.to_dict``.

        Returns:
            The mapping.
        """
        return {"ok": self.ok, "tables": [report.to_dict() for report in self.tables]}


# ------------------------------------------------------------------------------ checking


class _ChainWalk:
    """The state of one walk along a table's chain, fed rows in id order."""

    def __init__(self, table: str, expected: ChainHead | None) -> None:
        self.table = table
        self.expected = expected
        self.checked = 0
        self.before_chain = 0
        self.previous: str | None = None  # hash of the last chained row seen
        self.head: ChainHead | None = None
        self.problem: ChainProblem | None = None
        self.problems = 0
        # The first broken link, classified afterwards with one query: (id, chain_prev).
        self.broken_link: tuple[int, str | None] | None = None
        self.expected_seen = False
        self.last_id: int | None = None

    def feed(self, rows: Sequence[Sequence[Any]]) -> None:
        """Check rows of ``(id, chain_hash, *content)``, content in CHAIN_FIELDS order."""
        table = self.table
        prev_position = CHAIN_FIELDS[table].index("chain_prev") + 2
        expected = self.expected
        for row in rows:
            row_id, stored = row[0], row[1]
            self.last_id = row_id
            chain_prev = row[prev_position]
            if expected is not None and row_id == expected.id:
                self.expected_seen = True
                if stored != expected.hash:
                    self._report(
                        "rewritten",
                        row_id,
                        f"the expected head {expected} is not in the chain: row {row_id} now "
                        f"has the hash {stored}; the chain was recomputed from there on or "
                        "earlier",
                    )
            if stored is None and chain_prev is None:
                if self.previous is None:
                    self.before_chain += 1
                else:
                    self._report(
                        "unchained",
                        row_id,
                        f"row {row_id} has no chain fields but comes after the chain began "
                        "(a writer of the previous version, or a row inserted around the store)",
                    )
                continue
            self.checked += 1
            if content_hash(table, row[2:]) != stored:
                self._report(
                    "edited", row_id, f"the content of row {row_id} does not match its hash"
                )
            elif chain_prev != (GENESIS if self.previous is None else self.previous):
                self.problems += 1
                if self.problem is None and self.broken_link is None:
                    self.broken_link = (row_id, chain_prev)
            self.previous = stored
            self.head = ChainHead(row_id, stored)

    def _report(self, kind: ProblemKind, row_id: int, detail: str) -> None:
        self.problems += 1
        if self.problem is None and self.broken_link is None:
            self.problem = ChainProblem(kind, row_id, detail)

    def finish(self, link_to: int | None) -> TableReport:
        """The report; ``link_to`` is the id of the row whose hash the broken link names."""
        problem = self.problem
        if self.broken_link is not None:
            row_id, chain_prev = self.broken_link
            if link_to is not None:
                problem = ChainProblem(
                    "reordered",
                    row_id,
                    f"row {row_id} links to row {link_to}, not to the row before it: "
                    "rows were swapped or moved",
                )
            else:
                problem = ChainProblem(
                    "missing",
                    row_id,
                    f"row {row_id} links to a row that is not in the table (chain_prev "
                    f"{chain_prev}): the row before it was deleted, or changed and its hash "
                    "recomputed",
                )
        expected = self.expected
        problems = self.problems
        if expected is not None and not self.expected_seen:
            problems += 1
            if problem is None:
                last = "it is empty" if self.last_id is None else f"its last row is {self.last_id}"
                kind: ProblemKind = "truncated"
                detail = (
                    f"the expected head {expected} is not in the chain: the table has no row "
                    f"{expected.id} and {last}"
                )
                if self.last_id is not None and self.last_id > expected.id:
                    kind = "rewritten"
                    detail += "; the chain was recomputed around the deleted row"
                else:
                    detail += ": rows at the end were deleted"
                problem = ChainProblem(kind, expected.id, detail)
        return TableReport(
            table=self.table,
            checked=self.checked,
            before_chain=self.before_chain,
            head=self.head,
            problem=problem,
            problems=problems,
            expected_head=expected,
        )


def _timestamp_text(column: ColumnElement[Any], dialect: str) -> ColumnElement[str]:
    """SQL giving a stored timestamp as :func:`~portsift.store.audit_chain.timestamp_text` does.

    Formatted by the database, so that the verifier reads text instead of building a
    datetime for every row. SQLite holds the UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``.
    """
    if dialect == "postgresql":
        return func.to_char(
            func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"', type_=String
        )
    return func.replace(cast(column, String), " ", "T").concat(literal("+00:00", String))


def verify_table(
    conn: Connection,
    table: Table,
    *,
    expected: ChainHead | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> TableReport:
    """Walk one table's chain inside the caller's read transaction.

    Args:
        conn: A connection inside a read transaction (one snapshot for the whole walk).
        table: ``decisions`` or ``feedback``.
        expected: A head recorded earlier that the chain must contain.
        chunk_rows: Rows fetched at a time.

    Returns:
        The table's report.
    """
    dialect = conn.dialect.name
    timestamps = {"recorded_at", "received_at"}
    content = [
        _timestamp_text(table.c[name], dialect) if name in timestamps else table.c[name]
        for name in CHAIN_FIELDS[table.name]
    ]
    statement = select(table.c.id, table.c.chain_hash, *content).order_by(table.c.id)
    walk = _ChainWalk(table.name, expected)
    result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(statement)
    for chunk in result.partitions():
        walk.feed(chunk)
    link_to = None
    if walk.broken_link is not None and walk.broken_link[1] is not None:
        link_to = conn.execute(
            select(func.min(table.c.id)).where(table.c.chain_hash == walk.broken_link[1])
        ).scalar_one_or_none()
    return walk.finish(link_to)


def verify_tables(
    conn: Connection,
    tables: Sequence[Table],
    *,
    heads: Mapping[str, ChainHead] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> VerifyReport:
    """Walk the chain of each table inside the caller's read transaction.

    Args:
        conn: A connection inside a read transaction.
        tables: The tables, in report order.
        heads: Expected heads by table name.
        chunk_rows: Rows fetched at a time.

    Returns:
        The report of every table.

    Raises:
        ValueError: When ``heads`` names a table that is not checked.
    """
    heads = dict(heads or {})
    unknown = set(heads) - {table.name for table in tables}
    if unknown:
        raise ValueError(f"expected heads of unknown tables: {sorted(unknown)}")
    return VerifyReport(
        tuple(
            verify_table(conn, table, expected=heads.get(table.name), chunk_rows=chunk_rows)
            for table in tables
        )
    )


__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "ChainHead",
    "ChainProblem",
    "ProblemKind",
    "TableReport",
    "VerifyReport",
    "parse_heads",
    "verify_table",
    "verify_tables",
]
