"""New, repeat, amendment, correction; lookups by declaration and by idempotency key.

What the API needs from the store to answer retries and corrections, on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from portsift.store.audit import DECISION_COLUMNS, DuplicateRequestError
from portsift.store.audit_records import DecisionRecord, FeedbackResult
from tests.store.audit_rows import declaration, record

if TYPE_CHECKING:
    from portsift.store.audit import AuditStore
    from tests.store.conftest import Backend


def changed(number: int, value: float) -> dict[str, Any]:
    """Declaration ``number`` with another declared value: another input hash."""
    return {**declaration(number), "declared_value": value}


def feedback_rows(backend: Backend, store: AuditStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(
            sa.text(f"SELECT count(*) FROM {backend.table_prefix}feedback")
        ).scalar_one()


# ---------------------------------------------------------------------------- decisions


def test_rows_are_new_or_amendments_and_every_row_is_written_by_default(
    backend: Backend,
) -> None:
    store = backend.open()
    first = store.record_decisions([record("r-1", 1), record("r-2", 2)])
    assert [(r.kind, r.stored.id, r.stored.amends) for r in first] == [
        ("new", 1, None),
        ("new", 2, None),
    ]
    # What is returned is what is on record.
    assert first[0].stored == store.get_decision("r-1")
    assert first[0].stored.decision == record("r-1", 1).decision

    again = store.record_decisions(
        [record("r-3", 1, declaration=changed(1, 5.0)), record("r-4", 2), record("r-5", 3)]
    )
    # Without skip_repeats the same input again is written too (its caller answers with
    # the decision it computed, which must be on record).
    assert [(r.kind, r.stored.request_id, r.stored.amends) for r in again] == [
        ("amendment", "r-3", 1),
        ("new", "r-4", None),
        ("new", "r-5", None),
    ]
    assert store.count_decisions() == 5


def test_repeats_are_answered_from_the_store_and_not_written(backend: Backend) -> None:
    store = backend.open()
    [original] = store.record_decisions([record("r-1", 1)], skip_repeats=True)
    results = store.record_decisions(
        [
            record("r-2", 1),  # the same input again: a repeat of r-1
            record("r-3", 2),  # new
            record("r-4", 2),  # the same as the row before it in this batch
            record("r-5", 3),  # new
            record("r-6", 3, declaration=changed(3, 9.0)),  # amends the row before it
            record("r-7", 3),  # the first input of D3 again: amends r-6, not a repeat
        ],
        skip_repeats=True,
    )
    assert [r.kind for r in results] == ["repeat", "new", "repeat", "new", "amendment", "amendment"]
    assert results[0].stored == original.stored
    assert results[2].stored == results[1].stored
    assert results[4].stored.amends == results[3].stored.id
    assert results[5].stored.amends == results[4].stored.id
    assert [r.stored.request_id for r in results] == ["r-1", "r-3", "r-3", "r-5", "r-6", "r-7"]
    assert store.count_decisions() == 5
    assert store.get_decision("r-2") is None and store.get_decision("r-4") is None
    assert store.verify().ok


def test_a_repeat_with_a_request_id_on_record_is_refused(backend: Backend) -> None:
    store = backend.open()
    store.record_decisions([record("r-1", 1)])
    with pytest.raises(DuplicateRequestError) as caught:
        store.record_decisions([record("r-2", 2), record("r-1", 1)], skip_repeats=True)
    assert caught.value.request_ids == ("r-1",)
    assert store.count_decisions() == 1  # r-2 was not written either


def test_credentials_and_idempotency_keys_are_stored_and_found(backend: Backend) -> None:
    store = backend.open()
    batch = [
        record(f"b-{n}", n, credential="broker-portal", idempotency_key="key-1") for n in range(3)
    ]
    store.record_decisions(batch)
    store.record_decisions([record("o-1", 7, credential="officer-app", idempotency_key="key-1")])
    store.record_decisions([record("b-9", 9, credential="broker-portal", idempotency_key="key-2")])
    store.record_decisions([record("n-1", 8)])

    found = store.decisions_for_key("broker-portal", "key-1")
    assert [d.request_id for d in found] == ["b-0", "b-1", "b-2"]
    assert all((d.credential, d.idempotency_key) == ("broker-portal", "key-1") for d in found)
    assert [d.request_id for d in store.decisions_for_key("officer-app", "key-1")] == ["o-1"]
    assert store.decisions_for_key("officer-app", "key-2") == []
    assert store.decisions_for_key(None, "key-1") == []
    stored = store.get_decision("n-1")
    assert stored is not None and (stored.credential, stored.idempotency_key) == (None, None)


def test_decided_ids_and_latest_decisions_look_up_many_declarations(backend: Backend) -> None:
    store = backend.open()
    count = 1_200  # more than two IN chunks of 500
    for start in range(0, count, 400):
        store.record_decisions([record(f"r-{n}", n) for n in range(start, start + 400)])
    amended = store.record_decisions([record("r-amend", 601, declaration=changed(601, 2.0))])
    asked = [f"D{n:06d}" for n in range(0, 2 * count, 2)] + ["unknown", "D000000"]
    expected = {f"D{n:06d}" for n in range(0, count, 2)}
    assert store.decided_ids(asked) == expected
    assert store.decided_ids([]) == set()

    latest = store.latest_decisions([f"D{n:06d}" for n in range(595, 1_205)])
    assert set(latest) == {f"D{n:06d}" for n in range(595, count)}
    assert latest["D000601"] == amended[0].stored
    assert latest["D000602"].request_id == "r-602"
    assert store.latest_decisions(["unknown"]) == {}


def test_decided_declarations_are_counted_once(backend: Backend) -> None:
    store = backend.open()
    base = datetime(2026, 5, 1, tzinfo=UTC)
    store.record_decisions(
        [
            record("r-1", 1, recorded_at=base),
            record("r-2", 2, recorded_at=base + timedelta(hours=1)),
            record("r-3", 1, declaration=changed(1, 3.0), recorded_at=base + timedelta(hours=2)),
        ]
    )
    assert store.count_decisions() == 3
    assert store.count_decided_declarations() == 2
    assert store.count_decided_declarations(since=base + timedelta(minutes=30)) == 2
    assert store.count_decided_declarations(since=base + timedelta(hours=2)) == 1
    with pytest.raises(ValueError, match="time zone aware"):
        store.count_decided_declarations(since=datetime(2026, 5, 1))


def test_decisions_frame_gives_credential_and_amends_after_the_old_columns(
    backend: Backend,
) -> None:
    store = backend.open()
    store.record_decisions([record("r-1", 1, credential="api"), record("r-2", 2)])
    store.record_decisions([record("r-3", 1, declaration=changed(1, 3.0), credential="api")])
    frame = store.decisions_frame()
    assert list(frame.columns) == list(DECISION_COLUMNS)
    assert list(DECISION_COLUMNS[:8]) == [
        "id",
        "request_id",
        "recorded_at",
        "declaration_id",
        "input_sha256",
        "decision",
        "model_version",
        "policy_version",
    ]
    assert str(frame["amends"].dtype) == "Int64"
    assert frame["amends"].tolist()[2] == 1
    assert frame["amends"].isna().tolist() == [True, True, False]
    assert frame["credential"].tolist()[::2] == ["api", "api"]
    assert frame["credential"].isna().tolist() == [False, True, False]


def test_the_declared_value_is_kept_for_checking_outcomes(backend: Backend) -> None:
    store = backend.open()
    integer = {**declaration(2), "declared_value": 1200}
    unknown = {**declaration(3), "declared_value": "n/a"}
    results = store.record_decisions(
        [
            record("r-1", 1),
            record("r-2", 2, declaration=integer),
            record("r-3", 3, declaration=unknown),
        ]
    )
    assert [r.stored.declared_value for r in results] == [1235.5, 1200.0, None]
    latest = store.latest_decisions(["D000001", "D000002", "D000003"])
    assert {key: d.declared_value for key, d in latest.items()} == {
        "D000001": 1235.5,
        "D000002": 1200.0,
        "D000003": None,
    }
    assert store.verify().ok
    with pytest.raises(ValueError, match="declared_value"):
        DecisionRecord(**{**_fields(record("r-4", 4)), "declared_value": math.nan})
    direct = DecisionRecord(**{**_fields(record("r-4", 4)), "declared_value": 7})
    assert direct.declared_value == 7.0 and isinstance(direct.declared_value, float)


def _fields(row: DecisionRecord) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__dataclass_fields__}


def test_decision_records_check_credential_and_key() -> None:
    good = record("r-1", 1, credential="c" * 64, idempotency_key="k" * 128)
    assert isinstance(good, DecisionRecord)
    for field, value in (
        ("credential", "c" * 65),
        ("credential", " "),
        ("idempotency_key", "k" * 129),
        ("idempotency_key", ""),
    ):
        with pytest.raises(ValueError, match=field):
            record("r-1", 1, **{field: value})


# ----------------------------------------------------------------------------- feedback


def test_outcomes_are_new_repeats_or_corrections_per_credential(backend: Backend) -> None:
    store = backend.open()
    first = store.record_feedback(
        "D1", inspected=True, illicit=True, revenue=10.0, credential="officer-app", request_id="h1"
    )
    assert first == FeedbackResult(1, "new", None)
    assert int(first) == 1  # as the plain row id the method used to return

    # The same values from the same credential: nothing written, the row on record back.
    repeat = store.record_feedback(
        "D1", inspected=True, illicit=True, revenue=10.0, credential="officer-app"
    )
    assert repeat == FeedbackResult(1, "repeat", None)
    assert feedback_rows(backend, store) == 1

    # Other values: a correction of the latest outcome from that credential.
    correction = store.record_feedback(
        "D1", inspected=True, illicit=False, revenue=0.0, credential="officer-app"
    )
    assert correction == FeedbackResult(2, "correction", 1)
    # Another credential judges on its own; so does "no credential".
    assert store.record_feedback(
        "D1", inspected=True, illicit=True, revenue=10.0, credential="lab-system"
    ) == FeedbackResult(3, "new", None)
    assert store.record_feedback("D1", inspected=True, illicit=True, revenue=10.0).kind == "new"
    assert store.record_feedback("D1", inspected=True, illicit=True, revenue=10.0).kind == "repeat"
    # The first values again are a correction of the correction, not a repeat of row 1.
    back = store.record_feedback(
        "D1", inspected=True, illicit=True, revenue=10.0, credential="officer-app"
    )
    assert back == FeedbackResult(5, "correction", 2)
    # A repeat of a correction reports what that correction corrects.
    assert store.record_feedback(
        "D1", inspected=True, illicit=True, revenue=10.0, credential="officer-app"
    ) == FeedbackResult(5, "repeat", 2)
    # Unknown and zero are different values.
    assert store.record_feedback("D2", inspected=True, revenue=None).kind == "new"
    assert store.record_feedback("D2", inspected=True, revenue=0.0).kind == "correction"
    assert feedback_rows(backend, store) == 7
    assert store.verify().ok

    with store.engine.connect() as conn:
        stored = conn.execute(
            sa.text(
                f"SELECT credential, request_id, corrects FROM {backend.table_prefix}feedback "
                "ORDER BY id"
            )
        ).all()
    assert [tuple(row) for row in stored[:3]] == [
        ("officer-app", "h1", None),
        ("officer-app", None, 1),
        ("lab-system", None, None),
    ]


def test_outcome_credentials_and_request_ids_are_checked(backend: Backend) -> None:
    store = backend.open()
    with pytest.raises(ValueError, match="credential"):
        store.record_feedback("D1", inspected=True, credential="c" * 65)
    with pytest.raises(ValueError, match="request_id"):
        store.record_feedback("D1", inspected=True, request_id="")
    with pytest.raises(ValueError, match="revenue"):
        store.record_feedback("D1", inspected=True, revenue=math.inf, credential="api")
    assert feedback_rows(backend, store) == 0


def test_feedback_frame_counts_only_the_sources_asked_for(backend: Backend) -> None:
    store = backend.open()
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    store.record_feedback(
        "D1", inspected=True, illicit=True, revenue=5.0, credential="officer-app", received_at=t0
    )
    store.record_feedback(
        "D1",
        inspected=True,
        illicit=False,
        revenue=0.0,
        credential="broker-portal",
        received_at=t0 + timedelta(hours=1),
    )
    store.record_feedback("D2", inspected=False, received_at=t0)  # no credential

    def labels(sources: list[str] | None) -> dict[str, list[float]]:
        frame = store.feedback_frame(sources).set_index("declaration_id")
        return {key: [float(v) for v in row] for key, row in frame.iterrows()}

    everything = labels(None)
    assert everything["D1"] == [1.0, 0.0, 0.0]  # the later outcome, from broker-portal
    assert set(everything) == {"D1", "D2"}
    assert labels(["officer-app"]) == {"D1": [1.0, 1.0, 5.0]}
    assert labels(["officer-app", "broker-portal"]) == {"D1": [1.0, 0.0, 0.0]}
    assert store.feedback_frame([]).empty
    assert list(store.feedback_frame([]).columns) == list(store.feedback_frame().columns)
