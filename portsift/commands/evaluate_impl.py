"""``portsift evaluate``: evaluate a bundle on declarations after its training window."""

from __future__ import annotations

import argparse
import json

import pandas as pd

from portsift.commands.helpers import CliError, notify, say
from portsift.commands.progress import Progress
from portsift.commands.steps import (
    check_schema_matches,
    engine_session,
    load_model_bundle,
    read_inputs,
    run_settings,
)
from portsift.features.writing import write_text_atomic
from portsift.training.evaluate import format_policy, format_table
from portsift.training.train import evaluate_bundle_on


def run_evaluate(args: argparse.Namespace) -> int:
    """``portsift evaluate``: evaluate a bundle on declarations after its training window.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    settings = run_settings(args)
    stages = ["loading model", "reading input", "evaluating"]
    with Progress(stages, args.quiet) as progress, engine_session(args) as client:
        progress.stage("loading model")
        bundle = load_model_bundle(args.model_dir)
        progress.stage("reading input")
        inputs = read_inputs(args, client=client)
        for note in inputs.notes:
            notify(args, note)
        check_schema_matches(bundle, inputs.declarations, args.declarations)
        frame = inputs.declarations.frame
        trained_to = pd.Timestamp(bundle.metadata["trained_to"])
        after = frame[frame["declared_at"].dt.normalize() > trained_to]
        # A count, not the rows: with Dask they stay on the workers.
        count = after["declared_at"].count()
        if int(count.compute() if client is not None else count) == 0:
            raise CliError(
                f"{args.declarations}: no declarations lodged after the model's training "
                f"window (which ends {trained_to.date()}); evaluating on them would be in-sample"
            )
        progress.stage("evaluating")
        try:
            if client is None:
                evaluation = evaluate_bundle_on(args.model_dir, after, inputs.registers, settings)
            else:
                from portsift.training.dask_runs import evaluate_bundle_dask
                from portsift.training.scale import peak_memory

                evaluation, _ = evaluate_bundle_dask(
                    bundle, after, inputs.registers, settings, client
                )
                memory = peak_memory(client)
        except ValueError as exc:
            raise CliError(f"{args.declarations}: {exc}") from exc
    facts = evaluation.facts
    say(
        args,
        f"model {bundle.model_version}, evaluated on declarations lodged after its training "
        f"window: {facts['from']} .. {facts['to']}, {facts['labelled_rows']:,} inspected, "
        f"{facts['violations']:,} violations",
    )
    if "disclosed_violations" in facts:
        violations, inspected = facts["disclosed_violations"], facts["disclosed_labelled_rows"]
        say(
            args,
            f"voluntary disclosures: {violations:,} disclosed violation"
            f"{'' if violations == 1 else 's'} (of {inspected:,} inspected declaration"
            f"{'' if inspected == 1 else 's'} a disclosure covers) counted apart, never as hits",
        )
    say(args, format_table(evaluation, tuple(settings.evaluation.percents)))
    say(args)
    say(args, "by credit tier:")
    say(args, evaluation.by_tier.to_string(float_format=lambda v: f"{v:.3f}"))
    if evaluation.policy is not None:
        say(args)
        say(args, format_policy(evaluation.policy))
    if args.json:
        write_text_atomic(json.dumps(evaluation.to_dict(), indent=2, default=str), args.json)
        say(args, f"evaluation written to {args.json}")
    if client is not None:
        for line in memory.lines():
            say(args, line)
    return 0
