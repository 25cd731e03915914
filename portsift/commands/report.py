"""``portsift report``: officer reports, one declaration or a day's batch.

The parser lives here, without heavy imports, so that ``portsift --help`` stays fast; the
work is in :mod:`portsift.commands.report_impl`.
"""

from __future__ import annotations

import argparse
from typing import Any

from portsift.commands import options


def add_parser(subparsers: Any) -> None:
    """Add the ``report`` subcommand.

    Args:
        subparsers: The ``add_subparsers()`` object of the ``portsift`` parser.
    """
    report = subparsers.add_parser(
        "report",
        help="write an officer explanation report (one declaration, or a day's batch)",
        description="One declaration's explanation report (--id), or the daily batch "
        "report of the declarations lodged on a day (--batch --date D), as HTML or PDF "
        "(by the suffix of --out; PDF needs headless Chromium).",
    )
    report.add_argument("--model-dir", dest="model_dir", required=True)
    options.add_inputs(report)
    which = report.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", help="declaration id to report on")
    which.add_argument(
        "--batch", action="store_true", help="daily batch report of the day given by --date"
    )
    report.add_argument("--date", help="day of the batch report, YYYY-MM-DD")
    report.add_argument("--lang", choices=["zh", "en"], default="zh", help="report language")
    report.add_argument(
        "--rate", type=float, help="inspection rate of the batch (default from the settings)"
    )
    report.add_argument("--out", required=True, help="F.html or F.pdf")
    report.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds the browser may take to print a PDF, over up to 3 runs: a run that hangs "
        "is killed and started again (default 120)",
    )
    options.add_objective(report)
    options.add_common(report)
    report.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``portsift report`` with parsed ``args`` and return the exit status.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    # Imported here, not at the top: building the parser (``portsift --help``, every other
    # command) must not pay for this command's libraries.
    from portsift.commands.report_impl import run_report

    return run_report(args)
