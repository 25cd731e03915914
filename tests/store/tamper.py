"""Changing an audit store behind its back, as someone holding the database could.

Each helper first drops the append-only triggers with raw SQL, then edits, deletes or
swaps rows through a connection of its own (not the store's), so that what the tests
verify afterwards is exactly what such a person would leave behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from tests.store.conftest import Backend

TABLES = ("decisions", "feedback")


def _engine(backend: Backend) -> sa.Engine:
    return sa.create_engine(backend.url)


def drop_triggers(backend: Backend) -> None:
    """Drop the triggers that make both tables append-only."""
    prefix = backend.table_prefix
    if backend.name == "sqlite":
        statements = [
            f"DROP TRIGGER IF EXISTS {table}_no_{op}"
            for table in TABLES
            for op in ("update", "delete")
        ]
    else:
        statements = [
            f"DROP TRIGGER IF EXISTS {table}_{kind} ON {prefix}{table}"
            for table in TABLES
            for kind in ("append_only", "no_truncate")
        ]
    run(backend, *statements, keep_triggers=True)


def run(
    backend: Backend,
    *statements: str,
    parameters: Mapping[str, Any] | None = None,
    keep_triggers: bool = False,
) -> None:
    """Drop the triggers (unless ``keep_triggers``), then run raw SQL in one transaction."""
    if not keep_triggers:
        drop_triggers(backend)
    engine = _engine(backend)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement), dict(parameters or {}))
    finally:
        engine.dispose()


def rows(backend: Backend, table: str) -> list[dict[str, Any]]:
    """Every row of a table as raw values, in id order."""
    engine = _engine(backend)
    try:
        with engine.connect() as conn:
            result = conn.execute(
                sa.text(f"SELECT * FROM {backend.table_prefix}{table} ORDER BY id")
            )
            return [dict(row._mapping) for row in result]
    finally:
        engine.dispose()


def swap_rows(backend: Backend, table: str, first: int, second: int) -> None:
    """Swap every column but ``id`` of two rows (hashes and links move with the content)."""
    by_id = {row["id"]: row for row in rows(backend, table)}
    a, b = by_id[first], by_id[second]
    columns = [name for name in a if name != "id"]
    qualified = f"{backend.table_prefix}{table}"
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    statements = []
    parameters: dict[str, Any] = {}
    # Through a placeholder: request_id is unique, so the rows cannot hold each other's
    # value at the same time.
    if "request_id" in columns and table == "decisions":
        statements.append(
            f"UPDATE {qualified} SET request_id = 'swap-placeholder' WHERE id = {first}"
        )
    drop_triggers(backend)
    engine = _engine(backend)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
            for target, source in ((second, a), (first, b)):
                parameters = {name: source[name] for name in columns}
                conn.execute(
                    sa.text(f"UPDATE {qualified} SET {assignments} WHERE id = {target}"), parameters
                )
    finally:
        engine.dispose()
