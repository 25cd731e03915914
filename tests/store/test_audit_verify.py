"""The audit tables' hash chain and ``AuditStore.verify``, on SQLite and on PostgreSQL.

Tampering is done as someone holding the database would: the append-only triggers are
dropped with raw SQL and rows edited, deleted or swapped through another connection.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from portsift.store.audit import AuditStore
from portsift.store.audit_chain import CHAIN_FIELDS, GENESIS, OPTIONAL_FIELDS
from portsift.store.audit_verify import ChainHead, parse_heads
from tests.store import tamper
from tests.store.audit_rows import record

if TYPE_CHECKING:
    from tests.store.conftest import Backend


def fill(store: AuditStore, decisions: int = 8, outcomes: int = 5) -> None:
    """Decisions in batches of several sizes (amendments among them) and outcomes."""
    number = 0
    for size in (1, 3, 1, 2, 1):
        if number >= decisions:
            break
        rows = [record(f"r-{number + k}", number + k) for k in range(min(size, decisions - number))]
        store.record_decisions(rows)
        number += len(rows)
    for n in range(outcomes):
        store.record_feedback(
            f"D{n % 3}", inspected=True, illicit=n % 2 == 0, revenue=1.5 * n, credential="api"
        )


def independent_hash(backend: Backend, table: str, row: dict[str, Any]) -> str:
    """A row's hash recomputed as the docs say, from raw SQL values, without portsift."""
    content = {
        name: row[name]
        for name in CHAIN_FIELDS[table]
        if not (name in OPTIONAL_FIELDS and row[name] is None)  # as the docs say
    }
    for name in ("recorded_at", "received_at"):
        if name in content:
            value = content[name]
            if isinstance(value, str):  # SQLite: naive UTC text
                value = datetime.fromisoformat(value).replace(tzinfo=UTC)
            content[name] = value.astimezone(UTC).isoformat(timespec="microseconds")
    for name in ("inspected", "illicit", "voluntary_disclosure", "selected"):
        if name in content and content[name] is not None:
            content[name] = bool(content[name])  # SQLite: 0/1
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_an_intact_store_verifies_and_its_hashes_can_be_recomputed(backend: Backend) -> None:
    store = backend.open()
    empty = store.verify()
    assert empty.ok
    assert [(r.table, r.checked, r.head) for r in empty.tables] == [
        ("decisions", 0, None),
        ("feedback", 0, None),
    ]
    # Timestamps in another zone and on a whole second: the database's text of them must
    # be the one hashed.
    beijing = timezone(timedelta(hours=8))
    store.record_decisions(
        [record("r-zone", 100, recorded_at=datetime(2026, 5, 1, 16, tzinfo=beijing))]
    )
    fill(store)
    store.record_feedback(
        "D9", inspected=False, received_at=datetime(2026, 5, 1, 16, 0, 0, 1, tzinfo=beijing)
    )

    report = store.verify()
    assert report.ok, report.to_dict()
    decisions, feedback = report["decisions"], report["feedback"]
    assert (decisions.checked, decisions.before_chain, decisions.problem) == (9, 0, None)
    assert (feedback.checked, feedback.problems) == (6, 0)
    for table, table_report in (("decisions", decisions), ("feedback", feedback)):
        raw = tamper.rows(backend, table)
        assert raw[0]["chain_prev"] == GENESIS
        for before, row in zip([None, *raw], raw, strict=False):
            assert row["chain_hash"] == independent_hash(backend, table, row)
            if before is not None:
                assert row["chain_prev"] == before["chain_hash"]
        assert table_report.head == ChainHead(raw[-1]["id"], raw[-1]["chain_hash"])
    # Small chunks walk the same chain.
    assert store.verify(chunk_rows=2) == report
    # The head it reports is the head it then accepts.
    heads = {r.table: r.head for r in report.tables if r.head is not None}
    assert store.verify(heads=heads).ok
    assert report.to_dict()["tables"][0]["head"] == str(decisions.head)


@pytest.mark.parametrize("target", [1, 4, 8])
def test_an_edited_decision_is_named(backend: Backend, target: int) -> None:
    store = backend.open()
    fill(store)
    tamper.run(
        backend,
        f"UPDATE {backend.table_prefix}decisions SET decision = :text WHERE id = :id",
        parameters={"text": '{"risk_score": 0.0}', "id": target},
    )
    report = store.verify()
    assert not report.ok
    problem = report["decisions"].problem
    assert problem is not None
    assert (problem.kind, problem.id) == ("edited", target)
    assert report["decisions"].problems == 1  # the rows after it still link to its hash
    assert report["feedback"].ok


def test_an_edit_of_a_timestamp_or_a_flag_is_named(backend: Backend) -> None:
    store = backend.open()
    fill(store)
    prefix = backend.table_prefix
    later = "datetime(recorded_at, '+1 seconds')" if backend.name == "sqlite" else None
    moved = (
        f"UPDATE {prefix}decisions SET recorded_at = {later} WHERE id = 3"
        if later
        else f"UPDATE {prefix}decisions SET recorded_at = recorded_at + interval '1 microsecond' "
        "WHERE id = 3"
    )
    tamper.run(backend, moved, f"UPDATE {prefix}feedback SET illicit = NOT illicit WHERE id = 2")
    report = store.verify()
    assert (report["decisions"].problem.kind, report["decisions"].problem.id) == ("edited", 3)
    assert (report["feedback"].problem.kind, report["feedback"].problem.id) == ("edited", 2)


@pytest.mark.parametrize(("deleted", "named"), [(1, 2), (5, 6)])
def test_a_deleted_decision_is_named(backend: Backend, deleted: int, named: int) -> None:
    store = backend.open()
    fill(store)
    tamper.run(backend, f"DELETE FROM {backend.table_prefix}decisions WHERE id = {deleted}")
    report = store.verify()
    problem = report["decisions"].problem
    assert problem is not None
    assert (problem.kind, problem.id) == ("missing", named)
    assert report["decisions"].checked == 7


def test_a_deleted_outcome_is_named(backend: Backend) -> None:
    store = backend.open()
    fill(store)
    tamper.run(backend, f"DELETE FROM {backend.table_prefix}feedback WHERE id = 3")
    problem = store.verify()["feedback"].problem
    assert problem is not None
    assert (problem.kind, problem.id) == ("missing", 4)


@pytest.mark.parametrize(
    ("table", "first", "second"), [("decisions", 3, 4), ("decisions", 2, 6), ("feedback", 1, 4)]
)
def test_swapped_rows_are_named_as_reordered(
    backend: Backend, table: str, first: int, second: int
) -> None:
    store = backend.open()
    fill(store)
    tamper.swap_rows(backend, table, first, second)
    report = store.verify()
    problem = report[table].problem
    assert problem is not None
    assert (problem.kind, problem.id) == ("reordered", first)
    other = "feedback" if table == "decisions" else "decisions"
    assert report[other].ok


def test_deleting_the_last_rows_shows_only_against_a_recorded_head(backend: Backend) -> None:
    store = backend.open()
    fill(store)
    recorded = store.verify()
    head = recorded["decisions"].head
    assert head is not None and head.id == 8
    tamper.run(backend, f"DELETE FROM {backend.table_prefix}decisions WHERE id >= 7")

    # The chain alone is intact: what is left still links up.
    assert store.verify().ok
    against = store.verify(heads={"decisions": head})
    problem = against["decisions"].problem
    assert problem is not None
    assert (problem.kind, problem.id) == ("truncated", 8)
    assert against["feedback"].ok

    # New rows after the deletion (SQLite reuses the ids) chain on from what is left;
    # the recorded head's row now has another hash.
    store.record_decisions([record("r-after-1", 50), record("r-after-2", 51)])
    assert store.verify().ok
    problem = store.verify(heads={"decisions": head})["decisions"].problem
    assert problem is not None
    assert problem.kind == "rewritten" if backend.name == "sqlite" else "truncated"
    assert problem.id == 8


def test_a_recomputed_chain_shows_only_against_a_recorded_head(backend: Backend) -> None:
    store = backend.open()
    fill(store)
    head = store.verify()["decisions"].head
    assert head is not None
    # Edit row 5 and recompute every hash from there on: a consistent forgery.
    rows = tamper.rows(backend, "decisions")
    rows[4]["decision"] = '{"risk_score": 0.0}'
    previous = rows[3]["chain_hash"]
    prefix = backend.table_prefix
    statements, parameters = [], {}
    for row in rows[4:]:
        row["chain_prev"] = previous
        previous = row["chain_hash"] = independent_hash(backend, "decisions", row)
        n = row["id"]
        statements.append(
            f"UPDATE {prefix}decisions SET decision = :d{n}, chain_prev = :p{n}, "
            f"chain_hash = :h{n} WHERE id = {n}"
        )
        parameters.update({f"d{n}": row["decision"], f"p{n}": row["chain_prev"]})
        parameters[f"h{n}"] = row["chain_hash"]
    tamper.run(backend, *statements, parameters=parameters)
    assert store.verify().ok
    problem = store.verify(heads={"decisions": head})["decisions"].problem
    assert problem is not None
    assert (problem.kind, problem.id) == ("rewritten", head.id)


def test_a_row_without_chain_fields_after_the_chain_began_is_named(backend: Backend) -> None:
    store = backend.open()
    fill(store, decisions=3)
    timestamp = "2026-05-01 08:00:00.000000" if backend.name == "sqlite" else "2026-05-01T08:00Z"
    # As a writer of the previous version would: the columns it knew, the id from the table.
    tamper.run(
        backend,
        f"INSERT INTO {backend.table_prefix}decisions (request_id, recorded_at, "
        "declaration_id, input_sha256, decision, model_version, policy_version) VALUES "
        f"('forged', '{timestamp}', 'D9', '{'0' * 64}', '{{}}', 'm', 'p')",
    )
    problem = store.verify()["decisions"].problem
    assert problem is not None
    assert (problem.kind, problem.id) == ("unchained", 4)
    # The store's next writer chains on from the last chained row, past the forged one.
    store.record_decisions([record("r-next", 9)])
    report = store.verify()["decisions"]
    assert report.problems == 1 and report.head is not None and report.head.id == 5


def test_a_row_inserted_with_an_explicit_id_does_not_block_the_writers(backend: Backend) -> None:
    store = backend.open()
    fill(store, decisions=2)
    timestamp = "2026-05-01 08:00:00.000000" if backend.name == "sqlite" else "2026-05-01T08:00Z"
    tamper.run(
        backend,
        f"INSERT INTO {backend.table_prefix}decisions (id, request_id, recorded_at, "
        "declaration_id, input_sha256, decision, model_version, policy_version) VALUES "
        f"(10, 'forged', '{timestamp}', 'D9', '{'0' * 64}', '{{}}', 'm', 'p')",
    )
    [result] = store.record_decisions([record("r-next", 9)])
    assert result.stored.id == 11
    problem = store.verify()["decisions"].problem
    assert problem is not None
    assert (problem.kind, problem.id) == ("unchained", 10)


def test_concurrent_writers_in_threads_give_one_intact_chain(backend: Backend) -> None:
    stores = [backend.open(), backend.open()]  # two pools: writers really race
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        store = stores[worker % 2]
        try:
            for batch in range(12):
                first = 1000 * worker + 10 * batch
                size = 1 + (batch + worker) % 4
                store.record_decisions(
                    [record(f"w{worker}-{first + k}", first + k) for k in range(size)]
                )
                store.record_feedback(f"D{worker}", inspected=True, revenue=float(batch))
        except BaseException as err:  # reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    report = stores[0].verify()
    assert report.ok, report.to_dict()
    expected = sum(1 + (batch + worker) % 4 for worker in range(4) for batch in range(12))
    assert report["decisions"].checked == expected == stores[0].count_decisions()
    assert report["feedback"].checked == 4 * 12


def test_two_names_for_one_postgresql_schema_share_the_writer_lock(
    postgres_backend: Backend,
) -> None:
    # A schema given to the store and the same schema reached through search_path are one
    # table: both writers must queue on the same lock, or they would fork the chain.
    named = postgres_backend.open()
    url = sa.make_url(postgres_backend.url).update_query_dict(
        {"options": f"-c search_path={postgres_backend.schema}"}
    )
    through_path = AuditStore.from_url(url)
    postgres_backend.opened.append(through_path)
    errors: list[BaseException] = []

    def write(store: AuditStore, prefix: str) -> None:
        try:
            for n in range(40):
                store.record_decisions([record(f"{prefix}-{n}", n)])
        except BaseException as err:
            errors.append(err)

    threads = [
        threading.Thread(target=write, args=(store, prefix))
        for store, prefix in ((named, "named"), (through_path, "path"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    report = named.verify()
    assert report.ok, report.to_dict()
    assert report["decisions"].checked == 80


def test_postgresql_sessions_read_committed(postgres_backend: Backend, postgres_url: str) -> None:
    # Under repeatable read a writer's snapshot would predate its lock, and two writers
    # could chain onto the same row; the store switches such sessions back.
    url = sa.make_url(postgres_url).update_query_dict(
        {"options": "-c default_transaction_isolation=serializable"}
    )
    store = AuditStore.from_url(url, schema=postgres_backend.schema)
    postgres_backend.opened.append(store)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW default_transaction_isolation").scalar_one() == (
            "read committed"
        )
    store.record_decisions([record("r-1", 1)])
    assert store.verify().ok


def test_heads_are_read_as_id_colon_hash() -> None:
    digest = "ab" * 32
    assert ChainHead.parse(f"12:{digest}") == ChainHead(12, digest)
    assert str(ChainHead(12, digest)) == f"12:{digest}"
    assert parse_heads([f"7:{digest}", f"feedback=3:{digest}"], ("decisions", "feedback")) == {
        "decisions": ChainHead(7, digest),
        "feedback": ChainHead(3, digest),
    }
    for bad in ("12", f"x:{digest}", f"12:{digest[:-1]}", f"12:{digest.upper()}"):
        with pytest.raises(ValueError, match="chain head"):
            parse_heads([bad], ("decisions", "feedback"))
    with pytest.raises(ValueError, match="no table"):
        parse_heads([f"other=1:{digest}"], ("decisions", "feedback"))
    with pytest.raises(ValueError, match="two expected heads"):
        parse_heads([f"1:{digest}", f"decisions=2:{digest}"], ("decisions", "feedback"))
