"""The append-only, hash-chained audit store: every decision the API returns, and feedback.

The API commits each decision here *before* it answers, so that a decision a caller
received can always be produced again when a trader challenges it or the administration
audits it. SQLAlchemy Core on SQLite (the default, ``sqlite:///portsift-audit.db``: WAL,
``synchronous=FULL``, ``BEGIN IMMEDIATE`` writers) or PostgreSQL through psycopg 3
(``synchronous_commit`` on); :mod:`portsift.store.audit_engines` sets up each.

There is no method that updates or deletes a row, and triggers reject ``UPDATE`` and
``DELETE`` (and ``TRUNCATE``). Whoever holds the database can drop them, so each table is
also a **hash chain** in ``id`` order (:mod:`portsift.store.audit_chain`), extended inside
the write transaction under the table's writer lock (``BEGIN IMMEDIATE``; on PostgreSQL
an advisory lock per table), and :meth:`AuditStore.verify` names the first row edited,
deleted or moved (:mod:`portsift.store.audit_verify`).

Corrections are new rows. A decision is judged against the declaration's latest one: the
same input is a *repeat* (with ``skip_repeats`` nothing is written and the decision on
record is returned), another input an *amendment* (``amends``). An outcome is judged
against the same credential's latest one: the same values are a repeat (nothing
written), others a *correction* (``corrects``). :mod:`portsift.store.audit_writes` does
both inside the transaction.

Tables, created if missing (idempotent; safe when several processes start at once); a
store created by the previous version gains the new columns at open (``ALTER TABLE ...
ADD COLUMN``, :func:`~portsift.store.audit_tables.upgrade_tables`), and its earlier rows,
with no chain fields, are counted by ``verify`` as "before the chain":

``decisions``
    ``id`` (autoincrement), ``request_id`` (unique), ``recorded_at`` (UTC),
    ``declaration_id``, ``input_sha256`` (``input_hash`` of the input declaration),
    ``decision`` (JSON text of the full decision), ``model_version``, ``policy_version``,
    ``credential`` (the API credential that asked), ``idempotency_key`` (not unique: one
    key covers every row of a batch request; indexed with ``credential``), ``amends``,
    ``declared_value`` (the declaration's, to check outcomes against), ``chain_prev``,
    ``chain_hash``, ``customs_office`` and ``importer_id`` (the declaration's, for the
    console's queue and the enterprise's history).
``feedback``
    ``id``, ``received_at`` (UTC), ``declaration_id``, ``inspected``, ``illicit``,
    ``revenue``, ``source``, ``credential``, ``request_id`` (the HTTP request id),
    ``corrects``, ``chain_prev``, ``chain_hash``, and from the officer console
    ``officer_id``, ``violation_kind``, ``voluntary_disclosure``, ``note``.

The records a caller builds and reads back, the results and the errors are in
:mod:`portsift.store.audit_records`; the tables, their triggers and their upgrade in
:mod:`portsift.store.audit_tables`; the DataFrames in :mod:`portsift.store.audit_frames`.

Example:
    >>> from portsift.store.audit_records import DecisionRecord  # doctest: +SKIP
    >>> store = AuditStore.from_url("sqlite:///audit.db")  # doctest: +SKIP
    >>> record = DecisionRecord.from_request(  # doctest: +SKIP
    ...     request_id="req-1",
    ...     declaration={"declaration_id": "D1", "declared_value": 1200.0},
    ...     decision={"declaration_id": "D1", "risk_score": 0.12},
    ...     model_version="m-3",
    ...     policy_version="p-1",
    ...     credential="broker-portal",
    ... )
    >>> [result] = store.record_decisions([record])  # durable when it returns  # doctest: +SKIP
    >>> result.kind, result.stored.id  # doctest: +SKIP
    ('new', 1)
    >>> store.verify().ok  # doctest: +SKIP
    True
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Self

from sqlalchemy import Connection, Engine, Table, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from portsift.store import audit_writes
from portsift.store.audit_console import ConsoleReads
from portsift.store.audit_engines import WRITE_OPTION, postgresql_engine, sqlite_engine
from portsift.store.audit_frames import DECISION_COLUMNS, FEEDBACK_COLUMNS
from portsift.store.audit_records import (
    MAX_CREDENTIAL_LENGTH,
    MAX_NOTE_LENGTH,
    MAX_OFFICER_ID_LENGTH,
    MAX_REQUEST_ID_LENGTH,
    VIOLATION_KINDS,
    AuditError,
    DecisionRecord,
    DecisionResult,
    DuplicateRequestError,
    FeedbackResult,
    StoredDecision,
    check_label,
    require_aware,
)
from portsift.store.audit_tables import build_tables, check_tables, upgrade_tables
from portsift.store.audit_verify import DEFAULT_CHUNK_ROWS, ChainHead, VerifyReport, verify_tables
from portsift.store.audit_writes import IN_CHUNK, chunks, stored_decision

if TYPE_CHECKING:
    import pandas as pd

#: Environment variable holding the SQLAlchemy URL of the audit store.
AUDIT_URL_ENV: Final[str] = "PORTSIFT_AUDIT_URL"
#: URL used when neither an argument nor the environment names one.
DEFAULT_AUDIT_URL: Final[str] = "sqlite:///portsift-audit.db"
#: How long a SQLite writer waits for another process's write lock, in milliseconds.
DEFAULT_BUSY_TIMEOUT_MS: Final[int] = 30_000

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class AuditStore(ConsoleReads):
    """Append-only, hash-chained store of decisions and inspection feedback.

    Open it with :meth:`from_url`. One instance holds a connection pool and may be used
    from several threads; in a server with worker processes, open one per process after
    the fork (connections must not cross a ``fork``).

    There are deliberately no update or delete methods (see the module docstring).
    """

    def __init__(self, engine: Engine, *, schema: str | None = None, create: bool = True) -> None:
        """Wrap an engine that :meth:`from_url` configured; creates or upgrades the tables.

        Args:
            engine: A SQLAlchemy engine with the portsift connection hooks installed.
            schema: PostgreSQL schema holding the tables (``None``: the default one).
            create: Whether to create missing tables and upgrade old ones (else they
                must exist as this version writes them).
        """
        self._engine = engine
        self._schema = schema
        self._metadata, self._decisions, self._feedback = build_tables(schema)
        self._writers: dict[str, audit_writes.ChainWriter] = {}
        self._upgraded: tuple[str, ...] = ()
        if create:
            self._create_tables()
        else:
            self._open_existing()

    # ------------------------------------------------------------------ opening

    @classmethod
    def from_url(
        cls,
        url: str | URL | None = None,
        *,
        schema: str | None = None,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        create: bool = True,
    ) -> Self:
        """Open (and if needed create or upgrade) the audit store at a SQLAlchemy URL.

        Args:
            url: ``sqlite:///path.db`` or ``postgresql+psycopg://user@host:port/db``.
                ``None`` reads ``PORTSIFT_AUDIT_URL``, else uses
                ``sqlite:///portsift-audit.db`` in the working directory.
            schema: PostgreSQL only: a schema to hold the tables (created if missing),
                e.g. to keep test runs apart. A plain identifier.
            busy_timeout_ms: SQLite only: how long a writer waits for the write lock.
            create: ``False`` opens an existing store only, without any DDL (for
                readers such as ``portsift audit verify``, possibly with a read-only
                role): a missing file or table, or a store that an earlier version
                created and no current process has opened yet, is an ``AuditError``.

        Returns:
            The open store.

        Raises:
            ValueError: On a URL that does not parse or is unsupported (other back ends,
                in-memory SQLite), or a schema with SQLite or not a plain identifier.
            AuditError: When the database cannot be reached or the tables not created.
        """
        if url is None:
            url = os.environ.get(AUDIT_URL_ENV) or DEFAULT_AUDIT_URL
        try:
            parsed = make_url(url)
        except ArgumentError as err:
            raise ValueError(f"the audit store URL does not parse: {err}") from err
        backend = parsed.get_backend_name()
        if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"audit schema {schema!r} is not a plain SQL identifier")
        if backend == "sqlite":
            if schema is not None:
                raise ValueError("an audit schema is only supported on PostgreSQL")
            engine = sqlite_engine(parsed, busy_timeout_ms, create=create)
        elif backend == "postgresql":
            engine = postgresql_engine(parsed)
        else:
            raise ValueError(
                f"unsupported audit store URL {parsed.render_as_string(hide_password=True)!r}: "
                "use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB"
            )
        try:
            return cls(engine, schema=schema, create=create)
        except AuditError:
            engine.dispose()
            raise
        except SQLAlchemyError as err:
            engine.dispose()
            raise AuditError(
                f"cannot open the audit store at {engine.url.render_as_string(hide_password=True)}"
                f": {err}"
            ) from err

    def _create_tables(self) -> None:
        tables = (self._decisions, self._feedback)
        with self._write() as conn:
            if self.dialect == "postgresql":
                # DDL is transactional in PostgreSQL, but two CREATE TABLEs racing still
                # collide; the advisory lock lets one process create and the rest see it.
                conn.execute(select(func.pg_advisory_xact_lock(audit_writes.CREATE_LOCK_KEY)))
                if self._schema is not None:
                    conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {self._schema}"))
            # On SQLite the BEGIN IMMEDIATE of _write() serialises creators the same way.
            self._metadata.create_all(conn, checkfirst=True)
            self._upgraded = tuple(upgrade_tables(conn, tables))
            self._writers = audit_writes.prepare_writers(conn, tables)

    def _open_existing(self) -> None:
        with self._read() as conn:
            check_tables(conn, (self._decisions, self._feedback), self.url)
            self._writers = audit_writes.prepare_writers(conn, (self._decisions, self._feedback))

    # --------------------------------------------------------------- properties

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for health checks and tests; do not write through it)."""
        return self._engine

    @property
    def url(self) -> str:
        """The store's URL with any password masked."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def schema(self) -> str | None:
        """The PostgreSQL schema holding the tables, if one was given."""
        return self._schema

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @property
    def upgraded(self) -> tuple[str, ...]:
        """What opening added to a store of an earlier version (``table.column`` names)."""
        return self._upgraded

    # ------------------------------------------------------------------ writing

    def record_decisions(
        self, rows: Sequence[DecisionRecord], *, skip_repeats: bool = False
    ) -> list[DecisionResult]:
        """Append a batch of decisions in one transaction, durable when this returns.

        Each row is judged, inside the transaction, against the latest decision (the
        greatest id) of its declaration, or against an earlier row of the batch for the
        same declaration: an input with another ``input_sha256`` is an **amendment**
        (written with ``amends`` set to that decision's id); the same input is a
        **repeat**; a declaration without a decision is **new**. Either every row to be
        written is committed or none is. An empty batch is a no-op.

        Args:
            rows: The decisions, in the order they are chained.
            skip_repeats: ``True``: a repeat is not written and its result carries the
                decision on record (the caller answers with that one). ``False`` (the
                default, for callers that answer with the decision they computed, so that
                every answer is on record): a repeat is written like a new row.

        Returns:
            One result per row, in row order.

        Raises:
            DuplicateRequestError: When a request id is already recorded or appears twice
                in the batch (nothing is written), a repeat's included.
            AuditError: When the database refuses the batch for another reason.
            ValueError: When a decision cannot be serialised.
        """
        if not rows:
            return []
        counts = Counter(row.request_id for row in rows)
        repeated = [request_id for request_id, count in counts.items() if count > 1]
        if repeated:
            raise DuplicateRequestError(repeated)
        texts = [row.decision_json() for row in rows]  # refused here, before any write
        now = _utcnow()
        table = self._decisions
        try:
            with self._write(chain=table) as conn:
                results = audit_writes.append_decisions(
                    conn, self._writers[table.name], rows, texts, now=now, skip_repeats=skip_repeats
                )
        except IntegrityError as err:
            existing = self._existing_request_ids([row.request_id for row in rows])
            if existing:
                raise DuplicateRequestError(existing) from err
            raise AuditError(f"the audit store refused the batch: {err.orig}") from err
        except SQLAlchemyError as err:
            raise AuditError(f"could not record {len(rows)} decision(s): {err}") from err
        return results

    def record_feedback(
        self,
        declaration_id: str,
        *,
        inspected: bool,
        illicit: bool | None = None,
        revenue: float | None = None,
        source: str | None = None,
        received_at: datetime | None = None,
        credential: str | None = None,
        request_id: str | None = None,
        officer_id: str | None = None,
        violation_kind: str | None = None,
        voluntary_disclosure: bool | None = None,
        note: str | None = None,
    ) -> FeedbackResult:
        """Append one inspection outcome, durable when this returns.

        The outcome is judged, inside the write transaction, against the latest outcome
        (greatest id) from the same credential and officer (``None`` counts as one) for
        the declaration: the same ``(inspected, illicit, revenue)`` and the same console
        fields (kind, disclosure, note) are a **repeat** and nothing is written; other
        values are a **correction** (written with ``corrects`` set to that outcome's
        id); otherwise the outcome is **new**. A later outcome supersedes an earlier one
        in :meth:`feedback_frame`; all stay on record.

        Args:
            declaration_id: The declaration.
            inspected: Whether it was inspected.
            illicit: Whether the inspection found a violation (``None``: unknown).
            revenue: Duty raised by the inspection, non-negative (``None``: unknown).
            source: Who sent it (free text, e.g. the calling system).
            received_at: When it was received (time zone aware); default now.
            credential: Name of the API credential that sent it (at most 64 characters).
            request_id: The HTTP request id (at most 128 characters).
            officer_id: The officer who recorded it in the console (at most 64 characters).
            violation_kind: What the violation was, one of :data:`VIOLATION_KINDS` (only
                with ``illicit``).
            voluntary_disclosure: Whether the enterprise disclosed it before the
                inspection (``None``: not said).
            note: The officer's free-text note (at most 2,000 characters).

        Returns:
            The outcome on record, its kind and what it corrects (``int(result)`` is the
            row id).

        Raises:
            ValueError: On an empty declaration id, negative or non-finite revenue, an
                outcome claiming a violation or revenue without an inspection, a
                credential, request id or officer id that is blank or too long, a kind
                not in :data:`VIOLATION_KINDS` or without a violation, or a note too long.
            AuditError: When the database refuses the row.
        """
        if not isinstance(declaration_id, str) or not declaration_id:
            raise ValueError("feedback declaration_id must be a non-empty string")
        if revenue is not None:
            revenue = float(revenue)
            if not math.isfinite(revenue) or revenue < 0:
                raise ValueError(f"feedback revenue must be finite and >= 0, got {revenue!r}")
        if not inspected and (illicit or (revenue is not None and revenue > 0)):
            raise ValueError(
                "feedback for an uninspected declaration cannot report a violation or revenue"
            )
        if received_at is not None:
            require_aware(received_at, "received_at")
        check_label(credential, "feedback credential", MAX_CREDENTIAL_LENGTH)
        check_label(request_id, "feedback request_id", MAX_REQUEST_ID_LENGTH)
        check_label(officer_id, "feedback officer_id", MAX_OFFICER_ID_LENGTH)
        if violation_kind is not None:
            if violation_kind not in VIOLATION_KINDS:
                raise ValueError(
                    f"feedback violation_kind must be one of {', '.join(VIOLATION_KINDS)}, "
                    f"got {violation_kind!r}"
                )
            if not illicit:
                raise ValueError("feedback violation_kind is only given with a violation")
        if note is not None and len(note) > MAX_NOTE_LENGTH:
            raise ValueError(
                f"feedback note is {len(note)} characters long; at most {MAX_NOTE_LENGTH}"
            )
        outcome = {
            "received_at": (received_at or _utcnow()).astimezone(UTC),
            "declaration_id": declaration_id,
            "inspected": bool(inspected),
            "illicit": None if illicit is None else bool(illicit),
            "revenue": revenue,
            "source": source,
            "credential": credential,
            "request_id": request_id,
            "officer_id": officer_id,
            "violation_kind": violation_kind,
            "voluntary_disclosure": None
            if voluntary_disclosure is None
            else bool(voluntary_disclosure),
            "note": note or None,
        }
        table = self._feedback
        try:
            with self._write(chain=table) as conn:
                return audit_writes.append_feedback(conn, self._writers[table.name], outcome)
        except SQLAlchemyError as err:
            raise AuditError(f"could not record feedback for {declaration_id!r}: {err}") from err

    # ------------------------------------------------------------------ reading

    def get_decision(self, request_id: str) -> StoredDecision | None:
        """Read back the decision recorded under a request id.

        Args:
            request_id: The request id.

        Returns:
            The stored decision, or ``None`` when there is none.
        """
        table = self._decisions
        with self._read() as conn:
            row = conn.execute(select(table).where(table.c.request_id == request_id)).one_or_none()
        return None if row is None else stored_decision(row)

    def count_decisions(self) -> int:
        """Number of decisions recorded.

        Returns:
            The row count.
        """
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(self._decisions)).scalar_one())

    def count_decided_declarations(self, since: datetime | None = None) -> int:
        """Number of distinct declarations with at least one decision (amendments count once).

        Args:
            since: Only decisions recorded at or after this time zone aware instant.

        Returns:
            The count.

        Raises:
            ValueError: When ``since`` is not time zone aware.
        """
        table = self._decisions
        statement = select(func.count(table.c.declaration_id.distinct()))
        if since is not None:
            require_aware(since, "since")
            statement = statement.where(table.c.recorded_at >= since)
        with self._read() as conn:
            return int(conn.execute(statement).scalar_one())

    def decided_ids(self, declaration_ids: Iterable[str]) -> set[str]:
        """Which of these declarations have at least one decision.

        Args:
            declaration_ids: The declaration ids (looked up :data:`IN_CHUNK` at a time,
                in one read transaction).

        Returns:
            The ids among them that have a decision.
        """
        table = self._decisions
        found: set[str] = set()
        with self._read() as conn:
            for chunk in chunks(declaration_ids):
                statement = select(table.c.declaration_id).where(table.c.declaration_id.in_(chunk))
                found.update(conn.execute(statement.distinct()).scalars())
        return found

    def latest_decisions(self, declaration_ids: Iterable[str]) -> dict[str, StoredDecision]:
        """The latest decision (greatest id) of each of these declarations that has one.

        Args:
            declaration_ids: The declaration ids.

        Returns:
            The latest decision by declaration id (declarations without one are absent).
        """
        table = self._decisions
        latest: dict[str, StoredDecision] = {}
        with self._read() as conn:
            for chunk in chunks(declaration_ids):
                newest = (
                    select(func.max(table.c.id))
                    .where(table.c.declaration_id.in_(chunk))
                    .group_by(table.c.declaration_id)
                )
                for row in conn.execute(select(table).where(table.c.id.in_(newest))):
                    latest[row.declaration_id] = stored_decision(row)
        return latest

    def decisions_for_key(
        self, credential: str | None, idempotency_key: str
    ) -> list[StoredDecision]:
        """The decisions written under a credential's idempotency key, in id order.

        Repeats that a keyed request caused are not among them (they wrote nothing): a
        retried request is answered from these and from :meth:`latest_decisions`.

        Args:
            credential: The credential (``None``: rows recorded without one).
            idempotency_key: The key.

        Returns:
            The decisions, possibly none.
        """
        table = self._decisions
        same_credential = (
            table.c.credential.is_(None) if credential is None else table.c.credential == credential
        )
        statement = (
            select(table)
            .where(same_credential, table.c.idempotency_key == idempotency_key)
            .order_by(table.c.id)
        )
        with self._read() as conn:
            return [stored_decision(row) for row in conn.execute(statement)]

    def decisions_frame(self, since: datetime | None = None) -> pd.DataFrame:
        """All decisions (optionally from a time on) as a DataFrame, in insertion order.

        Args:
            since: Only decisions recorded at or after this time zone aware instant.

        Returns:
            Columns :data:`DECISION_COLUMNS` (see
            :func:`portsift.store.audit_frames.decisions_frame`).
        """
        from portsift.store import audit_frames  # pandas only for those who read frames

        with self._read() as conn:
            return audit_frames.decisions_frame(conn, self._decisions, since)

    def feedback_frame(self, sources: Sequence[str] | None = None) -> pd.DataFrame:
        """The latest inspection outcome of each declaration, as training labels.

        "Latest" is the greatest ``received_at``, ties broken by the later row.

        Args:
            sources: When given, only outcomes whose ``credential`` is one of these
                count, before the latest per declaration is picked.

        Returns:
            One row per declaration, sorted by ``declaration_id``, with columns
            :data:`FEEDBACK_COLUMNS` (see :func:`portsift.store.audit_frames.feedback_frame`).
        """
        from portsift.store import audit_frames  # pandas only for those who read frames

        with self._read() as conn:
            return audit_frames.feedback_frame(conn, self._feedback, sources)

    # ---------------------------------------------------------------- verifying

    def verify(
        self,
        *,
        heads: Mapping[str, ChainHead] | None = None,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> VerifyReport:
        """Recompute both tables' hash chains and report the first problem of each.

        Reads each table once, in id order and in chunks, in one snapshot of the store
        (a ``REPEATABLE READ`` transaction on PostgreSQL).

        Args:
            heads: Heads recorded earlier (``{"decisions": ChainHead(...), ...}``) that
                the chains must still contain: a chain alone cannot show that its last
                rows were deleted.
            chunk_rows: Rows fetched at a time.

        Returns:
            One report per table, ``decisions`` first.

        Raises:
            ValueError: When ``heads`` names another table.
            AuditError: When the store cannot be read.
        """
        try:
            with self._engine.connect() as conn:
                if self.dialect == "postgresql":
                    conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    return verify_tables(
                        conn,
                        (self._decisions, self._feedback),
                        heads=heads,
                        chunk_rows=chunk_rows,
                    )
        except SQLAlchemyError as err:
            raise AuditError(f"could not read the audit store at {self.url}: {err}") from err

    # ---------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Close every pooled connection; the store must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditStore({self.url!r}, schema={self._schema!r})"

    # ---------------------------------------------------------------- internals

    @contextmanager
    def _write(self, chain: Table | None = None) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success.

        With ``chain``, the transaction first takes that table's writer lock on
        PostgreSQL (SQLite's ``BEGIN IMMEDIATE`` already holds the only write lock), so
        that what it reads of the chain stays the chain's end until it commits.
        """
        with self._engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                if chain is not None:
                    self._writers[chain.name].lock(conn)
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot on both back ends)."""
        with self._engine.connect() as conn, conn.begin():
            yield conn

    def _existing_request_ids(self, request_ids: Sequence[str]) -> list[str]:
        with self._read() as conn:
            return audit_writes.existing_request_ids(conn, self._decisions, request_ids)


# ------------------------------------------------------------------------------- helpers


def _utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "AUDIT_URL_ENV",
    "DECISION_COLUMNS",
    "DEFAULT_AUDIT_URL",
    "FEEDBACK_COLUMNS",
    "IN_CHUNK",
    "AuditError",
    "AuditStore",
    "ChainHead",
    "DuplicateRequestError",
    "VerifyReport",
]
