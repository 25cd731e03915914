"""``portsift train`` and ``portsift score`` with ``--engine dask``, on a Dask cluster.

``portsift evaluate --engine dask`` shares the session
(:func:`portsift.commands.steps.engine_session`) and runs in
:mod:`portsift.commands.evaluate_impl`.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

from portsift.commands.helpers import CliError, say
from portsift.commands.progress import Progress
from portsift.commands.score_impl import run_score
from portsift.commands.steps import (
    engine_session,
    explain_ids,
    explain_mode,
    read_feedback_option,
    read_inputs,
    report_training,
    run_settings,
    set_aside,
)
from portsift.models.policy import SelectionPolicy
from portsift.training.scale import (
    peak_memory,
    score_dask,
    train_dask,
    write_scores,
)


def run_train_dask(args: argparse.Namespace) -> int:
    """``portsift train --engine dask``: the same bundle and run, trained on a Dask cluster.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    settings = run_settings(args)
    stages = ["reading input", "features and models", "hold-out evaluation", "bundle", "MLflow run"]
    with Progress(stages, args.quiet) as progress:
        progress.stage("reading input")
        feedback, source = read_feedback_option(args)  # first: a bad store fails before any output
        with engine_session(args) as client:
            # Read and validated on the workers: the client never holds the declarations.
            inputs = read_inputs(args, client=client)
            set_aside(args, inputs, args.model_dir)
            declarations = inputs.declarations
            try:
                result = train_dask(
                    declarations.frame,
                    inputs.registers,
                    settings,
                    args.model_dir,
                    client,
                    extra_categorical=declarations.extra_categorical,
                    extra_numeric=declarations.extra_numeric,
                    stage=progress.stage,
                    track=not args.no_mlflow,
                    feedback=feedback,
                    feedback_source=source,
                )
            except ValueError as exc:
                raise CliError(f"{args.declarations}: {exc}") from exc
            memory = peak_memory(client)
    report_training(args, result, settings, source)
    for line in memory.lines():
        say(args, line)
    return 0


class DaskScoring:
    """Scoring on a Dask cluster (:func:`portsift.training.scale.score_dask`).

    The client lives while the batch is read and scored (:meth:`session`); the decisions
    are written as partitioned output (:func:`portsift.training.scale.write_scores`).
    """

    where = " on Dask"
    counts_lanes = False

    def __init__(self) -> None:
        self.client: Any = None
        self.memory: Any = None

    @contextlib.contextmanager
    def session(self, args: argparse.Namespace) -> Iterator[None]:
        """Start or join the cluster for the block."""
        with engine_session(args) as client:
            self.client = client
            try:
                yield
            finally:
                self.client = None

    def read(self, args: argparse.Namespace) -> Any:
        """Read and validate the declarations on the workers (one partition per part)."""
        return read_inputs(args, require_labels=False, client=self.client)

    def summary(self) -> list[str]:
        """The client's and the workers' peak memory."""
        return self.memory.lines() if self.memory is not None else []

    def score(
        self,
        args: argparse.Namespace,
        bundle: Any,
        inputs: Any,
        *,
        rate: float,
        revenue_weight: float,
        policy: SelectionPolicy,
    ) -> Any:
        """Score and decide the declarations of ``inputs`` on the cluster."""
        scored = score_dask(
            bundle,
            inputs.declarations.frame,
            inputs.registers,
            self.client,
            rate=rate,
            revenue_weight=revenue_weight,
            policy=policy,
            lang=args.lang,
            explain_rows=explain_mode(args),
            explain_ids=explain_ids(args),
        )
        self.memory = peak_memory(self.client)
        return scored

    def write(self, output: Any, path: str) -> None:
        """Write the decisions as :func:`portsift.training.scale.write_scores` does."""
        write_scores(output, path)


def run_score_dask(args: argparse.Namespace) -> int:
    """``portsift score --engine dask``: the same decisions, computed on a Dask cluster.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    return run_score(args, DaskScoring())
