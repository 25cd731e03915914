"""Fixtures of the command tests: the audit store on SQLite and PostgreSQL (``audit verify``)."""

from __future__ import annotations

from tests.store.conftest import (  # noqa: F401
    backend,
    postgres_backend,
    postgres_url,
    sqlite_backend,
)
