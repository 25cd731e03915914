"""The audit store's two tables, the triggers that keep them append-only, their upgrade.

The column layout, the triggers and the upgrade of a store created by an earlier version
change together (a new column needs its ``ALTER TABLE``, a new table its triggers), and
apart from the store's reading and writing code, which only names the columns.

Columns added after the first version (see :data:`ADDED_COLUMNS`) are nullable, because
rows written before them exist; :func:`upgrade_tables` adds them to an older store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import (
    DDL,
    Boolean,
    Column,
    Connection,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    event,
    inspect,
    text,
)
from sqlalchemy.schema import CreateIndex

from portsift.store.audit_records import (
    MAX_CREDENTIAL_LENGTH,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_OFFICE_LENGTH,
    MAX_OFFICER_ID_LENGTH,
    MAX_REQUEST_ID_LENGTH,
    AuditError,
    require_aware,
)

#: Columns each table gained after the first version (all nullable: old rows have none).
ADDED_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "decisions": (
        "credential",
        "idempotency_key",
        "amends",
        "declared_value",
        "chain_prev",
        "chain_hash",
        "customs_office",
        "importer_id",
        "selected",
    ),
    "feedback": (
        "credential",
        "request_id",
        "corrects",
        "chain_prev",
        "chain_hash",
        "officer_id",
        "violation_kind",
        "voluntary_disclosure",
        "note",
    ),
}


class _UTCDateTime(TypeDecorator[datetime]):
    """Time zone aware UTC datetimes on every back end (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        require_aware(value, "a timestamp")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def build_tables(schema: str | None) -> tuple[MetaData, Table, Table]:
    """Declare the ``decisions`` and ``feedback`` tables with their append-only triggers.

    Args:
        schema: PostgreSQL schema holding the tables (``None``: the default one).

    Returns:
        The metadata (to create the tables with) and the two tables.
    """
    metadata = MetaData(schema=schema)
    decisions = Table(
        "decisions",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("request_id", String(MAX_REQUEST_ID_LENGTH), nullable=False, unique=True),
        Column("recorded_at", _UTCDateTime(), nullable=False),
        Column("declaration_id", String, nullable=False),
        Column("input_sha256", String(64), nullable=False),
        Column("decision", Text, nullable=False),
        Column("model_version", String, nullable=False),
        Column("policy_version", String, nullable=False),
        Column("credential", String(MAX_CREDENTIAL_LENGTH), nullable=True),
        # Not unique: one key covers every row of a batch request.
        Column("idempotency_key", String(MAX_IDEMPOTENCY_KEY_LENGTH), nullable=True),
        Column("amends", Integer, nullable=True),
        # The declaration's value, so that /feedback can bound an outcome's revenue.
        Column("declared_value", Float, nullable=True),
        Column("chain_prev", String(64), nullable=True),
        Column("chain_hash", String(64), nullable=True),
        # The declaration's office of lodging and importer, for the console's office
        # filter and the enterprise's history.
        Column("customs_office", String(MAX_OFFICE_LENGTH), nullable=True),
        Column("importer_id", String(MAX_OFFICE_LENGTH), nullable=True),
        # The decision's `selected`, so that the queue reads the selected rows only.
        Column("selected", Boolean, nullable=True),
        Index("ix_decisions_declaration_id", "declaration_id"),
        Index("ix_decisions_importer_id", "importer_id"),
        Index("ix_decisions_selected", "selected"),
        Index("ix_decisions_recorded_at", "recorded_at"),
        Index("ix_decisions_idempotency", "credential", "idempotency_key"),
    )
    feedback = Table(
        "feedback",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("received_at", _UTCDateTime(), nullable=False),
        Column("declaration_id", String, nullable=False),
        Column("inspected", Boolean, nullable=False),
        Column("illicit", Boolean, nullable=True),
        Column("revenue", Float, nullable=True),
        Column("source", String, nullable=True),
        Column("credential", String(MAX_CREDENTIAL_LENGTH), nullable=True),
        Column("request_id", String(MAX_REQUEST_ID_LENGTH), nullable=True),
        Column("corrects", Integer, nullable=True),
        Column("chain_prev", String(64), nullable=True),
        Column("chain_hash", String(64), nullable=True),
        # Recorded in the officer console: who, what kind of violation, whether the
        # enterprise disclosed it first, and the officer's note.
        Column("officer_id", String(MAX_OFFICER_ID_LENGTH), nullable=True),
        Column("violation_kind", String(32), nullable=True),
        Column("voluntary_disclosure", Boolean, nullable=True),
        Column("note", Text, nullable=True),
        Index("ix_feedback_declaration_id", "declaration_id", "received_at"),
    )
    for table in (decisions, feedback):
        _add_append_only_triggers(table, schema)
    return metadata, decisions, feedback


def _add_append_only_triggers(table: Table, schema: str | None) -> None:
    """Attach DDL that makes the database itself refuse to change or remove rows."""
    name = table.name
    qualified = f"{schema}.{name}" if schema else name
    for operation in ("UPDATE", "DELETE"):
        event.listen(
            table,
            "after_create",
            DDL(
                f"CREATE TRIGGER {name}_no_{operation.lower()} BEFORE {operation} ON {name} "
                f"BEGIN SELECT RAISE(ABORT, 'the portsift audit table {name} is append-only'); "
                "END"
            ).execute_if(dialect="sqlite"),
        )
    function = f"{schema}.portsift_audit_append_only" if schema else "portsift_audit_append_only"
    event.listen(
        table,
        "after_create",
        DDL(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION USING MESSAGE = "
            "'the portsift audit table ' || TG_TABLE_NAME || ' is append-only'; END $$"
        ).execute_if(dialect="postgresql"),
    )
    event.listen(
        table,
        "after_create",
        DDL(
            f"CREATE TRIGGER {name}_append_only BEFORE UPDATE OR DELETE ON {qualified} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()"
        ).execute_if(dialect="postgresql"),
    )
    event.listen(
        table,
        "after_create",
        DDL(
            f"CREATE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {qualified} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        ).execute_if(dialect="postgresql"),
    )


def upgrade_tables(conn: Connection, tables: Sequence[Table]) -> list[str]:
    """Add the columns and indexes that a store created by an earlier version lacks.

    Run inside the transaction that creates the tables, which serialises the processes
    opening the store (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), so
    that of several processes opening an old store at once one adds the columns and the
    others find them. Idempotent: on a current store it only reads the catalogue.

    Args:
        conn: A connection inside that transaction.
        tables: The tables as this version declares them.

    Returns:
        What was added, as ``table.column`` and ``table.index`` names (empty when
        nothing was missing).

    Raises:
        RuntimeError: When a missing column is not nullable (only nullable columns can
            be added to a table that has rows).
    """
    inspector = inspect(conn)
    added: list[str] = []
    for table in tables:
        present = {column["name"] for column in inspector.get_columns(table.name, table.schema)}
        qualified = f"{table.schema}.{table.name}" if table.schema else table.name
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise RuntimeError(f"cannot add the NOT NULL column {table.name}.{column.name}")
            type_sql = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {qualified} ADD COLUMN {column.name} {type_sql}"))
            added.append(f"{table.name}.{column.name}")
        # Only the missing ones: CREATE INDEX IF NOT EXISTS would still lock the table on
        # PostgreSQL, at every start of every worker.
        indexes = {index["name"] for index in inspector.get_indexes(table.name, table.schema)}
        # By name: a table's indexes are a set, and what is reported added is in order.
        for index in sorted(table.indexes, key=lambda index: str(index.name)):
            if index.name not in indexes:
                conn.execute(CreateIndex(index, if_not_exists=True))
                added.append(f"{table.name}.{index.name}")
    return added


def check_tables(conn: Connection, tables: Sequence[Table], url: str) -> None:
    """Refuse a store whose tables are missing or lack a column of this version.

    For opening without DDL (``create=False``): nothing is created or added.

    Args:
        conn: A connection to the store.
        tables: The tables as this version declares them.
        url: The store's URL, for the message.

    Raises:
        AuditError: When a table or a column is missing.
    """
    inspector = inspect(conn)
    for table in tables:
        if not inspector.has_table(table.name, table.schema):
            raise AuditError(f"no audit store at {url}: no table {table.name}")
        present = {column["name"] for column in inspector.get_columns(table.name, table.schema)}
        missing = [column.name for column in table.columns if column.name not in present]
        if missing:
            raise AuditError(
                f"the audit store at {url} was created by an earlier version ({table.name} "
                f"has no {', '.join(missing)}); open it once with this version (e.g. start "
                "the API) so that it gains the chain columns"
            )


__all__ = [
    "ADDED_COLUMNS",
    "build_tables",
    "check_tables",
    "upgrade_tables",
]
