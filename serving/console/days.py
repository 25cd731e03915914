"""The customs office's days: local dates to UTC instants, UTC instants to local times.

The audit store keeps UTC. An officer's "today" and a date typed into the queue's
filter are days of the office's time zone (``[console] timezone``): a day is turned into
the two UTC instants that bound it, and the SQL compares ``recorded_at`` with them (the
same plain comparison on SQLite and PostgreSQL, on the indexed column). Times on the
pages are shown in that zone, with its name.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo


@cache
def zone(name: str) -> ZoneInfo:
    """The time zone of an IANA name (``[console] timezone``, checked when loaded)."""
    return ZoneInfo(name)


def local_date(instant: datetime, office_zone: ZoneInfo) -> date:
    """The office's date at an instant.

    Args:
        instant: A time zone aware instant.
        office_zone: The office's time zone.

    Returns:
        The date on the office's calendar.
    """
    return instant.astimezone(office_zone).date()


def day_bounds(day: date, office_zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants a day of the office starts and ends at (end excluded).

    Midnight is taken on the office's clock, so a day of a zone with daylight saving
    is 23 or 25 hours long when the clocks change.

    Args:
        day: A date on the office's calendar.
        office_zone: The office's time zone.

    Returns:
        ``(start, end)``, both in UTC.
    """
    start = datetime.combine(day, time(0), tzinfo=office_zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=office_zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def local_text(instant: datetime | None, office_zone: ZoneInfo, pattern: str) -> str:
    """An instant on the office's clock, formatted (``-`` for none).

    Args:
        instant: The instant (a naive one is taken as UTC, as the store keeps it).
        office_zone: The office's time zone.
        pattern: A ``strftime`` pattern.

    Returns:
        The text.
    """
    if instant is None:
        return "-"
    aware = instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
    return aware.astimezone(office_zone).strftime(pattern)


__all__ = ["day_bounds", "local_date", "local_text", "zone"]
