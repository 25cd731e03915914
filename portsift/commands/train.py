"""``portsift train``: train a model bundle and record the run.

The parser lives here, without heavy imports, so that ``portsift --help`` stays fast; the
work is in :mod:`portsift.commands.train_impl`.
"""

from __future__ import annotations

import argparse
from typing import Any

from portsift.commands import options


def add_parser(subparsers: Any) -> None:
    """Add the ``train`` subcommand.

    Args:
        subparsers: The ``add_subparsers()`` object of the ``portsift`` parser.
    """
    train = subparsers.add_parser("train", help="train a model bundle and record the run")
    options.add_inputs(train)
    train.add_argument("--model-dir", dest="model_dir", required=True)
    train.add_argument(
        "--no-mlflow",
        dest="no_mlflow",
        action="store_true",
        help="do not record the run in MLflow",
    )
    options.add_feedback(train)
    options.add_engine(train)
    options.add_objective(train)
    options.add_common(train)
    train.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``portsift train`` with parsed ``args`` and return the exit status.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    # Imported here, not at the top: building the parser (``portsift --help``, every other
    # command) must not pay for this command's libraries, nor the pandas engine for Dask's.
    if getattr(args, "engine", "pandas") == "dask":
        from portsift.commands.dask_engine import run_train_dask

        return run_train_dask(args)
    from portsift.commands.train_impl import run_train

    return run_train(args)
