"""The audit tables as the previous version (before the hash chain) created them.

A verbatim copy of that version's ``store/audit_tables.py`` (commit 679b144), so that the
upgrade test opens a store built exactly as a deployed one was. Do not edit.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    DDL,
    Boolean,
    Column,
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
)

from portsift.store.audit_records import MAX_REQUEST_ID_LENGTH, require_aware


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
        Index("ix_decisions_declaration_id", "declaration_id"),
        Index("ix_decisions_recorded_at", "recorded_at"),
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


__all__ = ["build_tables"]
