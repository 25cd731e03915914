"""``portsift retrain``: a challenger on the latest window against the champion.

The parser lives here, without heavy imports, so that ``portsift --help`` stays fast; the
work is in :mod:`portsift.commands.retrain_impl`.
"""

from __future__ import annotations

import argparse
from typing import Any

from portsift.commands import options


def add_parser(subparsers: Any) -> None:
    """Add the ``retrain`` subcommand.

    Args:
        subparsers: The ``add_subparsers()`` object of the ``portsift`` parser.
    """
    retrain = subparsers.add_parser(
        "retrain",
        help="train a challenger on the latest window and promote it if it beats the champion",
        description="Train a challenger on the latest window of --declarations (the last "
        "--window-days before a recent hold-out; default all of it), with the outcomes of "
        "--feedback-from merged in, and evaluate it and the registered champion "
        "(models:/<registered_model_name>@champion in MLFLOW_TRACKING_URI) on the same "
        "hold-out rows, after both models' training windows. The challenger takes the "
        "champion alias only with a strictly higher P@5% there, else it is registered as "
        "challenger. Exit status 0 either way, 2 on bad input.",
    )
    options.add_inputs(retrain)
    retrain.add_argument("--model-dir", dest="model_dir", required=True)
    options.add_feedback(retrain)
    options.add_engine(retrain)
    retrain.add_argument(
        "--window-days",
        dest="window_days",
        type=int,
        metavar="N",
        help="train on the last N days before the hold-out (default: everything before it)",
    )
    retrain.add_argument(
        "--holdout-days",
        dest="holdout_days",
        type=int,
        metavar="N",
        help="hold out the last N days of the file (default: [training] holdout_fraction)",
    )
    retrain.add_argument("--json", help="also write the comparison (comparison.json) here")
    options.add_common(retrain)
    retrain.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``portsift retrain`` with parsed ``args`` and return the exit status.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    # Imported here, not at the top: building the parser (``portsift --help``, every other
    # command) must not pay for this command's libraries.
    from portsift.commands.retrain_impl import run_retrain

    return run_retrain(args)
