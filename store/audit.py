"""The append-only audit store: every decision the API returns, and inspection feedback.

The API commits each decision here *before* it answers, so that a decision a caller
received can always be produced again when a trader challenges it or the administration
audits it. The store is written with SQLAlchemy Core and works on two back ends:

* **SQLite** (the default, ``sqlite:///portsift-audit.db`` in the working directory).
  Every connection is switched to WAL journal mode with ``synchronous=FULL`` (each commit
  is fsynced to the write-ahead log before it returns, so an acknowledged decision
  survives a killed process and a power cut) and a busy timeout, so that several worker
  processes can share one file. Write transactions start with ``BEGIN IMMEDIATE``: a writer
  takes the write lock up front and waits for it (busy timeout) instead of failing on a
  lock upgrade.
* **PostgreSQL** through psycopg 3 (``postgresql+psycopg://user@host/db``; a bare
  ``postgresql://`` URL is given the psycopg driver). A session whose
  ``synchronous_commit`` is ``off`` is switched back to ``on``: an acknowledged commit
  must be on disk.

The store is **append-only**: it has no method that updates or deletes a row, and the
tables carry triggers that reject ``UPDATE`` and ``DELETE`` (and ``TRUNCATE`` on
PostgreSQL) from anyone else, so a past decision cannot be rewritten by mistake.
Corrections are new rows: a later feedback row for the same declaration supersedes the
earlier one in :meth:`AuditStore.feedback_frame`, and the earlier one stays on record.

Tables, created if missing (idempotent; safe when several processes start at once):

``decisions``
    ``id`` (autoincrement), ``request_id`` (unique), ``recorded_at`` (UTC),
    ``declaration_id``, ``input_sha256`` (``input_hash`` of the input declaration),
    ``decision`` (JSON text of the full decision), ``model_version``, ``policy_version``.
``feedback``
    ``id``, ``received_at`` (UTC), ``declaration_id``, ``inspected``, ``illicit``,
    ``revenue``, ``source``.

The records a caller builds and reads back (``DecisionRecord``, ``StoredDecision``) and
``input_hash`` are in :mod:`portsift.store.audit_records`; the tables and their triggers in
:mod:`portsift.store.audit_tables`. The connection hooks of each back end stay here, beside
the transactions whose ``BEGIN`` they issue.

Example:
    >>> from portsift.store.audit_records import DecisionRecord  # doctest: +SKIP
    >>> store = AuditStore.from_url("sqlite:///audit.db")  # doctest: +SKIP
    >>> record = DecisionRecord.from_request(  # doctest: +SKIP
    ...     request_id="req-1",
    ...     declaration={"declaration_id": "D1", "declared_value": 1200.0},
    ...     decision={"declaration_id": "D1", "risk_score": 0.12},
    ...     model_version="m-3",
    ...     policy_version="p-1",
    ... )
    >>> store.record_decisions([record])  # durable when it returns  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Self

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from portsift.store.audit_records import DecisionRecord, StoredDecision, require_aware
from portsift.store.audit_tables import build_tables

if TYPE_CHECKING:
    import pandas as pd

#: Environment variable holding the SQLAlchemy URL of the audit store.
AUDIT_URL_ENV: Final[str] = "PORTSIFT_AUDIT_URL"
#: URL used when neither an argument nor the environment names one.
DEFAULT_AUDIT_URL: Final[str] = "sqlite:///portsift-audit.db"
#: How long a SQLite writer waits for another process's write lock, in milliseconds.
DEFAULT_BUSY_TIMEOUT_MS: Final[int] = 30_000

#: Columns of :meth:`AuditStore.decisions_frame`, in order.
DECISION_COLUMNS: Final[tuple[str, ...]] = (
    "id",
    "request_id",
    "recorded_at",
    "declaration_id",
    "input_sha256",
    "decision",
    "model_version",
    "policy_version",
)
#: Columns of :meth:`AuditStore.feedback_frame`, in order.
FEEDBACK_COLUMNS: Final[tuple[str, ...]] = ("declaration_id", "inspected", "illicit", "revenue")

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
#: Key of the PostgreSQL advisory lock that serialises table creation across processes.
_CREATE_LOCK_KEY: Final[int] = 0x706F_7274_7369_6674 & 0x7FFF_FFFF_FFFF_FFFF  # "portsift"
#: Execution option that makes the SQLite ``begin`` hook emit ``BEGIN IMMEDIATE``.
_WRITE_OPTION: Final[str] = "portsift_write"


class AuditError(RuntimeError):
    """The audit store could not be opened or could not record what it was given."""


class DuplicateRequestError(AuditError):
    """A batch names a request id that is already recorded (or twice in the batch).

    Nothing of the batch is written. The request ids are in :attr:`request_ids`.
    """

    def __init__(self, request_ids: Sequence[str]) -> None:
        self.request_ids: tuple[str, ...] = tuple(request_ids)
        shown = ", ".join(repr(request_id) for request_id in self.request_ids[:5])
        more = f" and {len(self.request_ids) - 5} more" if len(self.request_ids) > 5 else ""
        super().__init__(
            f"duplicate request_id {shown}{more}: a decision with this request id is already "
            "recorded (or the batch names it twice); nothing of the batch was written. "
            "Use AuditStore.get_decision to answer a retried request idempotently."
        )


# --------------------------------------------------------------------------------- store


class AuditStore:
    """Append-only store of decisions and inspection feedback.

    Open it with :meth:`from_url`. One instance holds a connection pool and may be used
    from several threads; in a server with worker processes, open one per process after
    the fork (connections must not cross a ``fork``).

    There are deliberately no update or delete methods (see the module docstring).
    """

    def __init__(self, engine: Engine, *, schema: str | None = None) -> None:
        """Wrap an engine that :meth:`from_url` configured; creates the tables if missing.

        Args:
            engine: A SQLAlchemy engine with the portsift connection hooks installed.
            schema: PostgreSQL schema holding the tables (``None``: the default one).
        """
        self._engine = engine
        self._schema = schema
        self._metadata, self._decisions, self._feedback = build_tables(schema)
        self._create_tables()

    # ------------------------------------------------------------------ opening

    @classmethod
    def from_url(
        cls,
        url: str | URL | None = None,
        *,
        schema: str | None = None,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> Self:
        """Open (and if needed create) the audit store at a SQLAlchemy URL.

        Args:
            url: ``sqlite:///path.db`` or ``postgresql+psycopg://user@host:port/db``.
                ``None`` reads ``PORTSIFT_AUDIT_URL``, else uses
                ``sqlite:///portsift-audit.db`` in the working directory.
            schema: PostgreSQL only: a schema to hold the tables (created if missing),
                e.g. to keep test runs apart. A plain identifier.
            busy_timeout_ms: SQLite only: how long a writer waits for the write lock.

        Returns:
            The open store.

        Raises:
            ValueError: On an unsupported URL (other back ends, in-memory SQLite, a schema
                with SQLite or not a plain identifier).
            AuditError: When the database cannot be reached or the tables not created.
        """
        if url is None:
            url = os.environ.get(AUDIT_URL_ENV) or DEFAULT_AUDIT_URL
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"audit schema {schema!r} is not a plain SQL identifier")
        if backend == "sqlite":
            if schema is not None:
                raise ValueError("an audit schema is only supported on PostgreSQL")
            engine = _sqlite_engine(parsed, busy_timeout_ms)
        elif backend == "postgresql":
            engine = _postgresql_engine(parsed)
        else:
            raise ValueError(
                f"unsupported audit store URL {parsed.render_as_string(hide_password=True)!r}: "
                "use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB"
            )
        try:
            return cls(engine, schema=schema)
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
        with self._write() as conn:
            if self._engine.dialect.name == "postgresql":
                # DDL is transactional in PostgreSQL, but two CREATE TABLEs racing still
                # collide; the advisory lock lets one process create and the rest see it.
                conn.execute(select(func.pg_advisory_xact_lock(_CREATE_LOCK_KEY)))
                if self._schema is not None:
                    conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {self._schema}"))
            # On SQLite the BEGIN IMMEDIATE of _write() serialises creators the same way.
            self._metadata.create_all(conn, checkfirst=True)

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

    # ------------------------------------------------------------------ writing

    def record_decisions(self, rows: Sequence[DecisionRecord]) -> None:
        """Append a batch of decisions in one transaction, durable when this returns.

        Either every row of the batch is committed or none is. An empty batch is a
        no-op.

        Args:
            rows: The decisions.

        Raises:
            DuplicateRequestError: When a request id is already recorded or appears twice
                in the batch (nothing is written).
            AuditError: When the database refuses the batch for another reason.
            ValueError: When a decision cannot be serialised.
        """
        if not rows:
            return
        counts = Counter(row.request_id for row in rows)
        repeated = [request_id for request_id, count in counts.items() if count > 1]
        if repeated:
            raise DuplicateRequestError(repeated)
        now = _utcnow()
        values = [
            {
                "request_id": row.request_id,
                "recorded_at": row.recorded_at or now,
                "declaration_id": row.declaration_id,
                "input_sha256": row.input_sha256,
                "decision": row.decision_json(),
                "model_version": row.model_version,
                "policy_version": row.policy_version,
            }
            for row in rows
        ]
        try:
            with self._write() as conn:
                conn.execute(insert(self._decisions), values)
        except IntegrityError as err:
            existing = self._existing_request_ids([row.request_id for row in rows])
            if existing:
                raise DuplicateRequestError(existing) from err
            raise AuditError(f"the audit store refused the batch: {err.orig}") from err
        except SQLAlchemyError as err:
            raise AuditError(f"could not record {len(rows)} decision(s): {err}") from err

    def record_feedback(
        self,
        declaration_id: str,
        *,
        inspected: bool,
        illicit: bool | None = None,
        revenue: float | None = None,
        source: str | None = None,
        received_at: datetime | None = None,
    ) -> int:
        """Append one inspection outcome, durable when this returns.

        A later outcome for the same declaration supersedes this one in
        :meth:`feedback_frame`; both stay on record.

        Args:
            declaration_id: The declaration.
            inspected: Whether it was inspected.
            illicit: Whether the inspection found a violation (``None``: unknown).
            revenue: Duty raised by the inspection, non-negative (``None``: unknown).
            source: Who sent it (free text, e.g. the calling system).
            received_at: When it was received (time zone aware); default now.

        Returns:
            The row id.

        Raises:
            ValueError: On an empty declaration id, negative or non-finite revenue, or an
                outcome claiming a violation or revenue without an inspection.
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
        values = {
            "received_at": received_at or _utcnow(),
            "declaration_id": declaration_id,
            "inspected": bool(inspected),
            "illicit": None if illicit is None else bool(illicit),
            "revenue": revenue,
            "source": source,
        }
        try:
            with self._write() as conn:
                result = conn.execute(insert(self._feedback).values(values))
                (row_id,) = result.inserted_primary_key or (None,)
        except SQLAlchemyError as err:
            raise AuditError(f"could not record feedback for {declaration_id!r}: {err}") from err
        return int(row_id)

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
        if row is None:
            return None
        return StoredDecision(
            id=row.id,
            request_id=row.request_id,
            recorded_at=row.recorded_at,
            declaration_id=row.declaration_id,
            input_sha256=row.input_sha256,
            decision=json.loads(row.decision),
            decision_json=row.decision,
            model_version=row.model_version,
            policy_version=row.policy_version,
        )

    def count_decisions(self) -> int:
        """Number of decisions recorded.

        Returns:
            The row count.
        """
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(self._decisions)).scalar_one())

    def decisions_frame(self, since: datetime | None = None) -> pd.DataFrame:
        """All decisions (optionally from a time on) as a DataFrame, in insertion order.

        Args:
            since: Only decisions recorded at or after this time zone aware instant.

        Returns:
            Columns :data:`DECISION_COLUMNS`; ``recorded_at`` is ``datetime64[us, UTC]``,
            ``decision`` the stored JSON text.
        """
        import pandas as pd  # imported here so that writers (e.g. API workers) stay light

        table = self._decisions
        statement = select(*(table.c[name] for name in DECISION_COLUMNS)).order_by(table.c.id)
        if since is not None:
            require_aware(since, "since")
            statement = statement.where(table.c.recorded_at >= since)
        with self._read() as conn:
            rows = conn.execute(statement).all()

        def column(name: str) -> pd.Series:
            position = DECISION_COLUMNS.index(name)
            values = [row[position] for row in rows]
            if name == "id":
                return pd.Series(values, dtype="int64")
            if name == "recorded_at":
                return pd.Series(pd.to_datetime(values, utc=True), dtype="datetime64[us, UTC]")
            return pd.Series(values, dtype="str")

        frame = pd.DataFrame({name: column(name) for name in DECISION_COLUMNS})
        return frame

    def feedback_frame(self) -> pd.DataFrame:
        """The latest inspection outcome of each declaration, as training labels.

        "Latest" is the greatest ``received_at``, ties broken by the later row.

        Returns:
            One row per declaration, sorted by ``declaration_id``, with columns
            :data:`FEEDBACK_COLUMNS`: ``declaration_id`` (str); ``inspected`` and
            ``illicit`` as float64 0/1 flags and ``revenue`` float64, unknown values NaN
            (the dtypes the declaration loader gives label columns).
        """
        import pandas as pd  # imported here so that writers (e.g. API workers) stay light

        table = self._feedback
        rank = (
            func.row_number()
            .over(
                partition_by=table.c.declaration_id,
                order_by=(table.c.received_at.desc(), table.c.id.desc()),
            )
            .label("rank")
        )
        ranked = select(
            table.c.declaration_id, table.c.inspected, table.c.illicit, table.c.revenue, rank
        ).subquery()
        statement = (
            select(ranked.c.declaration_id, ranked.c.inspected, ranked.c.illicit, ranked.c.revenue)
            .where(ranked.c.rank == 1)
            .order_by(ranked.c.declaration_id)
        )
        with self._read() as conn:
            rows = conn.execute(statement).all()

        def flags(values: Sequence[bool | None]) -> pd.Series:
            return pd.Series(
                [float("nan") if value is None else float(value) for value in values],
                dtype="float64",
            )

        return pd.DataFrame(
            {
                "declaration_id": pd.Series([row[0] for row in rows], dtype="str"),
                "inspected": flags([row[1] for row in rows]),
                "illicit": flags([row[2] for row in rows]),
                "revenue": pd.Series(
                    [float("nan") if row[3] is None else float(row[3]) for row in rows],
                    dtype="float64",
                ),
            }
        )

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
    def _write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success."""
        with self._engine.connect() as conn:
            conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot on both back ends)."""
        with self._engine.connect() as conn, conn.begin():
            yield conn

    def _existing_request_ids(self, request_ids: Sequence[str]) -> list[str]:
        table = self._decisions
        with self._read() as conn:
            found = set(
                conn.execute(
                    select(table.c.request_id).where(table.c.request_id.in_(request_ids))
                ).scalars()
            )
        return [request_id for request_id in request_ids if request_id in found]


# ------------------------------------------------------------------------------- engines


def _sqlite_engine(url: URL, busy_timeout_ms: int) -> Engine:
    database = url.database
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        raise ValueError(
            "an in-memory SQLite audit store would lose every decision; give a file: "
            "sqlite:///portsift-audit.db"
        )
    if not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    if busy_timeout_ms < 0:
        raise ValueError("busy_timeout_ms must be >= 0")
    engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: object) -> None:
        # Let SQLAlchemy emit BEGIN itself (the begin hook below): sqlite3's legacy mode
        # would run DDL and SELECTs outside transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            _enable_wal(cursor, database)
            cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _enable_wal(cursor: Any, database: str, attempts: int = 10) -> None:
    """Switch the connection's database to WAL journal mode, or raise.

    The switch needs an exclusive lock, so when several processes open a new file at
    once one of them may find it locked (an error, or the old mode reported back); it
    is retried a few times before giving up.
    """
    mode: object = None
    for attempt in range(attempts):
        try:
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or attempt == attempts - 1:
                raise
            mode = "locked"
        if str(mode).lower() == "wal":
            return
        time.sleep(0.05 * (attempt + 1))
    raise AuditError(
        f"SQLite refused WAL journal mode for {database!r} (it reports {mode!r}); "
        "the audit store needs a local file system"
    )


def _postgresql_engine(url: URL) -> Engine:
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = create_engine(url, pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: object) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SHOW synchronous_commit")
                (setting,) = cursor.fetchone()
                if setting == "off":
                    cursor.execute("SET synchronous_commit TO on")
        finally:
            dbapi_connection.autocommit = autocommit

    return engine


def _utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "AUDIT_URL_ENV",
    "DECISION_COLUMNS",
    "DEFAULT_AUDIT_URL",
    "FEEDBACK_COLUMNS",
    "AuditError",
    "AuditStore",
    "DuplicateRequestError",
]
