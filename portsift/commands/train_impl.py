"""``portsift train`` with the pandas engine: fit, evaluate, save, record in MLflow."""

from __future__ import annotations

import argparse

from portsift.commands.helpers import CliError
from portsift.commands.progress import Progress
from portsift.commands.steps import (
    read_feedback_option,
    read_inputs,
    report_training,
    run_settings,
    set_aside,
)
from portsift.training.train import train


def run_train(args: argparse.Namespace) -> int:
    """``portsift train``: fit, evaluate on the time hold-out, save, record in MLflow.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    settings = run_settings(args)
    stages = ["reading input", "features and models", "bundle", "hold-out evaluation", "MLflow run"]
    with Progress(stages, args.quiet) as progress:
        progress.stage("reading input")
        feedback, source = read_feedback_option(args)  # first: a bad store fails before any output
        inputs = read_inputs(args)
        set_aside(args, inputs, args.model_dir)
        declarations = inputs.declarations
        try:
            result = train(
                declarations.frame,
                inputs.registers,
                settings,
                args.model_dir,
                extra_categorical=declarations.extra_categorical,
                extra_numeric=declarations.extra_numeric,
                track=not args.no_mlflow,
                stage=progress.stage,
                feedback=feedback,
                feedback_source=source,
            )
        except ValueError as exc:
            raise CliError(f"{args.declarations}: {exc}") from exc
    report_training(args, result, settings, source)
    return 0
