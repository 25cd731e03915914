"""``portsift audit``: commands on the audit store; ``verify`` checks its hash chains.

A group of subcommands: each is one ``_add_<name>`` function below, listed in
:data:`SUBCOMMANDS`, with a ``run_<name>`` in :mod:`portsift.commands.audit_impl` that is
imported only when it runs (so that ``portsift --help`` stays fast). To add one, write
both and list the adder.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from portsift.commands import options


def add_parser(subparsers: Any) -> None:
    """Add the ``audit`` group and its subcommands.

    Args:
        subparsers: The ``add_subparsers()`` object of the ``portsift`` parser.
    """
    audit = subparsers.add_parser(
        "audit",
        help="commands on the audit store (verify its hash chains)",
        description="Commands on the audit store of the API (PORTSIFT_AUDIT_URL).",
    )
    commands = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(commands)


def add_audit_url(parser: argparse.ArgumentParser) -> None:
    """Add ``--audit-url`` (default ``PORTSIFT_AUDIT_URL``, else the default SQLite file).

    Args:
        parser: The subcommand's parser.
    """
    parser.add_argument(
        "--audit-url",
        dest="audit_url",
        metavar="URL",
        help="the audit store, a SQLAlchemy URL: sqlite:///FILE or "
        "postgresql+psycopg://USER@HOST/DB (default PORTSIFT_AUDIT_URL, else "
        "sqlite:///portsift-audit.db)",
    )


def _add_verify(commands: Any) -> None:
    verify = commands.add_parser(
        "verify",
        help="recompute the hash chains of the decisions and feedback tables",
        description="Recompute the hash chain of the audit store's decisions and feedback "
        "tables and print, per table, the rows checked, the head (the last row as "
        "TABLE=ID:HASH) and OK or the first problem (its row id and kind: edited, missing, "
        "reordered, unchained; truncated or rewritten against --head). A chain alone "
        "cannot show that its last rows were deleted: record the heads printed and pass "
        "them as --head later. Nothing is written to the store. Exit status 0: intact; "
        "4: a chain is broken or does not contain a --head; 2: bad input or a store that "
        "cannot be read.",
    )
    add_audit_url(verify)
    verify.add_argument(
        "--head",
        dest="heads",
        action="append",
        default=[],
        metavar="[TABLE=]ID:HASH",
        help="a head recorded earlier that the chain must still contain (TABLE is "
        "decisions, the default, or feedback); repeat for both tables",
    )
    verify.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    options.add_common(verify)
    verify.set_defaults(handler=_runner("run_verify"))


def _runner(name: str) -> Callable[[argparse.Namespace], int]:
    """The handler that imports :mod:`portsift.commands.audit_impl` and calls ``name``."""

    def run(args: argparse.Namespace) -> int:
        # Imported here, not at the top: building the parser (``portsift --help``, every
        # other command) must not pay for the store's libraries.
        from portsift.commands import audit_impl

        handler: Callable[[argparse.Namespace], int] = getattr(audit_impl, name)
        return handler(args)

    return run


#: The ``portsift audit`` subcommands, in help order.
SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (_add_verify,)
