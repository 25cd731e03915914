"""The hash chain's content and hash: the fast writer agrees with canonical JSON."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from portsift.store.audit_chain import (
    CHAIN_FIELDS,
    GENESIS,
    OPTIONAL_FIELDS,
    chain_rows,
    content_hash,
    content_json,
    row_content,
    timestamp_text,
)
from portsift.store.audit_records import canonical_json
from portsift.store.audit_tables import build_tables

texts = st.one_of(st.none(), st.text(alphabet=st.characters(exclude_categories=("Cs",))))
ids = st.one_of(st.none(), st.integers(min_value=0, max_value=2**63 - 1))
flags = st.one_of(st.none(), st.booleans())
amounts = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False))


def test_every_column_but_id_and_chain_hash_is_hashed() -> None:
    # A column added later must be added here on purpose (and old rows keep their hash).
    _, decisions, feedback = build_tables(None)
    for table in (decisions, feedback):
        expected = sorted(c.name for c in table.columns if c.name not in ("id", "chain_hash"))
        assert list(CHAIN_FIELDS[table.name]) == expected


def _content(table: str, values: tuple) -> dict:
    # As the docs say: the optional fields enter only when not null.
    return {
        name: value
        for name, value in zip(CHAIN_FIELDS[table], values, strict=True)
        if not (name in OPTIONAL_FIELDS and value is None)
    }


@given(st.tuples(ids, *[texts] * 5, amounts, *[texts] * 7, flags))
def test_decision_content_is_canonical_json(values: tuple) -> None:
    content = _content("decisions", values)
    assert content_json("decisions", values) == canonical_json(content)


@given(
    st.tuples(
        texts, ids, texts, texts, flags, flags, texts, texts, texts, texts, amounts, texts,
        texts, flags,
    )
)  # fmt: skip
def test_feedback_content_is_canonical_json(values: tuple) -> None:
    content = _content("feedback", values)
    assert content_json("feedback", values) == canonical_json(content)
    expected = hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()
    assert content_hash("feedback", values) == expected


def test_a_row_without_the_optional_fields_hashes_as_before_them() -> None:
    # The hash of a feedback row from before the console's fields, as the chain wrote it
    # then: its ten fields alone. Old rows keep their hash in an upgraded store.
    before = {
        "chain_prev": GENESIS,
        "corrects": None,
        "credential": "api",
        "declaration_id": "D1",
        "illicit": True,
        "inspected": True,
        "received_at": "2026-05-01T08:00:00.000000+00:00",
        "request_id": "r-1",
        "revenue": 12.5,
        "source": "api",
    }
    row = {**before, "note": None, "officer_id": None}  # upgraded store: nulls
    values = [row.get(name) for name in CHAIN_FIELDS["feedback"]]
    assert content_json("feedback", values) == canonical_json(before)
    with_officer = {**before, "officer_id": "o-7"}
    values = [with_officer.get(name) for name in CHAIN_FIELDS["feedback"]]
    assert content_json("feedback", values) == canonical_json(with_officer)
    assert (
        content_hash("feedback", values)
        != hashlib.sha256(canonical_json(before).encode("utf-8")).hexdigest()
    )


def test_timestamps_are_utc_iso_with_microseconds() -> None:
    assert timestamp_text(datetime(2026, 5, 1, 8, tzinfo=UTC)) == "2026-05-01T08:00:00.000000+00:00"
    beijing = timezone(timedelta(hours=8))
    moment = datetime(2026, 5, 1, 16, 0, 0, 12, tzinfo=beijing)
    assert timestamp_text(moment) == "2026-05-01T08:00:00.000012+00:00"


def test_rows_are_chained_in_order_from_the_previous_hash() -> None:
    base = datetime(2026, 5, 1, tzinfo=UTC)
    rows = [
        {
            "received_at": base + timedelta(minutes=n),
            "declaration_id": f"D{n}",
            "inspected": True,
            "illicit": n % 2 == 0,
            "revenue": 10.5 * n,
            "source": "api",
            "credential": "officer-app",
            "request_id": None,
            "corrects": None,
        }
        for n in range(3)
    ]
    head = chain_rows("feedback", rows, GENESIS)
    assert rows[0]["chain_prev"] == GENESIS
    assert [r["chain_prev"] for r in rows[1:]] == [r["chain_hash"] for r in rows[:-1]]
    assert head == rows[-1]["chain_hash"]
    for row in rows:
        # The recipe of the docs: sorted keys, compact, UTF-8, timestamps as text.
        content = row_content("feedback", row)
        assert content["received_at"] == timestamp_text(row["received_at"])
        text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(text.encode("utf-8")).hexdigest() == row["chain_hash"]
    # Changing any field, the link included, changes the hash.
    changed = [dict(row) for row in rows]
    changed[1]["revenue"] = 10.500001
    chain_rows("feedback", changed, GENESIS)
    assert changed[1]["chain_hash"] != rows[1]["chain_hash"]
    assert changed[2]["chain_hash"] != rows[2]["chain_hash"]  # through chain_prev


@given(st.lists(st.tuples(ids, *[texts] * 5, amounts, *[texts] * 7, flags), max_size=6))
def test_decision_rows_are_chained_as_content_hash_says(batch: list[tuple]) -> None:
    # chain_rows builds every row's text column by column around chain_prev; it must be
    # the text content_json writes for the row alone (optional nulls left out).
    base = datetime(2026, 5, 1, tzinfo=UTC)
    rows = []
    for n, values in enumerate(batch):
        row = dict(zip(CHAIN_FIELDS["decisions"], values, strict=True))
        row["recorded_at"] = base + timedelta(seconds=n)
        rows.append(row)
    previous = "ab" * 32
    head = chain_rows("decisions", rows, previous)
    for row in rows:
        assert row["chain_prev"] == previous
        content = row_content("decisions", row)
        assert (
            hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()
            == (row["chain_hash"])
        )
        previous = row["chain_hash"]
    assert head == previous
