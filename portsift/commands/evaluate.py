"""``portsift evaluate``: evaluate a model bundle after its training window.

The parser lives here, without heavy imports, so that ``portsift --help`` stays fast; the
work is in :mod:`portsift.commands.evaluate_impl`.
"""

from __future__ import annotations

import argparse
from typing import Any

from portsift.commands import options


def add_parser(subparsers: Any) -> None:
    """Add the ``evaluate`` subcommand.

    Args:
        subparsers: The ``add_subparsers()`` object of the ``portsift`` parser.
    """
    evaluate = subparsers.add_parser("evaluate", help="evaluate a model against baselines")
    evaluate.add_argument("--model-dir", dest="model_dir", required=True)
    options.add_inputs(evaluate)
    evaluate.add_argument("--json", help="also write the table as JSON")
    options.add_objective(evaluate)
    options.add_engine(evaluate)
    options.add_common(evaluate)
    evaluate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``portsift evaluate`` with parsed ``args`` and return the exit status.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    # Imported here, not at the top: building the parser (``portsift --help``, every other
    # command) must not pay for this command's libraries.
    from portsift.commands.evaluate_impl import run_evaluate

    return run_evaluate(args)
