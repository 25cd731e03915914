"""Fixtures of the training tests: the PostgreSQL server of the audit-store tests."""

from tests.store.conftest import postgres_url  # noqa: F401  (used by test_feedback)
