"""``portsift retrain``: a challenger on the latest window against the champion."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from portsift.commands.helpers import CliError, notify, say
from portsift.commands.monitor_impl import read_random_ids
from portsift.commands.progress import Progress
from portsift.commands.steps import (
    check_schema_matches,
    engine_session,
    read_feedback_option,
    read_inputs,
    run_settings,
    set_aside,
)
from portsift.features.writing import write_text_atomic
from portsift.training.comparison import format_comparison
from portsift.training.retrain import RetrainError, fetch_champion, retrain


def run_retrain(args: argparse.Namespace) -> int:
    """``portsift retrain``: a challenger on the latest window against the champion.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    settings = run_settings(args)
    stages = [
        "reading input",
        "champion",
        "champion on the hold-out",
        "features and models",
        "hold-out evaluation",
        "bundle",
        "challenger on the hold-out",
        "MLflow run",
    ]
    # The champion is fetched into a directory of this run only (serve keeps a cache).
    with (
        Progress(stages, args.quiet) as progress,
        tempfile.TemporaryDirectory(prefix="portsift-champion-") as cache,
    ):
        progress.stage("reading input")
        feedback, source = read_feedback_option(args)  # first: a bad store fails before any output
        with engine_session(args) as client:
            inputs = read_inputs(args, client=client)
            declarations = inputs.declarations
            marked = read_random_ids(args, inputs, client)
            random_ids = None if marked is None else marked[1]
            progress.stage("champion")
            try:
                champion = fetch_champion(settings.training.registered_model_name, Path(cache))
            except RetrainError as exc:
                raise CliError(str(exc)) from exc
            if champion is not None:
                check_schema_matches(champion.bundle, declarations, args.declarations)
            set_aside(args, inputs, args.model_dir)
            common: dict[str, Any] = {
                "champion": champion,
                "window_days": args.window_days,
                "holdout_days": args.holdout_days,
                "feedback": feedback,
                "feedback_source": source,
                "random_ids": random_ids,
                "extra_categorical": declarations.extra_categorical,
                "extra_numeric": declarations.extra_numeric,
                "stage": progress.stage,
            }
            try:
                if client is None:
                    result = retrain(
                        declarations.frame, inputs.registers, settings, args.model_dir, **common
                    )
                else:
                    from portsift.training.dask_retrain import retrain_dask

                    result = retrain_dask(
                        declarations.frame,
                        inputs.registers,
                        settings,
                        args.model_dir,
                        client,
                        **common,
                    )
            except ValueError as exc:
                raise CliError(f"{args.declarations}: {exc}") from exc
        if args.json:
            write_text_atomic(json.dumps(result.comparison, indent=2, default=str), args.json)
    for note in result.notes:
        notify(args, note)
    if result.training.feedback is not None:
        counts = result.training.feedback
        say(
            args,
            f"feedback from {source}: labels of {counts.labels_from_feedback:,} declarations "
            f"taken from it ({counts.changed:,} differ from the file); "
            f"{counts.unmatched:,} of its {counts.feedback_rows:,} outcomes matched no "
            f"declaration of {args.declarations}",
        )
    if champion is None:
        say(args, "no champion registered yet: the challenger becomes the champion")
    else:
        say(
            args,
            f"champion {champion.uri}: version {champion.registry_version}, model "
            f"{champion.bundle.model_version}",
        )
    challenger, reg = result.challenger, result.registration
    say(
        args,
        f"challenger model {challenger.model_version} (trained {challenger.trained_from} .. "
        f"{challenger.trained_to}) written to {result.training.model_dir}",
    )
    say(args, format_comparison(challenger, result.champion))
    say(args, f"MLflow run {reg.run_id}: {reg.model_name} v{reg.version} -> {reg.alias}")
    if result.promoted:
        say(args, f"promoted: v{reg.version} is the champion now ({reg.reason})")
    else:
        say(
            args,
            f"not promoted: v{reg.version} stays challenger, the champion stays "
            f"v{reg.champion_version_before} ({reg.reason})",
        )
    if args.json:
        say(args, f"comparison written to {args.json}")
    return 0
