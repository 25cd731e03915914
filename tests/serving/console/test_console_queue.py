"""The queue: selected declarations awaiting an outcome, in deadline order, filtered, paged."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from portsift.store.audit_queue import QueueFilter
from tests.serving.console.conftest import Console, record


def _order(html: str) -> list[str]:
    return re.findall(r'<tr data-declaration="([^"]+)">', html)


def _fill(console: Console) -> datetime:
    """Declarations of every kind; returns the time they are relative to."""
    now = datetime.now(UTC)
    store = console.store
    # Green channel: the one decided earliest has the least time left of its 4 hours.
    record(store, "G-late", at=now - timedelta(minutes=30), lane="red", green=1, risk=0.2)
    record(store, "G-early", at=now - timedelta(hours=3), lane="red", green=1, risk=0.1)
    # Sampling: its deadline is days away, after any green-channel limit.
    record(store, "S-1", at=now - timedelta(hours=5), lane="red_sampling", sampling_days=2.0)
    record(store, "S-0", at=now - timedelta(days=1), lane="red_sampling", sampling_days=2.0)
    # The rest by priority, then risk.
    record(store, "R-low", at=now - timedelta(hours=1), lane="yellow", risk=0.3)
    record(store, "R-high", at=now - timedelta(hours=1), lane="red", risk=0.9, office="HK02")
    record(store, "R-prio", at=now - timedelta(hours=1), lane="red", risk=0.2, priority_lane=1)
    # Not in the queue: released, or already with an outcome.
    record(store, "N-released", lane="green", selected=0)
    record(store, "N-done", lane="red", risk=0.99)
    store.record_feedback("N-done", inspected=True, illicit=False, revenue=0.0, credential="api")
    return now


def test_the_queue_is_in_deadline_order(any_console: Console) -> None:
    _fill(any_console)
    any_console.sign_in()
    page = any_console.client.get("/queue")
    assert page.status_code == 200
    assert _order(page.text) == ["G-early", "G-late", "S-0", "S-1", "R-prio", "R-high", "R-low"]
    # Time left to the 4-hour limit: about 1 hour for the one decided 3 hours ago.
    row = page.text.split('data-declaration="G-early"')[1].split("</tr>")[0]
    assert re.search(r"[01] 小时 \d+ 分", row), row


def test_the_counts_by_lane_are_at_the_top(any_console: Console) -> None:
    _fill(any_console)
    any_console.sign_in()
    page = any_console.client.get("/queue?lane=yellow")
    counts = dict(re.findall(r'<span data-lane="([a-z_]+)">.*?</span> (\d+)</span>', page.text))
    # The counts ignore the lane filter (they say where the work is), not the others.
    assert counts == {"red": "4", "red_sampling": "2", "yellow": "1", "green": "0"}
    assert _order(page.text) == ["R-low"]


def test_filters_by_lane_office_tier_and_date(any_console: Console) -> None:
    now = _fill(any_console)
    record(any_console.store, "T-cert", lane="red", tier="advanced_certified", risk=0.5)
    # Ten days back: no other declaration of the fill is on that day, whatever the hour.
    record(any_console.store, "OLD", at=now - timedelta(days=10), lane="yellow")
    any_console.sign_in()
    get = any_console.client.get
    assert _order(get("/queue?lane=red_sampling").text) == ["S-0", "S-1"]
    assert _order(get("/queue?office=HK02").text) == ["R-high"]
    assert _order(get("/queue?tier=advanced_certified").text) == ["T-cert"]
    # The date filter is a day of the office's zone ([console] timezone).
    office_zone = ZoneInfo(any_console.backend.settings.console.timezone)
    day = (now - timedelta(days=10)).astimezone(office_zone).date().isoformat()
    assert _order(get(f"/queue?date={day}").text) == ["OLD"]
    assert get("/queue?lane=purple").status_code == 400
    bad_date = get("/queue?date=2026-13-01")
    assert bad_date.status_code == 400
    assert "field &#39;date&#39;" in bad_date.text or "field 'date'" in bad_date.text


def test_the_queue_is_paged_in_sql(any_console: Console) -> None:
    store = any_console.store
    now = datetime.now(UTC)
    for n in range(7):
        record(store, f"P-{n}", at=now - timedelta(minutes=n), lane="red", risk=0.9 - n / 100)
    page_size = 3
    first = store.inspection_queue(QueueFilter(), limit=page_size, offset=0)
    second = store.inspection_queue(QueueFilter(), limit=page_size, offset=3)
    third = store.inspection_queue(QueueFilter(), limit=page_size, offset=6)
    ids = [e.declaration_id for p in (first, second, third) for e in p.entries]
    assert ids == [f"P-{n}" for n in range(7)]
    assert (first.total, len(first.entries), len(third.entries)) == (7, 3, 1)
    any_console.sign_in()
    size = any_console.backend.settings.console.page_size
    page = any_console.client.get("/queue?page=1")
    assert "第 1 页，共 1 页（7 票）" in page.text
    assert size >= 7
    assert any_console.client.get("/queue?page=0").status_code == 400


def test_an_amended_declaration_is_queued_by_its_latest_decision(console: Console) -> None:
    record(console.store, "A-1", lane="red", declared_value=100.0)
    record(console.store, "A-1", lane="green", selected=0, declared_value=200.0)  # amended
    record(console.store, "B-1", lane="green", selected=0, declared_value=100.0)
    record(console.store, "B-1", lane="yellow", declared_value=300.0)  # amended into the queue
    console.sign_in()
    assert _order(console.client.get("/queue").text) == ["B-1"]


def test_the_queue_speaks_english_on_request(console: Console) -> None:
    _fill(console)
    console.sign_in()
    page = console.client.get("/queue?lane=yellow&lang=en")
    assert "Inspection queue" in page.text
    assert 'id="switch-language"' in page.text and "lang=zh" in page.text
    # The choice is kept for the next page.
    assert "Inspection queue" in console.client.get("/queue").text
    assert "待查验队列" in console.client.get("/queue?lang=zh").text
