"""What every command shares without heavy imports: the user error, exit statuses, messages."""

from __future__ import annotations

import argparse
import sys

#: Exit status of bad input (a :class:`CliError` or another user error).
EXIT_BAD_INPUT = 2
#: ``portsift monitor``: a drift threshold was crossed (distinct from bad input).
EXIT_DRIFT = 3
#: ``portsift audit verify``: a hash chain of the audit store is broken (tampering).
EXIT_TAMPERED = 4


class CliError(Exception):
    """A user error with a message; exits 2."""


def say(args: argparse.Namespace, text: str = "") -> None:
    """Print ``text`` to stdout unless ``--quiet``.

    Args:
        args: The parsed command line (its ``quiet``).
        text: The line to print.
    """
    if not args.quiet:
        print(text)


def notify(args: argparse.Namespace, text: str) -> None:
    """Print ``note: text`` to stderr unless ``--quiet``.

    Args:
        args: The parsed command line (its ``quiet``).
        text: The note, without the ``note:`` prefix.
    """
    if not args.quiet:
        print(f"note: {text}", file=sys.stderr)
