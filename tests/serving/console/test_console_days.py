"""Days of the customs office's time zone: the queue's date filter, the supervisor's today.

The default ``[console] timezone`` is Asia/Shanghai (UTC+8). An officer in Haikou at
07:30 local time is at 23:30 UTC of the day before: "today" and a date typed into the
queue's filter are the office's days, whose bounds the store compares as UTC instants.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from portsift.serving.console.days import day_bounds, local_date
from portsift.settings import SettingsError, load_settings
from tests.serving.console.conftest import SUPERVISOR_ID, SUPERVISOR_PASSWORD, Console, record

#: 2026-06-03 00:00 in Haikou is 2026-06-02 16:00 UTC.
LOCAL_MIDNIGHT = datetime(2026, 6, 2, 16, 0, tzinfo=UTC)
#: 07:30 in Haikou on 2026-06-03, 23:30 UTC on 2026-06-02.
MORNING = datetime(2026, 6, 2, 23, 30, tzinfo=UTC)


def _order(html: str) -> list[str]:
    return re.findall(r'<tr data-declaration="([^"]+)">', html)


def _cell(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert match is not None, element_id
    return " ".join(match.group(1).split())


def _around_midnight(console: Console) -> None:
    """One decision a minute before local midnight, one a minute after, one at 07:00."""
    store = console.store
    record(store, "BEFORE", at=LOCAL_MIDNIGHT - timedelta(minutes=1), selected=1, reason="random")
    record(store, "AFTER", at=LOCAL_MIDNIGHT + timedelta(minutes=1), selected=1, reason="risk")
    record(store, "MORNING", at=MORNING - timedelta(minutes=30), selected=0, lane="green")


def test_the_queue_date_is_the_offices_day(any_console: Console) -> None:
    _around_midnight(any_console)
    any_console.sign_in()
    get = any_console.client.get
    # Both are on 2026-06-02 in UTC; in Haikou one is on each side of midnight.
    assert _order(get("/queue?date=2026-06-03").text) == ["AFTER"]
    assert _order(get("/queue?date=2026-06-02").text) == ["BEFORE"]
    page = get("/queue?date=2026-06-03&lang=en").text
    # The time shown is the office's, and the column says which zone it is.
    row = page.split('data-declaration="AFTER"')[1].split("</tr>")[0]
    assert "2026-06-03 00:01" in row
    assert "Decided at (Asia/Shanghai)" in page


def test_the_supervisors_today_is_the_offices_day(any_console: Console) -> None:
    _around_midnight(any_console)
    any_console.backend.clock = lambda: MORNING
    assert any_console.sign_in(SUPERVISOR_ID, SUPERVISOR_PASSWORD).status_code == 303
    html = any_console.client.get("/supervisor?lang=en").text
    assert "Today (2026-06-03, Asia/Shanghai)" in html
    # AFTER and MORNING; BEFORE was decided yesterday in Haikou (a UTC day would hold all 3).
    assert _cell(html, "n-declarations") == "2"
    assert _cell(html, "n-selected") == "1"
    assert _cell(html, "random-share") == "0.0% (0)"


def test_another_zone_moves_the_day(any_console: Console) -> None:
    console_settings = any_console.backend.settings.console.model_copy(update={"timezone": "UTC"})
    any_console.backend.settings = any_console.backend.settings.model_copy(
        update={"console": console_settings}
    )
    _around_midnight(any_console)
    any_console.sign_in()
    assert _order(any_console.client.get("/queue?date=2026-06-02").text) == ["BEFORE", "AFTER"]
    assert _order(any_console.client.get("/queue?date=2026-06-03").text) == []


def test_a_day_is_bounded_by_local_midnights_in_utc() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    assert day_bounds(date(2026, 6, 3), shanghai) == (
        LOCAL_MIDNIGHT,
        LOCAL_MIDNIGHT + timedelta(days=1),
    )
    assert local_date(MORNING, shanghai) == date(2026, 6, 3)
    # A zone with daylight saving: the day the clocks go forward is 23 hours long.
    start, end = day_bounds(date(2026, 3, 29), ZoneInfo("Europe/Berlin"))
    assert (start, end - start) == (datetime(2026, 3, 28, 23, 0, tzinfo=UTC), timedelta(hours=23))


def test_an_unknown_zone_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[console]\ntimezone = "Asia/Haikou"\n', encoding="utf-8")
    with pytest.raises(SettingsError) as raised:
        load_settings(path)
    message = str(raised.value)
    assert str(path) in message and "timezone" in message
    assert "not an IANA time zone name: 'Asia/Haikou'" in message
