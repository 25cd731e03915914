"""``portsift serve`` with its audit store on a real PostgreSQL server.

The server gets a ``PORTSIFT_AUDIT_URL`` whose connections have ``search_path`` set to a
schema of this test's own (the ``postgres_backend`` isolation: created first, dropped
afterwards), so that its unqualified tables land there and nowhere else. The rows are
then read back with plain SQL, not only through :class:`~portsift.store.audit.AuditStore`.
Skips with the reason when no PostgreSQL answers, fails instead when
``PORTSIFT_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from portsift.store.audit_records import input_hash
from tests.serving.conftest import Backend, declaration_records, start_server


def test_decisions_and_feedback_are_committed_to_postgresql(
    postgres_backend: Backend, trained_model_dir: Path, tmp_path: Path, data_files: Any
) -> None:
    # postgres_backend first: without a server the test skips before the model is trained.
    records = declaration_records(data_files.declarations, 5, data_files.lab_results)
    store = postgres_backend.open()  # creates the test's schema and the tables in it
    schema = postgres_backend.schema
    assert schema is not None
    audit_url = sa.make_url(postgres_backend.url).update_query_dict(
        {"options": f"-c search_path={schema}"}
    )
    server = start_server(
        trained_model_dir, tmp_path, audit_url=audit_url.render_as_string(hide_password=False)
    )
    try:
        answers = []
        for record in records[:3]:
            response = server.post("/score", record)
            assert response.status_code == 200, response.text
            answers.append(response.json())
        response = server.post("/score_batch", {"declarations": records[3:]})
        assert response.status_code == 200, response.text
        answers += response.json()
        outcomes = [
            {"declaration_id": records[0]["declaration_id"], "inspected": 1, "illicit": 1},
            {"declaration_id": records[1]["declaration_id"], "inspected": 0, "illicit": None},
        ]
        for outcome in outcomes:
            response = server.post("/feedback", {**outcome, "revenue": None})
            assert response.status_code == 200, response.text
    finally:
        server.stop()

    by_id = {
        answer["request_id"]: (answer, record)
        for answer, record in zip(answers, records, strict=True)
    }
    engine = sa.create_engine(postgres_backend.url)
    try:
        with engine.connect() as conn:
            decisions = conn.execute(
                sa.text(
                    "SELECT request_id, declaration_id, input_sha256, decision, model_version "
                    f"FROM {postgres_backend.table_prefix}decisions ORDER BY id"
                )
            ).all()
            feedback = conn.execute(
                sa.text(
                    "SELECT declaration_id, inspected, illicit, source "
                    f"FROM {postgres_backend.table_prefix}feedback ORDER BY id"
                )
            ).all()
            # Nothing of this run went to the default schema.
            public = conn.execute(sa.text("SELECT to_regclass('public.decisions')")).scalar()
            leaked = 0
            if public is not None:
                leaked = conn.execute(
                    sa.text("SELECT count(*) FROM public.decisions WHERE request_id = ANY(:ids)"),
                    {"ids": list(by_id)},
                ).scalar_one()
    finally:
        engine.dispose()
    assert leaked == 0
    assert [row.request_id for row in decisions] == list(by_id)
    for row in decisions:
        answer, record = by_id[row.request_id]
        assert json.loads(row.decision) == answer
        assert row.declaration_id == record["declaration_id"]
        assert row.input_sha256 == input_hash(record)
        assert row.model_version == answer["model_version"]
    assert [tuple(row) for row in feedback] == [
        (records[0]["declaration_id"], True, True, "api"),
        (records[1]["declaration_id"], False, None, "api"),
    ]
    # And through the store, as `portsift` reads it back.
    assert all(store.get_decision(request_id) is not None for request_id in by_id)
