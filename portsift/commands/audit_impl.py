"""``portsift audit`` subcommands: ``verify`` checks the hash chains, ``import`` records a batch."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from portsift.commands.helpers import EXIT_TAMPERED, CliError, say
from portsift.features.writing import write_text_atomic
from portsift.store.audit import AuditError, AuditStore
from portsift.store.audit_verify import TableReport, parse_heads

#: The tables ``verify`` checks, the default of a bare ``--head`` first.
TABLES = ("decisions", "feedback")


def open_store(args: argparse.Namespace, *, create: bool = False) -> AuditStore:
    """Open the store of ``--audit-url``; a bad URL or an unreadable store is a user error.

    Args:
        args: The parsed command line (its ``audit_url``).
        create: Whether the store may be created or upgraded (``verify``: never).

    Returns:
        The open store.

    Raises:
        CliError: On a URL that is not a supported audit store, or a store that cannot
            be opened (missing, unreachable, created by an earlier version).
    """
    try:
        return AuditStore.from_url(args.audit_url, create=create)
    except (ValueError, AuditError) as exc:
        raise CliError(str(exc)) from exc


def run_verify(args: argparse.Namespace) -> int:
    """``portsift audit verify``: recompute the chains, print them, exit 4 if broken.

    Args:
        args: The parsed command line.

    Returns:
        The exit status (0 intact, 4 tampered).

    Raises:
        CliError: On a bad ``--head`` or ``--json``, or a store that cannot be read.
    """
    try:
        heads = parse_heads(args.heads, TABLES)
    except ValueError as exc:
        raise CliError(f"--head: {exc}") from exc
    if args.json and Path(args.json).is_dir():
        raise CliError(f"--json {args.json}: is a directory")
    store = open_store(args)
    try:
        report = store.verify(heads=heads)
    except AuditError as exc:
        raise CliError(str(exc)) from exc
    finally:
        store.close()

    say(args, f"audit store {store.url}")
    for table in report.tables:
        say(args, describe(table))
    if args.json:
        document = {"store": store.url, **report.to_dict()}
        write_text_atomic(json.dumps(document, indent=2) + "\n", args.json)
    if report.ok:
        heads_text = " ".join(f"--head {t.table}={t.head}" for t in report.tables if t.head)
        if heads_text:
            say(args, f"intact; record the heads to see later deletions at the end: {heads_text}")
        else:
            say(args, "intact (no chained rows yet)")
        return 0
    for table in report.tables:
        # On stderr even with --quiet: this is the command's finding, not progress.
        if table.problem is not None:
            print(
                f"portsift audit verify: tampered: {table.table}: {table.problem.kind} at id "
                f"{table.problem.id}: {table.problem.detail}",
                file=sys.stderr,
            )
    return EXIT_TAMPERED


def describe(table: TableReport) -> str:
    """One line for a person: checked, head, OK or the first problem.

    Args:
        table: One table's report.

    Returns:
        The line.
    """
    parts = [f"{table.table}: {table.checked} checked"]
    if table.before_chain:
        parts.append(f"{table.before_chain} before the chain")
    parts.append(f"head {table.table}={table.head}" if table.head else "no head")
    if table.problem is None:
        verdict = "OK"
    else:
        problem = table.problem
        more = f" ({table.problems} rows with a problem)" if table.problems > 1 else ""
        verdict = f"BROKEN: {problem.kind} at id {problem.id}{more}"
    return ", ".join(parts) + f": {verdict}"


#: Numeric columns of a ``portsift score`` output (JSON numbers in the stored decision).
_NUMBERS = frozenset(
    {
        "risk_score",
        "expected_revenue",
        "inspection_deadline_hours",
        "release_deadline_hours",
        "sampling_deadline_days",
        "lab_test_deadline_days",
        "ruling_risk_score",
    }
)
#: 0/1 columns of a ``portsift score`` output.
_FLAGS = frozenset(
    {"selected", "lab_accepted", "green_channel", "priority_lane", "ruling_expiring"}
)


def run_import(args: argparse.Namespace) -> int:
    """``portsift audit import``: append a ``score`` output's decisions in one transaction.

    Args:
        args: The parsed command line.

    Returns:
        The exit status (0).

    Raises:
        CliError: A file that cannot be read, a missing column, a declaration id twice or
            not among the declarations, a store that cannot be opened (nothing written).
    """
    # Here, not at the top: ``audit verify`` must not pay for the model's libraries.
    from portsift.commands.steps import load_model_bundle
    from portsift.models.scoring import SCORE_COLUMNS
    from portsift.serving.api_models import declaration_json
    from portsift.store.audit_records import DecisionRecord

    scores = _read_rows(args.scores, "--scores")
    # The contract's score columns and the policy version.
    required = (*SCORE_COLUMNS, "policy_version")
    missing = [column for column in required if scores and column not in scores[0]]
    if not scores or missing:
        what = f"no column {missing[0]!r}" if missing else "no rows"
        raise CliError(f"{args.scores}: {what}; give the CSV that portsift score wrote")
    declarations = _read_rows(args.declarations, "--declarations")
    by_id = _unique(declarations, args.declarations)
    _unique(scores, args.scores)
    unknown = [n for n, row in enumerate(scores, start=2) if row["declaration_id"] not in by_id]
    if unknown:
        shown = ", ".join(str(line) for line in unknown[:5])
        raise CliError(
            f"{args.scores}: column 'declaration_id': {len(unknown)} row(s) name a declaration "
            f"that {args.declarations} does not hold (line {shown}); give the file that was scored"
        )
    model_version = load_model_bundle(args.model_dir).model_version
    batch = uuid.uuid4().hex
    try:
        records = [
            DecisionRecord.from_request(
                request_id=f"import-{batch}-{position}",
                declaration=declaration_json(by_id[row["declaration_id"]]),
                decision=_decision(row),
                model_version=model_version,
                policy_version=row["policy_version"],
                credential=args.credential,
            )
            for position, row in enumerate(scores)
        ]
    except ValueError as exc:
        raise CliError(f"{args.scores}: {exc}") from exc
    store = open_store(args, create=True)
    try:
        results = store.record_decisions(records, skip_repeats=True)
    except AuditError as exc:
        raise CliError(str(exc)) from exc
    finally:
        store.close()
    kinds = Counter(result.kind for result in results)
    say(
        args,
        f"imported {len(records)} decision(s) of {args.scores} into {store.url}: "
        f"{kinds['new']} new, {kinds['amendment']} amendment(s), {kinds['repeat']} repeat(s) "
        f"already on record (model {model_version}, credential {args.credential})",
    )
    return 0


def _read_rows(path: str, option: str) -> list[dict[str, str]]:
    if not path.lower().endswith(".csv"):
        raise CliError(f"{option} {path}: give a CSV file (the import hashes its text rows)")
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CliError(f"{option} {path}: cannot read it: {exc}") from exc


def _unique(rows: list[dict[str, str]], path: str) -> dict[str, dict[str, str]]:
    """Rows by declaration id; an id given twice is refused, naming its lines."""
    by_id: dict[str, dict[str, str]] = {}
    twice: list[int] = []
    for line, row in enumerate(rows, start=2):
        declaration_id = row.get("declaration_id") or ""
        if not declaration_id or declaration_id in by_id:
            twice.append(line)
        by_id[declaration_id] = row
    if twice:
        shown = ", ".join(str(line) for line in twice[:5])
        raise CliError(
            f"{path}: column 'declaration_id': empty or given twice (line {shown}); "
            "each declaration is decided once"
        )
    return by_id


def _decision(row: dict[str, str]) -> dict[str, Any]:
    """A score output row as the decision JSON: numbers, 0/1 flags, text, null for empty."""
    decision: dict[str, Any] = {}
    for column, text in row.items():
        if text == "":
            decision[column] = None
        elif column in _NUMBERS:
            decision[column] = float(text)
        elif column in _FLAGS:
            decision[column] = int(float(text))
        else:
            decision[column] = text
    return decision


__all__ = ["TABLES", "describe", "open_store", "run_import", "run_verify"]
