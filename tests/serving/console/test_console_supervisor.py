"""The supervisor view: today's rates per tier against the rules, hits, the random sample."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from portsift.serving.console.supervisor import MONITOR_JSON_ENV
from tests.serving.console.conftest import SUPERVISOR_ID, SUPERVISOR_PASSWORD, Console, record

#: 20:00 in Haikou (Asia/Shanghai, the default [console] timezone): the day's decisions
#: two hours before are on the same local day, yesterday's 20:00 on the day before.
NOON = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)


def _day(console: Console) -> None:
    """A day of decisions: 10 regular (4 selected once R1 is amended, 3 of them at random),
    10 advanced (none selected), 5 dishonest (3 selected: below the 80% floor); five
    outcomes."""
    store = console.store
    at = NOON - timedelta(hours=2)
    for n in range(10):
        selected = int(n < 5)
        reason = "random" if n in (2, 3, 4) else "risk"
        record(store, f"R{n}", at=at, tier="regular", selected=selected, reason=reason,
               lane="red" if selected else "green")  # fmt: skip
        record(store, f"A{n}", at=at, tier="advanced", selected=0, lane="green")
    for n in range(5):
        selected = int(n < 3)
        record(store, f"X{n}", at=at, tier="dishonest", selected=selected, reason="tier_floor",
               lane="red" if selected else "green")  # fmt: skip
    # Yesterday's decision does not count; an amendment counts once, as its latest.
    record(store, "OLD", at=NOON - timedelta(days=1), tier="regular", selected=1)
    record(store, "R1", at=at + timedelta(minutes=5), tier="regular", selected=0, lane="green",
           declared_value=99.0)  # fmt: skip
    outcomes = {"R0": (True, 1000.0), "R2": (True, 500.0), "R3": (False, 0.0),
                "R4": (False, 0.0), "X0": (False, 0.0)}  # fmt: skip
    for declaration_id, (illicit, revenue) in outcomes.items():
        store.record_feedback(
            declaration_id, inspected=True, illicit=illicit, revenue=revenue, credential="api"
        )


def _supervisor(console: Console, query: str = "") -> str:
    console.backend.clock = lambda: NOON
    assert console.sign_in(SUPERVISOR_ID, SUPERVISOR_PASSWORD).status_code == 303
    page = console.client.get(f"/supervisor{query}")
    assert page.status_code == 200
    return page.text


def _cell(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert match is not None, element_id
    return " ".join(match.group(1).split())


def test_todays_rates_per_tier_against_the_rules_in_force(any_console: Console) -> None:
    _day(any_console)
    html = _supervisor(any_console, "?lang=en")
    table = html.split('id="tier-rates"')[1].split("</table>")[0]
    rows = re.findall(
        r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>"
        r"<td class=\"num\">([^<]+)</td><td>([^<]+)</td>\s*<td class=\"(ok|bad)\">",
        table,
    )
    by_tier = {tier: (int(n), int(k), rate, rule, met) for tier, n, k, rate, rule, met in rows}
    assert set(by_tier) == {"advanced certified", "regular", "dishonest"}
    assert by_tier["regular"][:3] == (10, 4, "40.0%")  # R1 amended to released
    advanced = by_tier["advanced certified"]
    assert advanced[:3] == (10, 0, "0.0%") and advanced[4] == "ok"  # < 20% x regular
    dishonest = by_tier["dishonest"]
    assert dishonest[:3] == (5, 3, "60.0%") and dishonest[4] == "bad"  # below the 80% floor
    assert dishonest[3] == "≥ 80%"  # the rule in force
    assert advanced[3] == "&lt; 20% × regular"
    assert _cell(html, "rule-set") == "GACC Order 282 (2026)"
    assert 'id="rules-not-met"' in html


def test_random_share_hits_revenue_and_the_random_samples_interval(any_console: Console) -> None:
    _day(any_console)
    html = _supervisor(any_console)
    assert _cell(html, "n-declarations") == "25"
    assert _cell(html, "n-selected") == "7"
    assert _cell(html, "random-share") == "42.9% (3)"
    assert _cell(html, "n-outcomes") == "5"
    assert _cell(html, "n-hits") == "2"
    assert _cell(html, "revenue") == "1500.00"
    # 1 violation in the 3 random selections with an outcome; Wilson 95% by hand:
    # centre (1/3 + 1.96²/6) / (1 + 1.96²/3) = 0.4269, half-width 0.3654: 0.0615-0.7923.
    assert _cell(html, "violation-rate") == "33.3% (1 / 3; 95% 置信区间 6.1% – 79.2%)"


def test_an_officer_cannot_see_it(console: Console) -> None:
    console.sign_in()
    assert console.client.get("/supervisor").status_code == 403


def test_the_latest_monitor_runs_drift_status(
    console: Console, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _cell(_supervisor(console), "drift-status") == "尚无 portsift monitor 运行记录。"
    summary = {
        "model_version": "m-7",
        "recent": {"from": "2026-05-27", "to": "2026-06-02", "rows": 4000},
        "psi": [
            {"variable": "risk_score", "psi": 0.31, "status": "alert", "alerting": True},
            {"variable": "declared_value", "psi": 0.12, "status": "warn", "alerting": True},
            {"variable": "hs_chapter", "psi": 0.01, "status": "ok", "alerting": True},
        ],
    }
    path = tmp_path / "monitor.json"
    path.write_text(json.dumps(summary), encoding="utf-8")
    monkeypatch.setenv(MONITOR_JSON_ENV, str(path))
    html = console.client.get("/supervisor").text
    assert 'data-status="alert"' in html
    assert "2026-05-27 – 2026-06-02 · m-7" in " ".join(html.split())
    assert "risk_score, declared_value" in html
