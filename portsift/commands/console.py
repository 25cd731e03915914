"""``portsift console``: the officers of the console (``hash-password``, ``add-officer``).

The parser lives here, without heavy imports, so that ``portsift --help`` stays fast; the
work is in :mod:`portsift.commands.console_impl`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from portsift.commands import options


def add_parser(subparsers: Any) -> None:
    """Add the ``console`` subcommand and its subcommands.

    Args:
        subparsers: The ``add_subparsers()`` object of the ``portsift`` parser.
    """
    console = subparsers.add_parser(
        "console",
        help="the officer console's officers (hash a password, add an officer)",
        description="Officers sign in to the console at /console of portsift serve; they "
        "are listed in a TOML file (PORTSIFT_OFFICERS or [console] officers_file) with "
        "argon2 password hashes. docs/console.md explains the file.",
    )
    commands = console.add_subparsers(dest="console_command", required=True)
    hashed = commands.add_parser(
        "hash-password",
        help="print the argon2 hash of a password for the officers file",
        description="Read a password (asked twice on a terminal, or one line of stdin with "
        "--password-stdin) and print its argon2id hash. Exit status 2 when it is too short "
        "or the two do not match.",
    )
    hashed.add_argument(
        "--password-stdin", dest="password_stdin", action="store_true",
        help="read the password from the first line of stdin instead of asking",
    )  # fmt: skip
    options.add_common(hashed)
    hashed.set_defaults(handler=_runner("run_hash_password"))
    added = commands.add_parser(
        "add-officer",
        help="add an officer to the officers file (created if missing)",
        description="Append an officer to the officers file, atomically. Without "
        "--password-stdin a random password is made and printed once: give it to the "
        "officer, it is not kept. Exit status 2 on an id already in the file or a bad "
        "value (the file is left as it was).",
    )
    added.add_argument("--officers", required=True, help="the officers TOML file")
    added.add_argument("--id", dest="officer_id", required=True, help="the officer's id")
    added.add_argument("--name", required=True, help="the name shown in the console")
    added.add_argument(
        "--role", choices=["officer", "supervisor"], default="officer",
        help="officer (default) or supervisor (also sees the supervisor view)",
    )  # fmt: skip
    added.add_argument(
        "--password-stdin", dest="password_stdin", action="store_true",
        help="read the password from the first line of stdin instead of making one",
    )  # fmt: skip
    options.add_common(added)
    added.set_defaults(handler=_runner("run_add_officer"))


def _runner(name: str) -> Callable[[argparse.Namespace], int]:
    """A handler that imports the implementation only when it runs."""

    def run(args: argparse.Namespace) -> int:
        from portsift.commands import console_impl

        handler: Callable[[argparse.Namespace], int] = getattr(console_impl, name)
        return handler(args)

    return run
