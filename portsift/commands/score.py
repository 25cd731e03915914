"""``portsift score``: score declarations and select inspections.

The parser lives here, without heavy imports, so that ``portsift --help`` stays fast; the
work is in :mod:`portsift.commands.score_impl`.
"""

from __future__ import annotations

import argparse
from typing import Any

from portsift.commands import options


def add_parser(subparsers: Any) -> None:
    """Add the ``score`` subcommand.

    Args:
        subparsers: The ``add_subparsers()`` object of the ``portsift`` parser.
    """
    score = subparsers.add_parser("score", help="score declarations and select inspections")
    score.add_argument("--model-dir", dest="model_dir", required=True)
    options.add_inputs(score)
    score.add_argument("--rate", type=float, help="share of declarations to inspect")
    score.add_argument("--out", required=True, help="output CSV or Parquet")
    score.add_argument("--lang", choices=["en", "zh"], default="en", help="language of reasons")
    score.add_argument(
        "--explain",
        choices=["selected", "all", "none"],
        default="selected",
        help="rows that get SHAP reasons: selected ones (and --explain-ids), all, or none",
    )
    score.add_argument(
        "--explain-ids",
        dest="explain_ids",
        metavar="FILE",
        help="declaration ids (one a line) also explained with --explain selected",
    )
    options.add_engine(score)
    options.add_objective(score)
    options.add_common(score)
    score.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``portsift score`` with parsed ``args`` and return the exit status.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    # Imported here, not at the top: building the parser (``portsift --help``, every other
    # command) must not pay for this command's libraries, nor the pandas engine for Dask's.
    if getattr(args, "engine", "pandas") == "dask":
        from portsift.commands.dask_engine import run_score_dask

        return run_score_dask(args)
    from portsift.commands.score_impl import run_score

    return run_score(args)
