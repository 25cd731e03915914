"""``portsift audit``: commands on the audit store (``verify`` its chains, ``import`` decisions).

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
        help="commands on the audit store (verify its hash chains, import a batch's decisions)",
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


def _add_import(commands: Any) -> None:
    imported = commands.add_parser(
        "import",
        help="record the decisions of a portsift score output, so that /feedback takes "
        "outcomes for them",
        description="Append the decisions of a `portsift score` output (--scores) to the "
        "audit store, one transaction: each row with the declaration it decided "
        "(--declarations, the CSV that was scored, hashed as the API hashes a request) and "
        "the model that scored it (--model-dir). POST /feedback accepts outcomes only for "
        "declarations whose decision is on record; this puts a batch decided offline "
        "there. A declaration already on record with the same content is a repeat and "
        "writes nothing (importing a file twice is harmless); with other content it is an "
        "amendment. Exit status 0, 2 on bad input (nothing written).",
    )
    imported.add_argument("--scores", required=True, help="the CSV `portsift score` wrote")
    imported.add_argument(
        "--declarations", required=True, help="the declarations CSV that was scored"
    )
    imported.add_argument(
        "--model-dir", dest="model_dir", required=True, help="the bundle that scored them"
    )
    imported.add_argument(
        "--credential",
        default="audit-import",
        help="name recorded as the credential of the rows (default audit-import)",
    )
    add_audit_url(imported)
    options.add_common(imported)
    imported.set_defaults(handler=_runner("run_import"))


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
SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (_add_verify, _add_import)
