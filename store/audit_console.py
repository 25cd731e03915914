"""What the officer console reads from the audit store, as methods of the store.

:class:`~portsift.store.audit.AuditStore` takes these from :class:`ConsoleReads`; the SQL
is in :mod:`portsift.store.audit_queue`. Kept apart from the store's writing and
verifying, which they do not touch: they read, each in one snapshot of the store.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.exc import SQLAlchemyError

from portsift.store import audit_queue
from portsift.store.audit_queue import HistoryEntry, QueueFilter, QueuePage
from portsift.store.audit_records import AuditError, require_aware


class ConsoleReads:
    """The console's reads: the queue, its menus, the day, an importer's history, outcomes.

    A mixin of :class:`~portsift.store.audit.AuditStore`, which provides the tables, the
    read transaction and the URL.
    """

    _decisions: Table
    _feedback: Table

    if TYPE_CHECKING:  # provided by AuditStore

        def _read(self) -> AbstractContextManager[Connection]: ...

        @property
        def url(self) -> str:
            """The store's URL with any password masked."""
            ...

    def inspection_queue(self, wanted: QueueFilter, *, limit: int, offset: int = 0) -> QueuePage:
        """One page of the inspection queue (selected, no outcome yet), in deadline order.

        See :mod:`portsift.store.audit_queue` for the order.

        Args:
            wanted: The filters (lane, office, tier, recorded between two instants).
            limit: Entries per page (at least 1).
            offset: Entries before the page (at least 0).

        Returns:
            The page, the filtered total and the counts by lane.

        Raises:
            ValueError: On a limit below 1, a negative offset or a naive instant.
            AuditError: When the store cannot be read.
        """
        if limit < 1 or offset < 0:
            raise ValueError(
                f"queue paging needs limit >= 1 and offset >= 0, got {limit}, {offset}"
            )
        for name in ("recorded_from", "recorded_before"):
            instant = getattr(wanted, name)
            if instant is not None:
                require_aware(instant, name)
        try:
            with self._read() as conn:
                return audit_queue.queue_page(
                    conn, self._decisions, self._feedback, wanted, limit=limit, offset=offset
                )
        except SQLAlchemyError as err:
            raise AuditError(f"could not read the queue from {self.url}: {err}") from err

    def queue_options(self) -> tuple[list[str], list[str]]:
        """The customs offices and credit tiers of the queue (its filter menus).

        Returns:
            The distinct offices and tiers, sorted.
        """
        with self._read() as conn:
            return audit_queue.queue_options(conn, self._decisions, self._feedback)

    def decided_since(
        self, since: datetime, until: datetime | None = None
    ) -> list[tuple[Any, ...]]:
        """The latest decision of each declaration decided since a time, with its outcome.

        Args:
            since: The start (time zone aware).
            until: The end, excluded (time zone aware; ``None``: none).

        Returns:
            Rows of ``declaration_id, selected, credit_tier, selection_reason, inspected,
            illicit, revenue`` (see :func:`portsift.store.audit_queue.decided_since`).

        Raises:
            ValueError: When ``since`` or ``until`` is not time zone aware.
        """
        require_aware(since, "since")
        if until is not None:
            require_aware(until, "until")
        with self._read() as conn:
            return audit_queue.decided_since(conn, self._decisions, self._feedback, since, until)

    def importer_history(
        self, importer_id: str, *, exclude: str, limit: int = 20
    ) -> tuple[list[HistoryEntry], dict[str, int]]:
        """An importer's other declarations on record, newest first, with their outcomes.

        Args:
            importer_id: The importer.
            exclude: The declaration being looked at (left out).
            limit: Most entries listed.

        Returns:
            The entries and the totals (``declarations, selected, inspected, violations``).
        """
        with self._read() as conn:
            return audit_queue.importer_history(
                conn, self._decisions, self._feedback, importer_id, exclude=exclude, limit=limit
            )

    def outcomes_of(self, declaration_id: str) -> list[dict[str, Any]]:
        """Every outcome on record for one declaration, oldest first (corrections too).

        Args:
            declaration_id: The declaration.

        Returns:
            One mapping per ``feedback`` row, every column.
        """
        table = self._feedback
        statement = (
            select(table).where(table.c.declaration_id == declaration_id).order_by(table.c.id)
        )
        with self._read() as conn:
            return [dict(row._mapping) for row in conn.execute(statement)]


__all__ = ["ConsoleReads"]
