"""``portsift report``: one declaration's officer report, or a day's batch report."""

from __future__ import annotations

import argparse
from pathlib import Path

from portsift.commands.helpers import CliError, notify, say
from portsift.commands.progress import Progress
from portsift.commands.steps import (
    inspection_rate,
    model_and_inputs,
    ranking_revenue_weight,
    run_settings,
)
from portsift.features.writing import write_rejected
from portsift.models.policy import SelectionPolicy
from portsift.reports.batch import parse_date, write_batch_report
from portsift.reports.officer import check_output, write_declaration_report
from portsift.reports.render import RenderError, find_chromium


def run_report(args: argparse.Namespace) -> int:
    """``portsift report``: one declaration's officer report, or a day's batch report.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    settings = run_settings(args)
    rate = inspection_rate(args, settings)
    if not args.timeout > 0:
        raise CliError(f"--timeout must be positive, got {args.timeout}")
    if args.batch and not args.date:
        raise CliError("--batch needs --date YYYY-MM-DD (the day whose declarations to report)")
    if args.date and not args.batch:
        raise CliError("--date goes with --batch; a declaration report takes only --id")
    kind = check_output(args.out)
    day = parse_date(args.date) if args.batch else None
    if kind == "pdf":
        try:  # fail before the scoring, not after it
            find_chromium()
        except RenderError as exc:
            raise CliError(f"{args.out}: {exc}") from exc
    stages = ["loading model", "reading input", "scoring", "writing report"]
    with Progress(stages, args.quiet) as progress:
        bundle, inputs = model_and_inputs(args, progress)
        progress.stage("scoring")
        common = {
            "lang": args.lang,
            "out": args.out,
            "rate": rate,
            "revenue_weight": ranking_revenue_weight(settings, bundle),
            "source": Path(args.declarations).name,
            "timeout": args.timeout,
            "policy": SelectionPolicy(settings.selection, rate=rate),
        }
        try:
            if day is not None:
                path = write_batch_report(
                    bundle,
                    inputs.declarations.frame,
                    inputs.registers,
                    date=day,
                    **common,
                )
            else:
                path = write_declaration_report(
                    bundle,
                    inputs.declarations.frame,
                    inputs.registers,
                    declaration_id=args.id,
                    **common,
                )
        except RenderError as exc:
            raise CliError(f"{args.out}: {exc}") from exc
        rejected = write_rejected(inputs.rejected, args.out)
        if rejected is not None:
            notify(args, f"{len(inputs.rejected)} invalid rows set aside in {rejected}")
    what = f"batch report for {day.date()}" if day is not None else f"report for {args.id}"
    say(args, f"{what} ({kind.upper()}, {args.lang}) written to {path}")
    return 0
