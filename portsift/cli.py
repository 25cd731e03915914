"""The ``portsift`` command: thin wrappers over the library, I/O at the edges.

Every subcommand exits 2 with one clear message on bad input and never leaves a
half-written output file behind. Each subcommand lives in :mod:`portsift.commands`; this
module builds the parser from their light parser modules and dispatches.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from portsift.commands import (
    evaluate,
    generate,
    monitor,
    report,
    retrain,
    score,
    serve,
    simulate,
    train,
)
from portsift.commands.helpers import EXIT_BAD_INPUT, CliError


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``portsift``."""
    parser = argparse.ArgumentParser(
        prog="portsift", description="Customs risk scoring and inspection selection."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (generate, train, retrain, score, evaluate, report, simulate, monitor, serve):
        command.add_parser(commands)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    # Imported on dispatch, not at the top: ``portsift --help`` exits before it and must
    # not pay for pandas (features.validation) and the model libraries (models.bundle).
    from portsift.features.validation import InputError
    from portsift.models.bundle import BundleError
    from portsift.settings import SettingsError

    return (CliError, InputError, BundleError, SettingsError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``portsift`` with ``argv`` and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    errors = _user_errors()
    try:
        return handler(args)
    except errors as exc:
        print(f"portsift {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
