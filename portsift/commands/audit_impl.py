"""``portsift audit`` subcommands: ``verify`` checks the audit store's hash chains."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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


__all__ = ["TABLES", "describe", "open_store", "run_verify"]
