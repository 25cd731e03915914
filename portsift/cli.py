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
    audit,
    console,
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
    for command in (
        generate,
        train,
        retrain,
        score,
        evaluate,
        report,
        simulate,
        monitor,
        serve,
        audit,
        console,
    ):
        command.add_parser(commands)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean bad input (exit 2), of the modules imported so far.

    Read after the command failed: an error class whose module was never imported cannot
    have been raised, so ``portsift --help`` and ``portsift generate`` do not import the
    model bundle (and LightGBM) only to be able to catch its ``BundleError``.
    """
    errors: list[type[BaseException]] = [CliError]
    for module, name in (
        ("portsift.features.validation", "InputError"),
        ("portsift.models.bundle", "BundleError"),
        ("portsift.settings", "SettingsError"),
    ):
        loaded = sys.modules.get(module)
        if loaded is not None:
            errors.append(getattr(loaded, name))
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``portsift`` with ``argv`` and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except BaseException as exc:
        if not isinstance(exc, _user_errors()):
            raise
        print(f"portsift {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
