"""``portsift simulate``: replay the selection feedback loop week by week.

The parser lives here, without heavy imports, so that ``portsift --help`` stays fast; the
work is in :mod:`portsift.commands.simulate_impl`.
"""

from __future__ import annotations

import argparse
from typing import Any

from portsift.commands import options


def add_parser(subparsers: Any) -> None:
    """Add the ``simulate`` subcommand.

    Args:
        subparsers: The ``add_subparsers()`` object of the ``portsift`` parser.
    """
    simulate = subparsers.add_parser(
        "simulate",
        help="replay the selection feedback loop week by week and compare strategies",
        description="Replay a fully labelled history week by week (WCO BACUDA simulation): "
        "a warm-up model learns from the historic labels, then each week every strategy "
        "scores and selects under the same budget and only its selections reveal their "
        "labels. Every row of --declarations must carry its true illicit (and revenue); "
        "optional 0/1 columns historic_inspected (the warm-up's labels) and drift_ring "
        "(fraud-ring membership). --synthetic N replays the generated world of "
        "`portsift generate --rows N` with its ground truth instead.",
    )
    source = simulate.add_mutually_exclusive_group(required=True)
    source.add_argument("--declarations", help="fully labelled declarations CSV or Parquet")
    source.add_argument(
        "--synthetic", type=int, help="replay N generated declarations with their ground truth"
    )
    simulate.add_argument(
        "--synthetic-seed",
        dest="synthetic_seed",
        type=int,
        default=0,
        help="seed of the generated world (as generate --seed; default 0)",
    )
    simulate.add_argument("--enterprises", help="enterprise credit register")
    simulate.add_argument("--lab-results", dest="lab_results", help="third-party lab results")
    simulate.add_argument("--commodities", help="commodity catalogue")
    simulate.add_argument(
        "--disclosures", help="voluntary disclosures (主动披露, measure 22); optional"
    )
    simulate.add_argument("--rulings", help="advance rulings (预裁定, measure 12); optional")
    simulate.add_argument("--schema", help="TOML schema file mapping another layout")
    simulate.add_argument(
        "--skip-invalid",
        dest="skip_invalid",
        action="store_true",
        help="set invalid rows aside into OUT.rejected.csv instead of failing",
    )
    simulate.add_argument("--rate", type=float, help="share of each week to inspect")
    simulate.add_argument("--weeks", type=int, help="weeks to replay (default [simulation])")
    simulate.add_argument(
        "--warmup-weeks",
        dest="warmup_weeks",
        type=int,
        help="weeks of historic labels to warm up on (default: all before the replay)",
    )
    simulate.add_argument(
        "--retrain-every", dest="retrain_every", type=int, help="weeks between refits"
    )
    simulate.add_argument(
        "--strategies",
        help="comma-separated: exploit, policy, uncertainty, bandit, policy_ipw",
    )
    simulate.add_argument("--seed", type=int, help="seed of the run's random draws")
    simulate.add_argument("--out", required=True, help="output directory")
    options.add_common(simulate)
    simulate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``portsift simulate`` with parsed ``args`` and return the exit status.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    # Imported here, not at the top: building the parser (``portsift --help``, every other
    # command) must not pay for this command's libraries.
    from portsift.commands.simulate_impl import run_simulate

    return run_simulate(args)
