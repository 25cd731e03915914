"""Inspection outcomes from the API's audit store as training labels.

``POST /feedback`` appends inspection outcomes to the audit store
(:class:`portsift.store.audit.AuditStore`); :meth:`~portsift.store.audit.AuditStore.feedback_frame`
gives the latest outcome of each declaration. ``portsift train --feedback-from URL``
reads them with :func:`read_feedback` and :func:`merge_feedback` puts them on the
training declarations:

* a declaration of the file that has an outcome in the feedback takes ``inspected``,
  ``illicit`` and ``revenue`` from the feedback, replacing whatever the file said;
* every other declaration keeps the file's labels;
* an outcome for a declaration id the file does not hold adds no row (the features of
  a declaration cannot be invented); :func:`count_feedback` counts those.

The contract's label rules (section 1.1, as :mod:`portsift.features.loading` applies them to a
file) hold for the merged rows too: an uninspected declaration has no outcome, and an
inspection that found nothing raised no revenue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from portsift.features.contract import LABEL_FIELDS

#: Columns the feedback table must have (those of ``AuditStore.feedback_frame``).
FEEDBACK_COLUMNS: tuple[str, ...] = ("declaration_id", *LABEL_FIELDS)


class FeedbackSourceError(Exception):
    """The feedback store cannot be read (bad URL, missing file, not an audit store)."""


@dataclass(frozen=True)
class FeedbackCounts:
    """How the feedback met the training declarations.

    Attributes:
        feedback_rows: Declarations with an outcome in the feedback.
        labels_from_feedback: Training declarations whose labels came from the feedback.
        changed: Of those, how many got labels different from the file's.
        unmatched: Feedback rows whose declaration id is not in the training file.
    """

    feedback_rows: int
    labels_from_feedback: int
    changed: int
    unmatched: int

    def to_dict(self) -> dict[str, int]:
        """The counts as a JSON-ready mapping."""
        return {
            "feedback_rows": self.feedback_rows,
            "labels_from_feedback": self.labels_from_feedback,
            "changed": self.changed,
            "unmatched": self.unmatched,
        }


def _checked(feedback: pd.DataFrame) -> pd.DataFrame:
    """Validate a feedback table and index it by declaration id (as text).

    Raises:
        ValueError: Missing columns, repeated declaration ids, flags other than 0/1 or
            negative revenue.
    """
    missing = [c for c in FEEDBACK_COLUMNS if c not in feedback.columns]
    if missing:
        raise ValueError(f"feedback lacks the column(s) {', '.join(missing)}")
    table = feedback[list(FEEDBACK_COLUMNS)].copy()
    table["declaration_id"] = table["declaration_id"].astype(str)
    repeated = table["declaration_id"][table["declaration_id"].duplicated()]
    if len(repeated):
        # feedback_frame keeps only the latest outcome; two here would be ambiguous.
        raise ValueError(
            f"feedback names declaration {repeated.iloc[0]!r} more than once; "
            "give one outcome per declaration (AuditStore.feedback_frame does)"
        )
    for name in LABEL_FIELDS:
        table[name] = pd.to_numeric(table[name], errors="raise").astype("float64")
    for name in ("inspected", "illicit"):
        bad = table[name].notna() & ~table[name].isin((0.0, 1.0))
        if bad.any():
            raise ValueError(f"feedback {name!r} must be 0, 1 or missing")
    if (table["revenue"] < 0).any():
        raise ValueError("feedback 'revenue' must be >= 0")
    return table.set_index("declaration_id")


def merge_feedback(declarations: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """Give the declarations that have an inspection outcome in the feedback its labels.

    Args:
        declarations: Canonical declarations (as :func:`portsift.features.loading.load_declarations`
            gives them), with or without label columns.
        feedback: One row per declaration id with columns ``declaration_id, inspected,
            illicit, revenue`` (flags 0/1 or NaN), as ``AuditStore.feedback_frame`` returns.

    Returns:
        A copy of ``declarations`` (same rows, order and index) in which the rows whose
        ``declaration_id`` is in the feedback carry the feedback's ``inspected``,
        ``illicit`` and ``revenue``. A label column the file lacks is added when the
        matched feedback has values for it (``inspected`` always), unknown (NaN) on the
        other rows; ``inspected`` of rows without labels is 0 then.

    Raises:
        ValueError: If the feedback is malformed (see :func:`_checked`).
    """
    table = _checked(feedback)
    ids = declarations["declaration_id"].astype(str).to_numpy()
    matched = np.isin(ids, table.index.to_numpy())
    merged = declarations.copy()
    if not matched.any():
        return merged
    # Positional alignment: one lookup row per declaration, NaN where none matched.
    looked_up = table.reindex(ids)
    values = {name: looked_up[name].to_numpy(dtype="float64") for name in LABEL_FIELDS}
    # An outcome without `inspected` is inspected when it names a result (contract 1.1).
    values["inspected"] = np.where(
        np.isnan(values["inspected"]),
        (~np.isnan(values["illicit"])).astype("float64"),
        values["inspected"],
    )
    not_inspected = matched & (values["inspected"] == 0)
    values["illicit"] = np.where(not_inspected, np.nan, values["illicit"])
    values["revenue"] = np.where(not_inspected, np.nan, values["revenue"])
    # An inspection that found nothing raised nothing.
    clean = matched & (values["inspected"] == 1) & (values["illicit"] == 0)
    values["revenue"] = np.where(clean & np.isnan(values["revenue"]), 0.0, values["revenue"])
    for name in LABEL_FIELDS:
        if name not in merged.columns:
            if name != "inspected" and np.isnan(values[name][matched]).all():
                continue  # the feedback says nothing the file lacks: no empty column
            merged[name] = 0.0 if name == "inspected" else np.nan
        current = merged[name].to_numpy(dtype="float64")
        merged[name] = np.where(matched, values[name], current)
    return merged


def count_feedback(declarations: pd.DataFrame, feedback: pd.DataFrame) -> FeedbackCounts:
    """Count how the feedback meets the declarations (see :class:`FeedbackCounts`).

    Args:
        declarations: The training declarations, before :func:`merge_feedback`.
        feedback: The feedback table given to :func:`merge_feedback`.

    Returns:
        The counts.

    Raises:
        ValueError: If the feedback is malformed.
    """
    table = _checked(feedback)
    ids = declarations["declaration_id"].astype(str)
    matched = ids.isin(table.index).to_numpy()
    merged = merge_feedback(declarations, feedback)
    changed = np.zeros(len(declarations), dtype=bool)
    for name in LABEL_FIELDS:
        after = merged[name].to_numpy(dtype="float64") if name in merged else None
        before = (
            declarations[name].to_numpy(dtype="float64")
            if name in declarations
            else np.full(len(declarations), np.nan)
        )
        if after is None:
            continue
        # Two unknowns are the same label; NaN != NaN would count them as changed.
        same = (before == after) | (np.isnan(before) & np.isnan(after))
        changed |= ~same
    return FeedbackCounts(
        feedback_rows=len(table),
        labels_from_feedback=int(matched.sum()),
        changed=int((changed & matched).sum()),
        unmatched=int((~table.index.isin(ids)).sum()),
    )


def describe_url(url: str) -> str:
    """The URL as it may be printed and recorded: without its password.

    Args:
        url: A SQLAlchemy URL.

    Returns:
        The URL with the password masked, or the text as given if it does not parse.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def read_feedback(url: str, *, sources: Sequence[str] | None = None) -> pd.DataFrame:
    """Read the latest inspection outcome of every declaration from an audit store.

    Nothing is created: a SQLite file that does not exist, or a database without the
    audit store's ``feedback`` table, is an error (opening the store for writing would
    otherwise create an empty one, and the training would silently get no labels).

    Args:
        url: SQLAlchemy URL of the audit store (``sqlite:///FILE`` or
            ``postgresql+psycopg://USER@HOST/DB``), as ``PORTSIFT_AUDIT_URL`` of the API.
        sources: Only outcomes sent by these API credentials count (default: all).

    Returns:
        ``AuditStore.feedback_frame(sources)``: one row per declaration, columns
        ``declaration_id, inspected, illicit, revenue``.

    Raises:
        FeedbackSourceError: The URL is malformed or names a store that cannot be read.
    """
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from portsift.store.audit import AuditError, AuditStore

    shown = describe_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise FeedbackSourceError(
            f"{url!r} is not a SQLAlchemy URL: use sqlite:///FILE or "
            "postgresql+psycopg://USER@HOST/DB (the API's PORTSIFT_AUDIT_URL)"
        ) from err
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if not database.startswith("file:") and not Path(database).is_file():
            raise FeedbackSourceError(f"{shown}: no audit store there (no such SQLite file)")
    elif backend != "postgresql":
        raise FeedbackSourceError(
            f"{shown}: unsupported database; use sqlite:///FILE or postgresql+psycopg://..."
        )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # as AuditStore does
    try:
        probe = sa.create_engine(parsed)
        try:
            with probe.connect() as conn:
                present = sa.inspect(conn).has_table("feedback")
        finally:
            probe.dispose()
        if not present:
            raise FeedbackSourceError(
                f"{shown}: not a portsift audit store (it has no feedback table)"
            )
        with AuditStore.from_url(parsed) as store:
            return store.feedback_frame(sources=sources)
    except FeedbackSourceError:
        raise
    except (AuditError, SQLAlchemyError, ValueError, ImportError) as err:
        detail = " ".join(str(getattr(err, "orig", None) or err).split())
        raise FeedbackSourceError(f"cannot read feedback from {shown}: {detail}") from err
