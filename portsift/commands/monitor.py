"""``portsift monitor``: drift of recent declarations against the training window.

The parser lives here, without heavy imports, so that ``portsift --help`` stays fast; the
work is in :mod:`portsift.commands.monitor_impl`.
"""

from __future__ import annotations

import argparse
from typing import Any

from portsift.commands import options


def add_parser(subparsers: Any) -> None:
    """Add the ``monitor`` subcommand.

    Args:
        subparsers: The ``add_subparsers()`` object of the ``portsift`` parser.
    """
    monitor = subparsers.add_parser(
        "monitor",
        help="drift of recent declarations against the model's training window",
        description="Population stability (PSI) of every model feature and of the risk "
        "score, and the violation rate of the random inspection sample, of the "
        "declarations lodged after the model's training window (or from --since on) "
        "against that window. Writes an HTML dashboard and records an MLflow run. Exit "
        "status 0: nothing crossed an alert threshold; 3: a threshold was crossed (the "
        "alerts are printed); 2: bad input.",
    )
    monitor.add_argument("--model-dir", dest="model_dir", required=True)
    options.add_inputs(monitor)
    monitor.add_argument("--since", help="first day of the recent window, YYYY-MM-DD")
    monitor.add_argument("--out", required=True, help="dashboard F.html")
    monitor.add_argument("--json", help="also write the results as JSON")
    monitor.add_argument(
        "--no-mlflow",
        dest="no_mlflow",
        action="store_true",
        help="do not record the run in MLflow",
    )
    options.add_engine(monitor)
    options.add_common(monitor)
    monitor.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``portsift monitor`` with parsed ``args`` and return the exit status.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    # Imported here, not at the top: building the parser (``portsift --help``, every other
    # command) must not pay for this command's libraries.
    from portsift.commands.monitor_impl import run_monitor

    return run_monitor(args)
