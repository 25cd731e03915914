"""Fixtures of the audit-store tests: the store on SQLite and on a real PostgreSQL server.

The PostgreSQL server is the one the development and CI machines run on 127.0.0.1:5432
(``PORTSIFT_TEST_POSTGRES_URL`` names another). Where none answers, the PostgreSQL cases
skip with the reason, unless ``PORTSIFT_REQUIRE_POSTGRES=1`` (set by CI), which makes them
fail instead. Each PostgreSQL test works in a schema of its own, dropped afterwards. The
serving tests use the same fixtures (``tests/serving/conftest.py`` imports them).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from portsift.store.audit import AuditStore

POSTGRES_URL_ENV = "PORTSIFT_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "PORTSIFT_REQUIRE_POSTGRES"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Backend:
    """One audit-store back end for a test: a URL, and a schema on PostgreSQL."""

    name: str
    url: str
    schema: str | None
    opened: list[AuditStore] = field(default_factory=list)

    def open(self) -> AuditStore:
        """Open the store (closed again when the test ends)."""
        store = AuditStore.from_url(self.url, schema=self.schema)
        self.opened.append(store)
        return store

    @property
    def table_prefix(self) -> str:
        """How raw SQL names this back end's tables."""
        return f"{self.schema}." if self.schema else ""

    def child_args(self) -> list[str]:
        """URL and schema as command-line arguments of a child process."""
        return [self.url, self.schema or "-"]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a PostgreSQL server that answers; skips (or fails when required) otherwise."""
    url = os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    engine: sa.Engine | None = None
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as err:  # no driver, no server, no database: all mean "none here"
        detail = " ".join(str(getattr(err, "orig", None) or err).split())
        reason = f"no PostgreSQL server answers at {url} ({detail})"
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{REQUIRE_POSTGRES_ENV}=1 but {reason}", pytrace=False)
        pytest.skip(f"{reason} (set {REQUIRE_POSTGRES_ENV}=1 to make this a failure)")
    finally:
        if engine is not None:
            engine.dispose()
    return url


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Iterator[Backend]:
    """The audit store in a fresh SQLite file."""
    backend = Backend("sqlite", f"sqlite:///{tmp_path / 'audit.db'}", None)
    yield backend
    for store in backend.opened:
        store.close()


@pytest.fixture
def postgres_backend(postgres_url: str) -> Iterator[Backend]:
    """The audit store in a fresh schema of the PostgreSQL server, dropped afterwards."""
    schema = f"portsift_test_{uuid.uuid4().hex[:16]}"
    backend = Backend("postgresql", postgres_url, schema)
    yield backend
    for store in backend.opened:
        store.close()
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """The same test on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_backend")
