"""The inspection queue read from the audit store: selected declarations awaiting an outcome.

The officer console (``portsift.serving.console``) lists, from the declarations' latest
decisions, those that were **selected** and have **no outcome** on record yet, in
deadline order: green-channel goods first, by the time left to their inspection limit
(``recorded_at`` + ``inspection_deadline_hours``), then the sampling lanes by their
sampling deadline (``recorded_at`` + ``sampling_deadline_days``), then the rest by
priority (``priority_lane``, then ``risk_score``, highest first); ties by row id. The
decision is JSON text, so its fields are read in SQL (``json_extract`` on SQLite, a cast
to ``jsonb`` on PostgreSQL), and the page is a ``LIMIT``/``OFFSET`` of that query: the
whole queue is never loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    Float,
    Select,
    Table,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

#: The lanes a selected declaration can be in, in the order the console counts them.
SELECTED_LANES: Final[tuple[str, ...]] = ("red", "red_sampling", "yellow", "green")


@dataclass(frozen=True)
class QueueFilter:
    """What the queue is narrowed to (``None``: any).

    Attributes:
        lane: Only this lane.
        office: Only declarations lodged at this customs office.
        tier: Only this credit tier.
        recorded_from: Only decisions recorded at or after this instant (time zone
            aware: the console passes the start of a day of the office's zone in UTC).
        recorded_before: Only decisions recorded before this instant.
    """

    lane: str | None = None
    office: str | None = None
    tier: str | None = None
    recorded_from: datetime | None = None
    recorded_before: datetime | None = None


@dataclass(frozen=True)
class QueueEntry:
    """One declaration waiting for its inspection outcome.

    Attributes:
        decision_id: The decision's row id.
        declaration_id: The declaration.
        recorded_at: When it was decided (UTC).
        customs_office: Its office of lodging, if known.
        lane: Its lane.
        credit_tier: Its enterprise's credit tier.
        selection_reason: Why it was selected.
        risk_score: The model's risk.
        green_channel: Whether it is green-channel goods.
        deadline: When it must be inspected (green channel) or sampled, if it must.
    """

    decision_id: int
    declaration_id: str
    recorded_at: datetime
    customs_office: str | None
    lane: str
    credit_tier: str
    selection_reason: str
    risk_score: float
    green_channel: bool
    deadline: datetime | None


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue and the count of the whole filtered queue by lane.

    Attributes:
        entries: The page, in queue order.
        total: Declarations in the filtered queue (all pages).
        by_lane: Of the queue filtered by all but the lane, how many per lane.
    """

    entries: list[QueueEntry]
    total: int
    by_lane: dict[str, int] = field(default_factory=dict)


def _json_fields(decision: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """The decision's JSON text as a value its keys can be read from, on each back end."""
    if dialect == "postgresql":
        return cast(decision, JSONB)
    return type_coerce(decision, JSON)  # SQLite: JSON_EXTRACT on the text as it is


def _epoch_seconds(column: ColumnElement[Any], dialect: str) -> ColumnElement[float]:
    """Seconds since the epoch of a stored UTC timestamp, in SQL."""
    if dialect == "postgresql":
        return func.extract("epoch", column)
    # SQLite stores the naive UTC text; julianday counts days from -4713-11-24 12:00.
    return (func.julianday(column) - 2440587.5) * 86400.0


class _Columns:
    """The queue's columns of one ``decisions`` table, read from the JSON in SQL."""

    def __init__(self, decisions: Table, dialect: str) -> None:
        fields = _json_fields(decisions.c.decision, dialect)
        self.lane = fields["lane"].as_string()
        self.tier = fields["credit_tier"].as_string()
        self.reason = fields["selection_reason"].as_string()
        self.selected = fields["selected"].as_integer()
        self.green = fields["green_channel"].as_integer()
        self.priority_lane = fields["priority_lane"].as_integer()
        self.risk = fields["risk_score"].as_float()
        inspection_h = fields["inspection_deadline_hours"].as_float()
        sampling_d = fields["sampling_deadline_days"].as_float()
        recorded = _epoch_seconds(decisions.c.recorded_at, dialect)
        # 0: green channel (inspection limit), 1: sampling deadline, 2: the rest.
        self.group = case(
            (and_(self.green == 1, inspection_h.is_not(None)), literal(0)),
            (sampling_d.is_not(None), literal(1)),
            else_=literal(2),
        )
        self.deadline = case(
            (self.group == 0, recorded + inspection_h * 3600.0),
            (self.group == 1, recorded + sampling_d * 86400.0),
            else_=literal(None, Float),
        )


def _waiting(
    decisions: Table, feedback: Table, columns: _Columns, wanted: QueueFilter, *, lane: bool
) -> list[ColumnElement[bool]]:
    """The conditions of the queue: selected, latest decision, no outcome, the filters.

    ``selected`` is read from its column (indexed: only the selected rows are visited),
    and from the JSON on rows written before the column; a newer decision of the same
    declaration and an outcome are looked up by the declaration's index.
    """
    newer = decisions.alias("newer")
    conditions: list[ColumnElement[bool]] = [
        or_(
            # `= true`, not `IS TRUE`: PostgreSQL uses an index only for the former.
            decisions.c.selected == true(),
            and_(decisions.c.selected.is_(None), columns.selected == 1),
        ),
        ~exists().where(
            newer.c.declaration_id == decisions.c.declaration_id, newer.c.id > decisions.c.id
        ),
        ~exists().where(feedback.c.declaration_id == decisions.c.declaration_id),
    ]
    if lane and wanted.lane is not None:
        conditions.append(columns.lane == wanted.lane)
    if wanted.office is not None:
        conditions.append(decisions.c.customs_office == wanted.office)
    if wanted.tier is not None:
        conditions.append(columns.tier == wanted.tier)
    # Plain comparisons with UTC instants: portable, and the index on recorded_at serves.
    if wanted.recorded_from is not None:
        conditions.append(decisions.c.recorded_at >= wanted.recorded_from)
    if wanted.recorded_before is not None:
        conditions.append(decisions.c.recorded_at < wanted.recorded_before)
    return conditions


def queue_page(
    conn: Connection,
    decisions: Table,
    feedback: Table,
    wanted: QueueFilter,
    *,
    limit: int,
    offset: int,
) -> QueuePage:
    """One page of the inspection queue, in deadline order, with the counts by lane.

    Args:
        conn: A connection inside a read transaction.
        decisions: The ``decisions`` table.
        feedback: The ``feedback`` table.
        wanted: The filters.
        limit: Entries per page.
        offset: Entries before the page.

    Returns:
        The page, the filtered total and the counts by lane.
    """
    columns = _Columns(decisions, conn.dialect.name)
    conditions = _waiting(decisions, feedback, columns, wanted, lane=True)
    statement: Select[Any] = (
        select(
            decisions.c.id,
            decisions.c.declaration_id,
            decisions.c.recorded_at,
            decisions.c.customs_office,
            columns.lane.label("lane"),
            columns.tier.label("credit_tier"),
            columns.reason.label("selection_reason"),
            columns.risk.label("risk_score"),
            columns.green.label("green_channel"),
            columns.deadline.label("deadline"),
        )
        .where(*conditions)
        .order_by(
            columns.group,
            columns.deadline,
            columns.priority_lane.desc(),
            columns.risk.desc(),
            decisions.c.id,
        )
        .limit(limit)
        .offset(offset)
    )
    entries = [
        QueueEntry(
            decision_id=int(row.id),
            declaration_id=str(row.declaration_id),
            recorded_at=row.recorded_at,
            customs_office=row.customs_office,
            lane=str(row.lane or ""),
            credit_tier=str(row.credit_tier or ""),
            selection_reason=str(row.selection_reason or ""),
            risk_score=float(row.risk_score or 0.0),
            green_channel=bool(row.green_channel),
            deadline=None
            if row.deadline is None
            else datetime.fromtimestamp(float(row.deadline), UTC),
        )
        for row in conn.execute(statement)
    ]
    # One count for both: the total is the lane's count when the queue is filtered by one.
    counted = (
        select(columns.lane.label("lane"), func.count().label("n"))
        .where(*_waiting(decisions, feedback, columns, wanted, lane=False))
        .group_by(columns.lane)
    )
    by_lane = {lane: 0 for lane in SELECTED_LANES}
    for row in conn.execute(counted):
        by_lane[str(row.lane)] = int(row.n)
    total = by_lane.get(wanted.lane, 0) if wanted.lane is not None else sum(by_lane.values())
    return QueuePage(entries=entries, total=total, by_lane=by_lane)


@dataclass(frozen=True)
class HistoryEntry:
    """One earlier declaration of the same importer, with its outcome if one is on record.

    Attributes:
        declaration_id: The declaration.
        recorded_at: When it was decided.
        lane: Its lane.
        selected: Whether it was selected.
        inspected: Whether its latest outcome says it was inspected (``None``: no outcome).
        illicit: Whether that outcome found a violation.
        revenue: The revenue that outcome raised.
    """

    declaration_id: str
    recorded_at: datetime
    lane: str
    selected: bool
    inspected: bool | None
    illicit: bool | None
    revenue: float | None


def importer_history(
    conn: Connection,
    decisions: Table,
    feedback: Table,
    importer_id: str,
    *,
    exclude: str,
    limit: int,
) -> tuple[list[HistoryEntry], dict[str, int]]:
    """The importer's other declarations on record, newest first, and their totals.

    Args:
        conn: A connection inside a read transaction.
        decisions: The ``decisions`` table.
        feedback: The ``feedback`` table.
        importer_id: The importer.
        exclude: The declaration shown (left out).
        limit: Most entries listed (the totals count them all).

    Returns:
        The entries and ``declarations, selected, inspected, violations``.
    """
    columns = _Columns(decisions, conn.dialect.name)
    latest = select(func.max(decisions.c.id)).group_by(decisions.c.declaration_id)
    outcomes = feedback.alias("newer")
    newest_outcome = (
        select(func.max(outcomes.c.id))
        .where(outcomes.c.declaration_id == decisions.c.declaration_id)
        .correlate(decisions)
        .scalar_subquery()
    )
    joined = decisions.outerjoin(feedback, feedback.c.id == newest_outcome)
    mine = (
        decisions.c.id.in_(latest),
        decisions.c.importer_id == importer_id,
        decisions.c.declaration_id != exclude,
    )
    statement = (
        select(
            decisions.c.declaration_id,
            decisions.c.recorded_at,
            columns.lane.label("lane"),
            columns.selected.label("selected"),
            feedback.c.inspected,
            feedback.c.illicit,
            feedback.c.revenue,
        )
        .select_from(joined)
        .where(*mine)
        .order_by(decisions.c.id.desc())
        .limit(limit)
    )
    entries = [
        HistoryEntry(
            declaration_id=str(row.declaration_id),
            recorded_at=row.recorded_at,
            lane=str(row.lane or ""),
            selected=bool(row.selected),
            inspected=None if row.inspected is None else bool(row.inspected),
            illicit=None if row.illicit is None else bool(row.illicit),
            revenue=row.revenue,
        )
        for row in conn.execute(statement)
    ]
    counted = conn.execute(
        select(
            func.count().label("declarations"),
            func.count().filter(columns.selected == 1).label("selected"),
            func.count().filter(feedback.c.inspected.is_(True)).label("inspected"),
            func.count().filter(feedback.c.illicit.is_(True)).label("violations"),
        )
        .select_from(joined)
        .where(*mine)
    ).one()
    return entries, {name: int(value or 0) for name, value in counted._mapping.items()}


def queue_options(
    conn: Connection, decisions: Table, feedback: Table
) -> tuple[list[str], list[str]]:
    """The offices and credit tiers of the declarations waiting, for the filter menus.

    Args:
        conn: A connection inside a read transaction.
        decisions: The ``decisions`` table.
        feedback: The ``feedback`` table.

    Returns:
        The distinct offices and the distinct tiers, sorted.
    """
    columns = _Columns(decisions, conn.dialect.name)
    waiting = _waiting(decisions, feedback, columns, QueueFilter(), lane=True)
    pairs = conn.execute(
        select(decisions.c.customs_office, columns.tier).where(*waiting).distinct()
    ).all()
    offices = {str(office) for office, _ in pairs if office is not None}
    tiers = {str(tier) for _, tier in pairs if tier}
    return sorted(offices), sorted(tiers)


def decided_since(
    conn: Connection,
    decisions: Table,
    feedback: Table,
    since: datetime,
    until: datetime | None = None,
) -> list[tuple[Any, ...]]:
    """The latest decision of each declaration decided since a time, with its outcome.

    The decision's fields are read from its JSON in SQL and the latest outcome (greatest
    id) joined, so that nothing is parsed row by row in Python.

    Args:
        conn: A connection inside a read transaction.
        decisions: The ``decisions`` table.
        feedback: The ``feedback`` table.
        since: The start (time zone aware).
        until: The end, excluded (time zone aware; ``None``: none).

    Returns:
        Rows of ``declaration_id, selected, credit_tier, selection_reason, inspected,
        illicit, revenue`` (the outcome's ``None`` without one).
    """
    columns = _Columns(decisions, conn.dialect.name)
    newer = decisions.alias("newer")
    outcomes = feedback.alias("newer_outcome")
    newest_outcome = (
        select(func.max(outcomes.c.id))
        .where(outcomes.c.declaration_id == decisions.c.declaration_id)
        .correlate(decisions)
        .scalar_subquery()
    )
    statement = (
        select(
            decisions.c.declaration_id,
            func.coalesce(columns.selected, 0),
            func.coalesce(columns.tier, ""),
            func.coalesce(columns.reason, ""),
            feedback.c.inspected,
            feedback.c.illicit,
            feedback.c.revenue,
        )
        .select_from(decisions.outerjoin(feedback, feedback.c.id == newest_outcome))
        .where(
            decisions.c.recorded_at >= since,
            true() if until is None else decisions.c.recorded_at < until,
            ~exists().where(
                newer.c.declaration_id == decisions.c.declaration_id,
                newer.c.id > decisions.c.id,
            ),
        )
        .order_by(decisions.c.id)
    )
    return [tuple(row) for row in conn.execute(statement)]


__all__ = [
    "SELECTED_LANES",
    "HistoryEntry",
    "QueueEntry",
    "QueueFilter",
    "QueuePage",
    "decided_since",
    "importer_history",
    "queue_options",
    "queue_page",
]
