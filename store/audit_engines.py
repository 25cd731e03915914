"""The audit store's engines: one per back end, with the hooks that configure each connection.

* **SQLite**: every connection is switched to WAL journal mode with ``synchronous=FULL``
  (each commit is fsynced to the write-ahead log before it returns) and a busy timeout;
  SQLAlchemy issues ``BEGIN`` itself, and a transaction opened with the
  :data:`WRITE_OPTION` execution option begins ``BEGIN IMMEDIATE``: the writer takes the
  write lock up front (waiting for it up to the busy timeout) instead of failing on a
  lock upgrade, and holds it while it reads the chain's last hash and appends.
* **PostgreSQL** through psycopg 3: a session whose ``synchronous_commit`` is ``off`` is
  switched back to ``on`` (an acknowledged commit must be on disk), and one whose
  ``default_transaction_isolation`` is not ``read committed`` is switched to it: a writer
  reads the chain's last hash after taking an advisory lock, and under ``repeatable read``
  its snapshot would date from before the lock, so two writers could chain onto the same
  row.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL

from portsift.store.audit_records import AuditError

#: Execution option that makes the SQLite ``begin`` hook emit ``BEGIN IMMEDIATE``.
WRITE_OPTION: Final[str] = "portsift_write"


def sqlite_engine(url: URL, busy_timeout_ms: int, *, create: bool = True) -> Engine:
    """An engine on a SQLite file, each connection in WAL mode with full sync.

    Args:
        url: ``sqlite:///FILE``.
        busy_timeout_ms: How long a writer waits for another process's write lock.
        create: Whether a missing file (and its directory) may be created.

    Returns:
        The engine.

    Raises:
        ValueError: On an in-memory database or a negative timeout.
        AuditError: When the file does not exist and ``create`` is false.
    """
    database = url.database
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        raise ValueError(
            "an in-memory SQLite audit store would lose every decision; give a file: "
            "sqlite:///portsift-audit.db"
        )
    if not database.startswith("file:"):
        if not create and not Path(database).is_file():
            raise AuditError(f"no audit store at {database}: the file does not exist")
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
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
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


def postgresql_engine(url: URL) -> Engine:
    """An engine on a PostgreSQL server through psycopg 3, sessions set as the store needs.

    Args:
        url: ``postgresql+psycopg://...`` (a bare ``postgresql://`` gets psycopg).

    Returns:
        The engine.
    """
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = create_engine(url, pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: object) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting('synchronous_commit'), "
                    "current_setting('default_transaction_isolation')"
                )
                synchronous, isolation = cursor.fetchone()
                if synchronous == "off":
                    cursor.execute("SET synchronous_commit TO on")
                if isolation != "read committed":
                    cursor.execute("SET default_transaction_isolation TO 'read committed'")
        finally:
            dbapi_connection.autocommit = autocommit

    return engine


__all__ = ["WRITE_OPTION", "postgresql_engine", "sqlite_engine"]
