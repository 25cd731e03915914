"""One declaration's page and its outcome form: through record_outcome, into the store."""

from __future__ import annotations

import re

import pytest

from portsift.store.audit_chain import OPTIONAL_FIELDS
from portsift.store.audit_records import AuditError, DecisionRecord
from tests.serving.console.conftest import (
    OFFICER_ID,
    SUPERVISOR_ID,
    SUPERVISOR_PASSWORD,
    Console,
    decision,
    record,
)

VIOLATION = {
    "violation": "yes",
    "kind": "undervaluation",
    "revenue": "3,500.50",
    "disclosure": "no",
    "note": "发票价格低于同类货物 40%",
}


def _post(console: Console, declaration_id: str, form: dict[str, str]) -> object:
    token = console.csrf(f"/declaration/{declaration_id}")
    return console.client.post(
        f"/declaration/{declaration_id}/outcome", data={**form, "csrf": token},
        follow_redirects=False,
    )  # fmt: skip


def test_the_page_shows_the_decision_the_explanation_and_the_versions(console: Console) -> None:
    record(console.store, "D1", lane="red_sampling", sampling_days=2.0, tier="general")
    console.sign_in()
    page = console.client.get("/declaration/D1")
    assert page.status_code == 200
    html = page.text
    assert 'data-lane="red_sampling"' in html
    assert "<svg" in html  # the report's waterfall chart
    assert 'id="reasons"' in html and 'id="waterfall"' in html
    assert "m-test" in html and "p-test" in html
    assert re.search(r'id="tier">[^<]+<', html)
    assert 'id="tier-rule"' in html
    assert 'name="csrf"' in html
    assert 'id="importer">IMP-1<' in html


def test_the_tier_rule_is_the_one_the_decision_was_held_to(console: Console) -> None:
    # Under Order 251 the certified tier was abolished (held to regular, no rule); under
    # Order 282 it is capped at half the regular rate. The policy version names the set.
    record(console.store, "OLD", tier="certified", policy_version="policy-ab12/gacc-order-251")
    record(console.store, "NEW", tier="certified", policy_version="policy-ab12/gacc-order-282")
    console.sign_in()

    def rule(declaration_id: str) -> str:
        html = console.client.get(f"/declaration/{declaration_id}").text
        match = re.search(r'id="tier-rule">([^<]*)<br><span class="muted small">([^<]*)<', html)
        assert match is not None
        return " / ".join(match.groups())

    assert rule("OLD") == "无 / 海关总署令第251号"
    assert rule("NEW") == "&lt; 50% × 常规管理企业 / 海关总署令第282号"


def test_the_page_shows_the_importers_other_declarations_and_outcomes(
    any_console: Console,
) -> None:
    store = any_console.store
    record(store, "H-1", importer="IMP-9")
    record(store, "H-2", importer="IMP-9", lane="green", selected=0)
    record(store, "H-3", importer="IMP-9")
    record(store, "X-1", importer="IMP-other")
    store.record_feedback("H-1", inspected=True, illicit=True, revenue=800.0, credential="api")
    any_console.sign_in()
    html = any_console.client.get("/declaration/H-3").text
    listed = re.findall(r'<tr><td><a href="/declaration/([^"]+)">', html)
    assert listed == ["H-2", "H-1"]  # newest first, not itself, not another importer's
    assert "审计库中另有 2 票：布控 1，已查验 1，查获 1" in html
    assert "800.00" in html


def test_the_page_speaks_english(console: Console) -> None:
    record(console.store, "D1")
    console.sign_in()
    english = console.client.get("/declaration/D1?lang=en").text
    assert "Decision" in english and "Record the outcome" in english


def test_an_outcome_is_recorded_with_the_officers_id_and_leaves_the_queue(
    any_console: Console,
) -> None:
    record(any_console.store, "D1")
    record(any_console.store, "D2")
    any_console.sign_in()
    answer = _post(any_console, "D1", VIOLATION)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/queue?recorded=D1"
    [row] = any_console.store.outcomes_of("D1")
    assert row["officer_id"] == OFFICER_ID
    assert row["credential"] == "console" and row["source"] == "console"
    assert (row["inspected"], row["illicit"], row["revenue"]) == (True, True, 3500.5)
    assert row["violation_kind"] == "undervaluation"
    assert row["voluntary_disclosure"] is False
    assert row["note"] == "发票价格低于同类货物 40%"
    queue = any_console.client.get("/queue?recorded=D1").text
    assert 'data-declaration="D1"' not in queue and 'data-declaration="D2"' in queue
    assert 'id="recorded"' in queue
    # The training labels see it as any outcome.
    labels = any_console.store.feedback_frame()
    assert labels.set_index("declaration_id").loc["D1", "illicit"] == 1
    # The officer's fields are part of the hash chain.
    assert any_console.store.verify().ok
    assert {"officer_id", "note"} <= OPTIONAL_FIELDS


def test_the_same_outcome_twice_writes_once_and_a_change_supersedes(console: Console) -> None:
    record(console.store, "D1")
    console.sign_in()
    _post(console, "D1", VIOLATION)
    _post(console, "D1", VIOLATION)  # a double click, a reload
    assert len(console.store.outcomes_of("D1")) == 1
    _post(console, "D1", {**VIOLATION, "revenue": "4000"})  # the officer corrects it
    first, second = console.store.outcomes_of("D1")
    assert second["corrects"] == first["id"]
    assert second["revenue"] == 4000.0
    assert console.store.feedback_frame().set_index("declaration_id").loc["D1", "revenue"] == 4000
    # Another officer's outcome is their own record, not a correction of the first's.
    console.client.cookies.clear()
    console.sign_in(SUPERVISOR_ID, SUPERVISOR_PASSWORD)
    _post(console, "D1", {"violation": "no", "disclosure": "no"})
    rows = console.store.outcomes_of("D1")
    assert [r["officer_id"] for r in rows] == [OFFICER_ID, OFFICER_ID, SUPERVISOR_ID]
    assert rows[2]["corrects"] is None


def test_an_outcome_for_an_unknown_declaration_is_refused_clearly(console: Console) -> None:
    console.sign_in()
    page = console.client.get("/declaration/NOPE")
    assert page.status_code == 404
    assert "审计库中没有报关单 NOPE 的决定" in page.text
    token = console.csrf()
    answer = console.client.post(
        "/declaration/NOPE/outcome", data={"violation": "no", "disclosure": "no", "csrf": token}
    )
    assert answer.status_code == 404
    assert "审计库中没有报关单 NOPE 的决定" in answer.text
    assert console.store.outcomes_of("NOPE") == []


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"violation": "maybe", "disclosure": "no"}, "violation"),
        ({"violation": "yes", "disclosure": "no"}, "kind"),
        ({"violation": "no", "kind": "origin", "disclosure": "no"}, "kind"),
        ({"violation": "yes", "kind": "smuggling", "disclosure": "no"}, "violation_kind"),
        ({"violation": "yes", "kind": "origin", "revenue": "lots", "disclosure": "no"}, "revenue"),
        ({"violation": "yes", "kind": "origin", "revenue": "-5", "disclosure": "no"}, "revenue"),
        ({"violation": "no", "revenue": "10", "disclosure": "no"}, "revenue"),
        ({"violation": "yes", "kind": "origin", "revenue": "1e9", "disclosure": "no"}, "revenue"),
        ({"violation": "no"}, "disclosure"),
        ({"violation": "no", "disclosure": "no", "note": "x" * 2001}, "note"),
    ],
)
def test_a_bad_form_is_refused_naming_the_field(
    console: Console, form: dict[str, str], field: str
) -> None:
    record(console.store, "D1")
    console.sign_in()
    answer = _post(console, "D1", form)
    assert answer.status_code == 400  # type: ignore[attr-defined]
    assert f"field &#39;{field}&#39;" in answer.text  # type: ignore[attr-defined]
    assert console.store.outcomes_of("D1") == []


def test_an_imported_decision_without_contributions_still_opens(console: Console) -> None:
    # `portsift audit import` records a score output's rows: no SHAP contributions.
    body = {key: value for key, value in decision("IMP").items() if key != "contributions"}
    console.store.record_decisions(
        [
            DecisionRecord.from_request(
                request_id="import-1-0",
                declaration={"declaration_id": "IMP", "declared_value": 10.0},
                decision=body,
                model_version="m-test",
                policy_version="p-test",
                credential="audit-import",
            )
        ]
    )
    console.sign_in()
    page = console.client.get("/declaration/IMP")
    assert page.status_code == 200
    assert 'id="no-contributions"' in page.text and 'id="waterfall"' not in page.text
    assert "new importer" in page.text  # its reasons in words are still shown
    assert _post(console, "IMP", {"violation": "no", "disclosure": "no"}).status_code == 303


def test_an_unreachable_store_is_a_503_and_records_nothing(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(console.store, "D1")
    console.sign_in()
    token = console.csrf("/declaration/D1")

    def down(*args: object, **kwargs: object) -> None:
        raise AuditError("could not record feedback for 'D1': database is locked")

    monkeypatch.setattr(console.store, "record_feedback", down)
    answer = console.client.post(
        "/declaration/D1/outcome", data={"violation": "no", "disclosure": "no", "csrf": token}
    )
    assert answer.status_code == 503
    assert "审计库暂时无法访问" in answer.text
    monkeypatch.setattr(console.store, "inspection_queue", down)
    assert console.client.get("/queue").status_code == 503
