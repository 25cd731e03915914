"""The audit tables as pandas DataFrames: all decisions, and the latest outcome per declaration.

Kept apart from :mod:`portsift.store.audit` so that a process that only writes (an API
worker) never imports pandas: the store imports this module when a frame is asked for,
and this module imports pandas only inside its functions (the column lists are read at
import time by the store).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final

from sqlalchemy import Connection, Table, func, select

from portsift.store.audit_records import require_aware

if TYPE_CHECKING:
    import pandas as pd

#: Columns of :meth:`~portsift.store.audit.AuditStore.decisions_frame`, in order.
DECISION_COLUMNS: Final[tuple[str, ...]] = (
    "id",
    "request_id",
    "recorded_at",
    "declaration_id",
    "input_sha256",
    "decision",
    "model_version",
    "policy_version",
    "credential",
    "amends",
)
#: Columns of :meth:`~portsift.store.audit.AuditStore.feedback_frame`, in order.
FEEDBACK_COLUMNS: Final[tuple[str, ...]] = ("declaration_id", "inspected", "illicit", "revenue")


def decisions_frame(conn: Connection, table: Table, since: datetime | None) -> pd.DataFrame:
    """All decisions (optionally from a time on), in insertion order.

    Args:
        conn: A connection inside a read transaction.
        table: The ``decisions`` table.
        since: Only decisions recorded at or after this time zone aware instant.

    Returns:
        Columns :data:`DECISION_COLUMNS`; ``id`` int64, ``recorded_at``
        ``datetime64[us, UTC]``, ``amends`` nullable ``Int64``, the rest ``str``
        (``credential`` NaN on rows from before credentials), ``decision`` the stored
        JSON text.

    Raises:
        ValueError: When ``since`` is not time zone aware.
    """
    import pandas as pd

    statement = select(*(table.c[name] for name in DECISION_COLUMNS)).order_by(table.c.id)
    if since is not None:
        require_aware(since, "since")
        statement = statement.where(table.c.recorded_at >= since)
    rows = conn.execute(statement).all()

    def column(position: int, name: str) -> pd.Series:
        values = [row[position] for row in rows]
        if name == "id":
            return pd.Series(values, dtype="int64")
        if name == "amends":
            return pd.Series(values, dtype="Int64")
        if name == "recorded_at":
            return pd.Series(pd.to_datetime(values, utc=True), dtype="datetime64[us, UTC]")
        return pd.Series(values, dtype="str")

    return pd.DataFrame(
        {name: column(position, name) for position, name in enumerate(DECISION_COLUMNS)}
    )


def feedback_frame(
    conn: Connection, table: Table, sources: Sequence[str] | None = None
) -> pd.DataFrame:
    """The latest inspection outcome of each declaration, as training labels.

    "Latest" is the greatest ``received_at``, ties broken by the later row.

    Args:
        conn: A connection inside a read transaction.
        table: The ``feedback`` table.
        sources: When given, only outcomes whose ``credential`` is one of these count
            (before the latest is picked); ``None``: every outcome.

    Returns:
        One row per declaration, sorted by ``declaration_id``, with columns
        :data:`FEEDBACK_COLUMNS`: ``declaration_id`` (str); ``inspected`` and ``illicit``
        as float64 0/1 flags and ``revenue`` float64, unknown values NaN (the dtypes the
        declaration loader gives label columns).
    """
    import pandas as pd

    rank = (
        func.row_number()
        .over(
            partition_by=table.c.declaration_id,
            order_by=(table.c.received_at.desc(), table.c.id.desc()),
        )
        .label("rank")
    )
    candidates = select(
        table.c.declaration_id, table.c.inspected, table.c.illicit, table.c.revenue, rank
    )
    if sources is not None:
        candidates = candidates.where(table.c.credential.in_(list(sources)))
    ranked = candidates.subquery()
    statement = (
        select(ranked.c.declaration_id, ranked.c.inspected, ranked.c.illicit, ranked.c.revenue)
        .where(ranked.c.rank == 1)
        .order_by(ranked.c.declaration_id)
    )
    rows = conn.execute(statement).all()

    def flags(values: Sequence[bool | None]) -> pd.Series:
        return pd.Series(
            [float("nan") if value is None else float(value) for value in values],
            dtype="float64",
        )

    return pd.DataFrame(
        {
            "declaration_id": pd.Series([row[0] for row in rows], dtype="str"),
            "inspected": flags([row[1] for row in rows]),
            "illicit": flags([row[2] for row in rows]),
            "revenue": pd.Series(
                [float("nan") if row[3] is None else float(row[3]) for row in rows],
                dtype="float64",
            ),
        }
    )


__all__ = ["DECISION_COLUMNS", "FEEDBACK_COLUMNS", "decisions_frame", "feedback_frame"]
