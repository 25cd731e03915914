"""``portsift generate``: write a synthetic data set."""

from __future__ import annotations

import argparse
from pathlib import Path

from portsift.commands.helpers import CliError, say
from portsift.commands.progress import Progress
from portsift.features.writing import write_table_atomic
from portsift.synthetic.generator import generate_synthetic, write_synthetic
from portsift.synthetic.layouts import to_bacuda


def run_generate(args: argparse.Namespace) -> int:
    """``portsift generate``: write a synthetic data set.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    if args.rows < 100:
        raise CliError(f"--rows must be at least 100, got {args.rows}")
    if not 0.0 <= args.duty_free_share <= 1.0:
        raise CliError(f"--duty-free-share must be in [0, 1], got {args.duty_free_share}")
    if args.fraud == "identity" and args.layout == "bacuda":
        raise CliError(
            "--fraud identity writes seller and courier columns that --layout bacuda lacks"
        )
    with Progress(["generating", "writing"], args.quiet) as progress:
        progress.stage("generating")
        data = generate_synthetic(
            rows=args.rows,
            seed=args.seed,
            fraud=args.fraud,
            duty_free_share=args.duty_free_share,
        )
        progress.stage("writing")
        paths = write_synthetic(data, args.out)
        if args.layout == "bacuda":
            paths["declarations"] = write_table_atomic(
                to_bacuda(data.declarations), Path(args.out) / "declarations.csv"
            )
    d = data.declarations
    say(
        args,
        f"wrote {len(d):,} declarations ({args.layout} layout), {len(data.enterprises):,} "
        f"register rows, {len(data.lab_results):,} lab reports, "
        f"{len(data.commodities):,} catalogue rows, {len(data.disclosures):,} voluntary "
        f"disclosures and {len(data.rulings):,} advance rulings to {args.out}",
    )
    say(
        args,
        f"inspected {d['inspected'].mean():.1%}, violations among inspected "
        f"{d['illicit'].mean():.1%}, {d['declared_at'].min().date()} .. "
        f"{d['declared_at'].max().date()}",
    )
    if "schema" in paths:
        say(args, f"identity columns: train and score with --schema {paths['schema']}")
    return 0
