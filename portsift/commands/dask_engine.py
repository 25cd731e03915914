"""``portsift train`` and ``portsift score`` with ``--engine dask``, on a Dask cluster."""

from __future__ import annotations

import argparse
from typing import Any

from portsift.commands.helpers import CliError, notify
from portsift.commands.progress import Progress
from portsift.commands.score_impl import run_score
from portsift.commands.steps import (
    explain_ids,
    explain_mode,
    read_inputs,
    report_trained,
    run_settings,
    set_aside,
)
from portsift.models.policy import SelectionPolicy
from portsift.training.scale import (
    ClusterConfig,
    dask_client,
    partitioned,
    score_dask,
    train_dask,
    write_scores,
)


def cluster_config(args: argparse.Namespace) -> Any:
    """The Dask cluster of ``--scheduler`` and ``--dask-workers``.

    Args:
        args: The parsed command line.

    Returns:
        The ``ClusterConfig`` to start or join.

    Raises:
        CliError: ``--dask-workers`` is below 1.
    """
    if args.dask_workers < 1:
        raise CliError(f"--dask-workers must be at least 1, got {args.dask_workers}")
    return ClusterConfig(scheduler=args.scheduler, n_workers=args.dask_workers)


def run_train_dask(args: argparse.Namespace) -> int:
    """``portsift train --engine dask``: the same bundle, trained on a Dask cluster.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    if getattr(args, "feedback_from", None):
        raise CliError("--feedback-from is not supported with --engine dask")
    settings = run_settings(args)
    stages = ["reading input", "features and models", "hold-out evaluation", "bundle"]
    with Progress(stages, args.quiet) as progress:
        progress.stage("reading input")
        inputs = read_inputs(args)
        set_aside(args, inputs, args.model_dir)
        declarations = inputs.declarations
        with dask_client(cluster_config(args)) as client:
            try:
                result = train_dask(
                    partitioned(declarations.frame, client=client),
                    inputs.registers,
                    settings,
                    args.model_dir,
                    client,
                    extra_categorical=declarations.extra_categorical,
                    extra_numeric=declarations.extra_numeric,
                    stage=progress.stage,
                )
            except ValueError as exc:
                raise CliError(f"{args.declarations}: {exc}") from exc
    for note in result.notes:
        notify(args, note)
    report_trained(args, result, settings)
    return 0


class DaskScoring:
    """Scoring on a Dask cluster (:func:`portsift.training.scale.score_dask`).

    The client lives only while the batch is scored; the decisions are written as
    partitioned output (:func:`portsift.training.scale.write_scores`).
    """

    where = " on Dask"
    counts_lanes = False

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
        with dask_client(cluster_config(args)) as client:
            return score_dask(
                bundle,
                partitioned(inputs.declarations.frame, client=client),
                inputs.registers,
                client,
                rate=rate,
                revenue_weight=revenue_weight,
                policy=policy,
                lang=args.lang,
                explain_rows=explain_mode(args),
                explain_ids=explain_ids(args),
            )

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
