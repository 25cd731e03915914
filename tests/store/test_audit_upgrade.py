"""A store created by the previous version (no chain, no credentials) opens and upgrades."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from portsift.store.audit_tables import ADDED_COLUMNS, build_tables
from tests.store import audit_tables_v1
from tests.store.audit_rows import declaration, record
from tests.store.test_audit import Writers, release_together

if TYPE_CHECKING:
    from tests.store.conftest import Backend

OLD_DECISIONS = 3
OLD_OUTCOMES = 2


@pytest.fixture
def writers(backend: Backend, tmp_path: Path) -> Iterator[Writers]:
    started = Writers(backend, tmp_path)
    yield started
    started.stop_all()


def build_old_store(backend: Backend) -> None:
    """Create the tables and write rows exactly as the previous version did."""
    engine = sa.create_engine(backend.url)
    try:
        with engine.begin() as conn:
            if backend.schema is not None:
                conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {backend.schema}"))
            metadata, decisions, feedback = audit_tables_v1.build_tables(backend.schema)
            metadata.create_all(conn)
            base = datetime(2026, 4, 1, tzinfo=UTC)
            conn.execute(
                sa.insert(decisions),
                [
                    {
                        "request_id": f"old-{n}",
                        "recorded_at": base + timedelta(minutes=n),
                        "declaration_id": f"D{n:06d}",
                        "input_sha256": record(f"old-{n}", n).input_sha256,
                        "decision": record(f"old-{n}", n).decision_json(),
                        "model_version": "model-6",
                        "policy_version": "policy-1",
                    }
                    for n in range(OLD_DECISIONS)
                ],
            )
            conn.execute(
                sa.insert(feedback),
                [
                    {
                        "received_at": base + timedelta(hours=n),
                        "declaration_id": f"D{n:06d}",
                        "inspected": True,
                        "illicit": False,
                        "revenue": 0.0,
                        "source": "api",
                    }
                    for n in range(OLD_OUTCOMES)
                ],
            )
    finally:
        engine.dispose()


def columns_of(backend: Backend) -> dict[str, set[str]]:
    engine = sa.create_engine(backend.url)
    try:
        inspector = sa.inspect(engine)
        return {
            table: {c["name"] for c in inspector.get_columns(table, backend.schema)}
            for table in ("decisions", "feedback")
        }
    finally:
        engine.dispose()


def test_an_old_store_gains_the_columns_and_verifies_its_old_rows_as_before_the_chain(
    backend: Backend,
) -> None:
    build_old_store(backend)
    assert "chain_hash" not in columns_of(backend)["decisions"]

    store = backend.open()
    assert list(store.upgraded) == [
        *(f"decisions.{column}" for column in ADDED_COLUMNS["decisions"]),
        "decisions.ix_decisions_idempotency",
        "decisions.ix_decisions_importer_id",
        "decisions.ix_decisions_selected",
        *(f"feedback.{column}" for column in ADDED_COLUMNS["feedback"]),
    ]
    _, decisions, feedback = build_tables(None)
    assert columns_of(backend) == {
        "decisions": {c.name for c in decisions.columns},
        "feedback": {c.name for c in feedback.columns},
    }

    # The old rows read back with the new fields empty.
    old = store.get_decision("old-1")
    assert old is not None
    assert (old.credential, old.amends, old.declared_value, old.chain_hash) == (None,) * 4
    assert old.decision == record("old-1", 1).decision
    assert store.feedback_frame()["declaration_id"].tolist() == ["D000000", "D000001"]
    report = store.verify()
    assert report.ok, report.to_dict()
    assert [(r.before_chain, r.checked, r.head) for r in report.tables] == [
        (OLD_DECISIONS, 0, None),
        (OLD_OUTCOMES, 0, None),
    ]

    # New rows chain from the genesis and are judged against the old ones.
    changed = {**declaration(1), "declared_value": 1.0}
    results = store.record_decisions(
        [record("new-1", 1, declaration=changed), record("new-2", 2), record("new-9", 9)],
        skip_repeats=True,
    )
    assert [r.kind for r in results] == ["amendment", "repeat", "new"]
    assert results[0].stored.amends == old.id
    assert results[1].stored.request_id == "old-2"
    outcome = store.record_feedback("D000001", inspected=True, illicit=True, credential=None)
    assert (outcome.kind, outcome.corrects) == ("correction", 2)
    report = store.verify()
    assert report.ok, report.to_dict()
    assert [(r.before_chain, r.checked) for r in report.tables] == [
        (OLD_DECISIONS, 2),
        (OLD_OUTCOMES, 1),
    ]

    # Opening again adds nothing, and the tables are still append-only.
    again = backend.open()
    assert again.upgraded == ()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {backend.table_prefix}decisions SET credential = 'x'"))


def test_processes_opening_an_old_store_at_once_upgrade_it_once(
    backend: Backend, writers: Writers
) -> None:
    build_old_store(backend)
    children = [writers.start(f"p{n}", count=3, batch=3, gate=True) for n in range(4)]
    release_together(children)  # all four open the old store at the same moment
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err.decode()
    store = backend.open()
    assert store.upgraded == ()
    assert store.count_decisions() == OLD_DECISIONS + 12
    report = store.verify()
    assert report.ok, report.to_dict()
    assert (report["decisions"].before_chain, report["decisions"].checked) == (OLD_DECISIONS, 12)
