"""``portsift score`` with the pandas engine: score declarations and select under the budget."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

import pandas as pd

from portsift.commands.helpers import notify, say
from portsift.commands.progress import Progress
from portsift.commands.steps import (
    check_schema_matches,
    explain_ids,
    explain_mode,
    inspection_rate,
    load_model_bundle,
    ranking_revenue_weight,
    read_inputs,
    run_settings,
    set_aside,
)
from portsift.features.writing import write_table_atomic
from portsift.models.policy import MEASURE_COLUMNS, SelectionPolicy
from portsift.models.release import RELEASE_COLUMN
from portsift.models.remote_inspection import REMOTE_LANE
from portsift.models.scoring import POLICY_OUTPUT_COLUMNS, SCORE_COLUMNS, score_declarations


class ScoringEngine(Protocol):
    """What ``portsift score`` needs from an engine: read, score a batch, write the decisions.

    The pandas engine below and the Dask engine (:mod:`portsift.commands.dask_engine`)
    differ only in these steps and in how the summary names them.
    """

    #: Said after the model in the summary ("" or " on Dask").
    where: str
    #: Whether the summary counts the lanes.
    counts_lanes: bool

    def session(self, args: argparse.Namespace) -> contextlib.AbstractContextManager[None]:
        """The block in which the engine reads and scores (a Dask client lives in it)."""
        ...

    def read(self, args: argparse.Namespace) -> Any:
        """Read the unlabelled inputs (:func:`portsift.commands.steps.read_inputs`)."""
        ...

    def summary(self) -> list[str]:
        """Lines said after the scoring summary (the Dask engine's memory)."""
        ...

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
        """Score and decide the declarations of ``inputs``."""
        ...

    def write(self, output: pd.DataFrame, path: str) -> None:
        """Write the decisions to ``--out``."""
        ...


class PandasScoring:
    """Scoring in this process (:func:`portsift.models.scoring.score_declarations`)."""

    where = ""
    counts_lanes = True

    @contextlib.contextmanager
    def session(self, args: argparse.Namespace) -> Iterator[None]:
        """Nothing to start: pandas scores in this process."""
        yield

    def read(self, args: argparse.Namespace) -> Any:
        """Read the inputs in this process (parts concatenated)."""
        return read_inputs(args, require_labels=False)

    def summary(self) -> list[str]:
        """Nothing more to say."""
        return []

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
        """Score and decide the declarations of ``inputs`` with pandas."""
        return score_declarations(
            bundle,
            inputs.declarations.frame,
            inputs.registers,
            rate=rate,
            revenue_weight=revenue_weight,
            policy=policy,
            lang=args.lang,
            explain_rows=explain_mode(args),
            explain_ids=explain_ids(args),
        )

    def write(self, output: pd.DataFrame, path: str) -> None:
        """Write the decisions as one file, atomically."""
        write_table_atomic(output, path)


def run_score(args: argparse.Namespace, engine: ScoringEngine | None = None) -> int:
    """``portsift score``: score declarations and select under the budget.

    Args:
        args: The parsed command line.
        engine: How to score and write (default: pandas, in this process).

    Returns:
        The exit status.
    """
    engine = engine or PandasScoring()
    settings = run_settings(args)
    rate = inspection_rate(args, settings)
    policy = SelectionPolicy(settings.selection, rate=rate)
    stages = ["loading model", "reading input", "scoring", "writing"]
    with Progress(stages, args.quiet) as progress, engine.session(args):
        progress.stage("loading model")
        bundle = load_model_bundle(args.model_dir)
        progress.stage("reading input")
        inputs = engine.read(args)
        check_schema_matches(bundle, inputs.declarations, args.declarations)
        progress.stage("scoring")
        weight = ranking_revenue_weight(settings, bundle)
        scored = engine.score(args, bundle, inputs, rate=rate, revenue_weight=weight, policy=policy)
        progress.stage("writing")
        # The contract's columns first, then the policy's deadlines and flags, then the
        # columns of measures 22 and 12 when their registers are given.
        measures = [c for c in MEASURE_COLUMNS if c in scored.decisions]
        output = scored.decisions[[*SCORE_COLUMNS, *POLICY_OUTPUT_COLUMNS, *measures]]
        engine.write(output, args.out)
        set_aside(args, inputs, args.out)
    selected = int(output["selected"].sum())
    lanes = f"; lanes {output['lane'].value_counts().to_dict()}" if engine.counts_lanes else ""
    say(
        args,
        f"scored {len(output):,} declarations with model {bundle.model_version}{engine.where}: "
        f"{selected:,} selected ({selected / max(len(output), 1):.1%}){lanes}; "
        f"written to {args.out}",
    )
    for line in engine.summary():
        say(args, line)
    report_policy(args, scored, output, policy, weight)
    if engine.counts_lanes:
        report_measures(args, output)
    return 0


def report_measures(args: argparse.Namespace, output: pd.DataFrame) -> None:
    """What ``score`` says about measures 8 and 14: remote inspections, release conditions.

    Args:
        args: The parsed command line.
        output: The decisions written.
    """
    remote = int((output["lane"] == REMOTE_LANE).sum())
    if remote:
        say(
            args,
            f"{remote:,} of the selected by remote video inspection (measure 8, in the budget)",
        )
    conditions = output[RELEASE_COLUMN].value_counts().drop("", errors="ignore").to_dict()
    if conditions:
        say(args, f"release conditions (measure 14): {conditions}")


def report_policy(
    args: argparse.Namespace, scored: Any, output: Any, policy: Any, revenue_weight: float
) -> None:
    """What ``score`` says about the selection: reasons, objective, budget, rules.

    Args:
        args: The parsed command line.
        scored: The scoring result (its decisions and policy facts).
        output: The decisions written, in output column order.
        policy: The ``SelectionPolicy`` applied.
        revenue_weight: The ranking's revenue weight.
    """
    facts = scored.policy_facts
    if facts is not None:
        reasons = output["selection_reason"].value_counts().drop("", errors="ignore").to_dict()
        say(args, f"policy {policy.version}: selections by reason {reasons}")
        if facts.disclosed:
            say(
                args,
                f"{facts.disclosed:,} covered by a voluntary disclosure (measure 22): document "
                "review, outside the budget",
            )
        if facts.rule_hits > facts.budget:
            notify(
                args,
                f"officer rules select {facts.rule_hits:,}, more than the budget of "
                f"{facts.budget:,}: all rule hits are selected",
            )
        if facts.floor_excess > 0:
            notify(args, facts.floor_message())
        if not facts.constraints_met:
            notify(args, "the credit-tier rate rules cannot all be met in this batch")
    objective = policy.settings.objective
    say(args, f"ranking objective {objective}: priority = risk x stake^{revenue_weight:g}")
    if bool(scored.decisions["revenue_estimated"].iloc[0]) if len(output) else False:
        notify(args, "expected_revenue is an estimate (the model had no revenue label)")
