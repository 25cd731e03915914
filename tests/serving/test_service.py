"""The HTTP API against a real BentoML server started by ``portsift serve``.

One server per module (the ``server`` fixture of ``conftest.py``: a subprocess on a free
loopback port, stopped at the end). The answers are checked against
:func:`portsift.models.scoring.score_declarations` on the same declarations and against the audit
store the server wrote.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portsift.cli import main
from portsift.features import contract
from portsift.features.loading import declarations_from_records
from portsift.features.pipeline import Registers
from portsift.models.bundle import Bundle, load_bundle
from portsift.models.scoring import score_declarations
from portsift.serving.api_models import Decision
from portsift.serving.service import DEFAULT_MAX_BODY_BYTES
from portsift.store.audit import AuditStore
from tests.serving.conftest import (
    SCORE_ONLY_TOKEN,
    TOKEN,
    TOKEN_NAME,
    Server,
    declaration_records,
)


@pytest.fixture(scope="module")
def bundle(trained_model_dir: Path) -> Bundle:
    """The bundle the server serves, loaded here for the reference answers."""
    return load_bundle(trained_model_dir)


@pytest.fixture(scope="module")
def records(data_files: Any) -> list[dict[str, Any]]:
    """Eight declarations of the shared data set as JSON objects."""
    return declaration_records(data_files.declarations, 8, data_files.lab_results)


def _reference(bundle: Bundle, records: list[dict[str, Any]]) -> Any:
    frame = declarations_from_records(records).frame
    return score_declarations(bundle, frame, Registers(None, None, None), rate=0.05)


def _assert_same_as_library(answer: dict[str, Any], reference: Any, i: int) -> None:
    expected = reference.decisions.iloc[i]
    assert answer["declaration_id"] == expected["declaration_id"]
    assert answer["risk_score"] == pytest.approx(expected["risk_score"], rel=1e-12, abs=1e-15)
    assert answer["expected_revenue"] == pytest.approx(expected["expected_revenue"], rel=1e-12)
    assert answer["raw_score"] == pytest.approx(expected["raw_score"], rel=1e-12, abs=1e-12)
    explanation = reference.explanation
    assert [c["feature"] for c in answer["contributions"]] == explanation.features
    shap = np.array([c["shap"] for c in answer["contributions"]])
    np.testing.assert_allclose(shap, explanation.values[i], rtol=1e-12, atol=1e-12)
    assert answer["base_value"] == pytest.approx(explanation.base_value[i], abs=1e-12)
    assert answer["base_value"] + shap.sum() == pytest.approx(answer["raw_score"], abs=1e-9)


def test_score_equals_the_library_and_is_audited(
    server: Server, bundle: Bundle, records: list[dict[str, Any]]
) -> None:
    store = AuditStore.from_url(server.audit_url)
    try:
        for record in records:
            response = server.post("/score", record)
            assert response.status_code == 200, response.text
            answer = response.json()
            _assert_same_as_library(answer, _reference(bundle, [record]), 0)
            assert answer["model_version"] == bundle.model_version
            # The settings' digest and the credit rule set of the declaration's date.
            version, rule_set = answer["policy_version"].split("/")
            assert version == bundle.metadata["policy_version"]
            assert rule_set.startswith("gacc-order-")
            assert answer["objective"] == bundle.metadata["ranking"]["objective"]
            assert answer["revenue_weight"] == bundle.metadata["ranking"]["revenue_weight"]
            assert answer["lane"] in ("green", "yellow", "red", "red_sampling", "red_remote")
            assert answer["release_condition"] in (
                "",
                "conditional_early_release",
                "conditional_release",
            )
            assert answer["selected"] == int(answer["lane"] != "green")
            stored = store.get_decision(answer["request_id"])
            assert stored is not None, "the answer is not in the audit store"
            assert stored.decision == answer
            assert stored.declaration_id == record["declaration_id"]
            assert stored.model_version == bundle.model_version
    finally:
        store.close()


def test_score_batch_keeps_order_and_matches_the_library(
    server: Server, bundle: Bundle, records: list[dict[str, Any]]
) -> None:
    batch = list(reversed(records))
    response = server.post("/score_batch", {"declarations": batch})
    assert response.status_code == 200, response.text
    answers = response.json()
    assert [a["declaration_id"] for a in answers] == [r["declaration_id"] for r in batch]
    reference = _reference(bundle, batch)
    for i, answer in enumerate(answers):
        _assert_same_as_library(answer, reference, i)
    assert len({a["request_id"] for a in answers}) == len(answers)
    store = AuditStore.from_url(server.audit_url)
    try:
        assert all(store.get_decision(a["request_id"]) is not None for a in answers)
    finally:
        store.close()


def test_reasons_follow_the_requested_language(
    server: Server, records: list[dict[str, Any]]
) -> None:
    # Three declarations with the same content (a declaration sent again is answered as
    # on record, in the language it was first decided in).
    english = server.post("/score", {**records[0], "declaration_id": "LANG-EN"}).json()["reasons"]
    by_header = server.post(
        "/score",
        {**records[0], "declaration_id": "LANG-ZH-1"},
        headers={"Accept-Language": "zh-CN,zh;q=0.9"},
    )
    by_field = server.post("/score", {**records[0], "declaration_id": "LANG-ZH-2", "lang": "zh"})
    assert by_header.json()["reasons"] == by_field.json()["reasons"] != english
    assert any("\u4e00" <= ch <= "\u9fff" for ch in by_field.json()["reasons"])


def test_tokens_are_required_except_for_health(
    server: Server, records: list[dict[str, Any]]
) -> None:
    for path, body in (
        ("/score", records[0]),
        ("/score_batch", {"declarations": records[:1]}),
        ("/feedback", {"declaration_id": "D1", "inspected": 1}),
    ):
        assert server.post(path, body, token=None).status_code == 401
        assert server.post(path, body, token="wrong-token-0123456789").status_code == 401
        wrong_scheme = server.post(path, body, token=None, headers={"Authorization": TOKEN})
        assert wrong_scheme.status_code == 401
    for path in ("/livez", "/readyz"):
        assert httpx.get(server.url + path, timeout=10).status_code == 200


def test_each_path_needs_its_scope(server: Server, records: list[dict[str, Any]]) -> None:
    # A token without a name (the older configuration form) may score, nothing else.
    scored = server.post("/score", records[0], token=SCORE_ONLY_TOKEN)
    assert scored.status_code == 200, scored.text
    outcome = {"declaration_id": scored.json()["declaration_id"], "inspected": 1, "illicit": 1}
    refused = server.post("/feedback", outcome, token=SCORE_ONLY_TOKEN)
    assert refused.status_code == 403
    assert "scope 'feedback'" in refused.json()["error"]
    assert SCORE_ONLY_TOKEN not in refused.text
    metrics = server.url + "/metrics"
    assert httpx.get(metrics, timeout=10).status_code == 401
    bearer = {"Authorization": f"Bearer {SCORE_ONLY_TOKEN}"}
    assert httpx.get(metrics, headers=bearer, timeout=10).status_code == 403
    allowed = httpx.get(metrics, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert allowed.status_code == 200
    assert "bentoml_service_request" in allowed.text


def _bad(server: Server, body: Any = None, **kw: Any) -> dict[str, Any]:
    response = server.post("/score", body, **kw)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    return response.json()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"importer_id": None}, "importer_id"),  # missing required field
        ({"declared_value": "a lot"}, "declared_value"),  # wrong type
        ({"declared_value": -5.0}, "declared_value"),  # negative value
        ({"quantity": -1.0}, "quantity"),
        ({"hs_code": ["6109"]}, "hs_code"),
        ({"declared_at": "31/31/2024"}, "declared_at"),  # unparseable date (loader)
        ({"hs_code": "12"}, "hs_code"),  # not 6 to 10 digits (loader)
        # Unknown enumerated string: the lab result (a declaration carries no tier).
        (
            {"lab_id": "L1", "lab_accredited": 1, "lab_result": "maybe", "issued_at": "2024-01-02"},
            "lab_result",
        ),
        ({"lab_accredited": 2}, "lab_accredited"),
        ({"colour": "red"}, "colour"),  # unknown field
    ],
)
def test_bad_declarations_get_4xx_naming_the_field(
    server: Server, records: list[dict[str, Any]], change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**records[0], **change}.items() if v is not None}
    answer = _bad(server, body)
    assert answer["field"] == field
    assert field in answer["error"]


def test_invalid_json_and_oversized_bodies_get_4xx(server: Server) -> None:
    answer = _bad(server, content=b'{"declaration_id": "D1",')
    assert "Invalid JSON" in answer["error"]
    too_big = server.post("/score", content=b" " * (DEFAULT_MAX_BODY_BYTES + 1))
    assert too_big.status_code == 413
    batch = server.post("/score_batch", {"declarations": []})
    assert batch.status_code == 400
    assert batch.json()["field"] == "declarations"


def test_a_bad_record_in_a_batch_is_named(server: Server, records: list[dict[str, Any]]) -> None:
    batch = [records[0], {**records[1], "declared_at": "yesterday"}]
    response = server.post("/score_batch", {"declarations": batch})
    assert response.status_code == 422
    assert response.json()["field"] == "declared_at"
    assert response.json()["records"] == [2]
    batch = [records[0], {**records[1], "declared_value": -1.0}]
    response = server.post("/score_batch", {"declarations": batch})
    assert response.status_code == 400
    assert response.json()["field"] == "declared_value"
    assert "declarations.1.declared_value" in response.json()["error"]


def _decided(server: Server, records: list[dict[str, Any]], *ids: str) -> None:
    """Have the server decide declarations under these ids (feedback needs a decision)."""
    batch = [{**records[i % len(records)], "declaration_id": d} for i, d in enumerate(ids)]
    response = server.post("/score_batch", {"declarations": batch})
    assert response.status_code == 200, response.text


def test_feedback_round_trip(server: Server, records: list[dict[str, Any]]) -> None:
    _decided(server, records, "FB-1", "FB-2", "FB-3", "FB-4")
    outcomes = [
        {"declaration_id": "FB-1", "inspected": 1, "illicit": 1, "revenue": 12.5},
        {"declaration_id": "FB-2", "inspected": 1, "illicit": 0, "revenue": 0},
        {"declaration_id": "FB-3", "inspected": 0, "illicit": None},
    ]
    for outcome in outcomes:
        response = server.post("/feedback", outcome)
        assert response.status_code == 200, response.text
        assert response.json()["recorded"] is True
        assert response.json()["kind"] == "new"
    for bad, field in (
        ({"declaration_id": "FB-4", "inspected": 2}, "inspected"),
        ({"declaration_id": "FB-4", "inspected": 1, "illicit": "yes"}, "illicit"),
        ({"declaration_id": "FB-4", "inspected": 1, "revenue": -3}, "revenue"),
        ({"declaration_id": "FB-4", "inspected": 0, "illicit": 1}, "illicit"),
        ({"inspected": 1}, "declaration_id"),
    ):
        response = server.post("/feedback", bad)
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["field"] == field
    store = AuditStore.from_url(server.audit_url)
    try:
        frame = store.feedback_frame().set_index("declaration_id")
    finally:
        store.close()
    assert "FB-4" not in frame.index
    assert frame.loc["FB-1"].tolist() == [1.0, 1.0, 12.5]
    assert frame.loc["FB-2"].tolist() == [1.0, 0.0, 0.0]
    assert frame.loc["FB-3", "inspected"] == 0.0
    assert np.isnan(frame.loc["FB-3", "illicit"])


def test_feedback_is_for_decided_declarations_with_plausible_revenue(
    server: Server, records: list[dict[str, Any]]
) -> None:
    unknown = server.post("/feedback", {"declaration_id": "NEVER-DECIDED", "inspected": 1})
    assert unknown.status_code == 404
    assert unknown.json()["field"] == "declaration_id"
    assert "NEVER-DECIDED" in unknown.json()["error"]
    _decided(server, records, "FB-BOUND")
    # At most 10 times the declared value, or 10,000 whatever the value ([feedback]).
    bound = max(float(records[0]["declared_value"]) * 10, 10_000.0)
    too_much = {"declaration_id": "FB-BOUND", "inspected": 1, "revenue": bound * 1.05}
    refused = server.post("/feedback", too_much)
    assert refused.status_code == 422 and refused.json()["field"] == "revenue"
    assert "max_revenue_to_declared_value" in refused.json()["error"]
    at_bound = {"declaration_id": "FB-BOUND", "inspected": 1, "illicit": 1, "revenue": bound}
    assert server.post("/feedback", at_bound).status_code == 200
    store = AuditStore.from_url(server.audit_url)
    try:
        assert "NEVER-DECIDED" not in store.feedback_frame()["declaration_id"].tolist()
    finally:
        store.close()


def test_outcomes_record_their_credential_repeats_and_corrections(
    server: Server, records: list[dict[str, Any]]
) -> None:
    _decided(server, records, "FB-CORR")
    first = {"declaration_id": "FB-CORR", "inspected": 1, "illicit": 0, "revenue": 0}
    new = server.post("/feedback", first).json()
    repeat = server.post("/feedback", first).json()
    changed = server.post("/feedback", {**first, "illicit": 1, "revenue": 3.0}).json()
    assert new["kind"] == "new" and new["corrects"] is None
    assert repeat["kind"] == "repeat" and repeat["feedback_id"] == new["feedback_id"]
    assert changed["kind"] == "correction" and changed["corrects"] == new["feedback_id"]
    store = AuditStore.from_url(server.audit_url)
    try:
        labels = store.feedback_frame(sources=[TOKEN_NAME]).set_index("declaration_id")
        assert labels.loc["FB-CORR"].tolist() == [1.0, 1.0, 3.0]
        assert "FB-CORR" not in store.feedback_frame(sources=["someone-else"])["declaration_id"]
        decided = store.latest_decisions(["FB-CORR"])["FB-CORR"]
        assert decided.credential == TOKEN_NAME
    finally:
        store.close()


def test_a_repeat_writes_nothing_and_an_amendment_is_recorded(
    server: Server, records: list[dict[str, Any]]
) -> None:
    body = {**records[1], "declaration_id": "IDEM-1"}
    first = server.post("/score", body)
    assert first.status_code == 200, first.text
    store = AuditStore.from_url(server.audit_url)
    try:
        before = store.count_decisions()
        again = server.post("/score", body)
        assert again.status_code == 200
        assert again.content == first.content, "a repeat must answer the decision on record"
        assert again.headers["x-request-id"] != first.json()["request_id"]
        assert store.count_decisions() == before, "a repeat wrote a row"
        changed = {**body, "declared_value": float(body["declared_value"]) * 2}
        amended = server.post("/score", changed)
        assert amended.status_code == 200
        assert store.count_decisions() == before + 1
        latest = store.latest_decisions(["IDEM-1"])["IDEM-1"]
        original = store.get_decision(first.json()["request_id"])
        assert original is not None and latest.amends == original.id
        assert latest.request_id == amended.json()["request_id"]
        assert store.count_decided_declarations() <= store.count_decisions()
    finally:
        store.close()


def test_an_idempotency_key_is_for_one_body(server: Server, records: list[dict[str, Any]]) -> None:
    key = {"Idempotency-Key": "key-4f1c7e2a"}
    batch = {"declarations": [{**records[2], "declaration_id": f"KEY-{i}"} for i in range(2)]}
    first = server.post("/score_batch", batch, headers=key)
    assert first.status_code == 200, first.text
    retry = server.post("/score_batch", batch, headers=key)
    assert retry.status_code == 200 and retry.json() == first.json()
    other = {"declarations": [{**batch["declarations"][0], "quantity": 999.0}]}
    conflict = server.post("/score_batch", other, headers=key)
    assert conflict.status_code == 422
    assert conflict.json()["field"] == "Idempotency-Key"
    malformed = server.post("/score_batch", batch, headers={"Idempotency-Key": "has space"})
    assert malformed.status_code == 422
    store = AuditStore.from_url(server.audit_url)
    try:
        keyed = store.decisions_for_key(TOKEN_NAME, "key-4f1c7e2a")
        assert [d.declaration_id for d in keyed] == ["KEY-0", "KEY-1"]
    finally:
        store.close()


def test_serve_refuses_to_start_without_tokens(
    trained_model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PORTSIFT_API_TOKENS", raising=False)
    monkeypatch.delenv("PORTSIFT_API_TOKEN_FILE", raising=False)
    assert main(["serve", "--model-dir", str(trained_model_dir)]) == 2
    assert "no API token configured" in capsys.readouterr().err
    monkeypatch.setenv("PORTSIFT_API_TOKENS", "short")
    assert main(["serve", "--model-dir", str(trained_model_dir)]) == 2


def test_insecure_dev_warns(
    trained_model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from portsift.cli import build_parser
    from portsift.commands.serve_impl import serve_command

    monkeypatch.delenv("PORTSIFT_API_TOKENS", raising=False)
    monkeypatch.delenv("PORTSIFT_API_TOKEN_FILE", raising=False)
    args = build_parser().parse_args(
        ["serve", "--model-dir", str(trained_model_dir), "--insecure-dev", "--port", "3999"]
    )
    command, env = serve_command(args)
    assert "WARNING: --insecure-dev" in capsys.readouterr().err
    assert env["PORTSIFT_INSECURE_DEV"] == "1"
    assert env["PORTSIFT_MODEL_DIR"] == str(trained_model_dir.resolve())
    assert command[-6:-2] == ["--host", "127.0.0.1", "--port", "3999"]


def test_a_batch_of_one_equals_portsift_score(
    server: Server, data_files: Any, records: list[dict[str, Any]], tmp_path: Path
) -> None:
    """``/score_batch`` with one declaration against ``portsift score`` on the same row.

    The API receives the lab report inline; the command line reads it from the lab
    results file. The selection differs by design (online thresholds in the API, exactly
    ``round(rate x N)`` in a batch file), so only the scores are compared.
    """
    import pandas as pd

    ids = [r["declaration_id"] for r in records]
    with data_files.declarations.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if row["declaration_id"] in ids]
        header = reader.fieldnames
    for row in rows:
        declarations = tmp_path / f"{row['declaration_id']}.csv"
        with declarations.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            writer.writeheader()
            writer.writerow(row)
        out = tmp_path / f"{row['declaration_id']}.scores.csv"
        argv = ["score", "--model-dir", str(server.model_dir), "--declarations"]
        argv += [str(declarations), "--lab-results", str(data_files.lab_results)]
        assert main([*argv, "--out", str(out), "--quiet"]) == 0
        expected = pd.read_csv(out).iloc[0]
        record = records[ids.index(row["declaration_id"])]
        response = server.post("/score_batch", {"declarations": [record]})
        assert response.status_code == 200, response.text
        (answer,) = response.json()
        assert answer["risk_score"] == pytest.approx(expected["risk_score"], rel=1e-9)
        assert answer["expected_revenue"] == pytest.approx(expected["expected_revenue"], rel=1e-9)
        assert answer["credit_tier"] == expected["credit_tier"]


def test_bundle_imports_into_the_bentoml_model_store(
    trained_model_dir: Path, tmp_path: Path
) -> None:
    """``import_bundle`` stores a verified copy once; the copy loads as the same bundle."""
    script = (
        "import sys\n"
        "from portsift.models.bundle import load_bundle\n"
        "import bentoml\n"
        "from portsift.store.model_store import import_bundle\n"
        "first = import_bundle(sys.argv[1])\n"
        "assert import_bundle(sys.argv[1]) == first\n"
        "print(first, load_bundle(bentoml.models.get('portsift-risk:latest').path).model_version)\n"
    )
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(trained_model_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    tag, version = done.stdout.split()
    assert version == load_bundle(trained_model_dir).model_version
    assert tag == f"portsift-risk:{version.lower()}"


def test_concurrent_requests_are_answered_and_audited(
    server: Server, records: list[dict[str, Any]]
) -> None:
    """Eight clients at once (the worker runs two threads): same answers, all audited."""
    from concurrent.futures import ThreadPoolExecutor

    sequential = {r["declaration_id"]: server.post("/score", r).json() for r in records}
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda r: server.post("/score", r), records * 2))
    assert [r.status_code for r in responses] == [200] * len(responses)
    store = AuditStore.from_url(server.audit_url)
    try:
        for response in responses:
            answer = response.json()
            before = sequential[answer["declaration_id"]]
            assert answer["risk_score"] == before["risk_score"]
            assert answer["contributions"] == before["contributions"]
            assert answer["selected"] == before["selected"]
            assert store.get_decision(answer["request_id"]) is not None
    finally:
        store.close()


_JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["2024-01-01", "2024-13-01", "610910", "pass", "fail", "1", "0", "-1", "NA"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)
_FIELDS = [*contract.field_names(contract.DECLARATION_FIELDS), *contract.INLINE_LAB_FIELDS, "lang"]


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    changes=st.dictionaries(st.sampled_from([*_FIELDS, "unknown_field"]), _JSON_VALUES, max_size=4),
    dropped=st.sets(st.sampled_from(_FIELDS), max_size=2),
)
def test_fuzzed_declarations_never_get_5xx(
    server: Server, records: list[dict[str, Any]], changes: dict[str, Any], dropped: set[str]
) -> None:
    """Random values in random fields: 200 with a well-formed decision, or 4xx; never 5xx."""
    body = {k: v for k, v in {**records[0], **changes}.items() if k not in dropped}
    response = server.post("/score", content=json.dumps(body).encode("utf-8"))
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        answer = Decision.model_validate(response.json())
        total = answer.base_value + sum(c.shap for c in answer.contributions)
        assert total == pytest.approx(answer.raw_score, abs=1e-9)
    else:
        assert 400 <= response.status_code < 500
        assert response.json()["field"]
