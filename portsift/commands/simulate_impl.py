"""``portsift simulate``: replay the selection feedback loop week by week."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from portsift.commands.helpers import CliError, notify, say
from portsift.commands.progress import Progress
from portsift.commands.steps import Inputs, read_inputs, run_settings, set_aside
from portsift.features import loading
from portsift.features.pipeline import Registers
from portsift.features.validation import format_rows, parse_flag, row_numbers
from portsift.synthetic.generator import generate_synthetic_with_truth
from portsift.training import simulation


def run_simulate(args: argparse.Namespace) -> int:
    """``portsift simulate``: replay the selection feedback loop week by week.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    settings = run_settings(args)
    strategies = None
    if args.strategies is not None:
        strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if args.synthetic is not None and args.synthetic < 1000:
        raise CliError(f"--synthetic must be at least 1000 rows, got {args.synthetic}")
    if args.synthetic is not None and (args.disclosures or args.rulings):
        raise CliError(
            "--disclosures and --rulings are read with --declarations; --synthetic replays "
            "the generated world without them"
        )
    source = args.declarations or f"synthetic data ({args.synthetic} rows)"
    with Progress(["reading input"], args.quiet) as progress:
        progress.stage("reading input")
        if args.synthetic is not None:
            # The generated world of `portsift generate --rows N --seed S`, with the
            # ground truth of every row that the written files cannot carry.
            data, truth = generate_synthetic_with_truth(
                rows=args.synthetic, seed=args.synthetic_seed
            )
            history = simulation.history_from_synthetic(data, truth)
            registers = Registers(data.enterprises, data.lab_results, data.commodities)
        else:
            inputs = read_inputs(args)
            # The loader calls the marker columns unused; simulate reads them itself.
            unused = f"{args.declarations}: columns not used: "
            markers = {"historic_inspected", "drift_ring"}
            notes = [
                n
                for n in inputs.notes
                if not (n.startswith(unused) and set(n[len(unused) :].split(", ")) <= markers)
            ]
            inputs = Inputs(inputs.declarations, inputs.registers, notes, inputs.rejected)
            set_aside(args, inputs, args.out)
            history = _simulation_history(args, inputs)
            registers = inputs.registers
    weeks = simulation.week_numbers(history.declarations["declared_at"])
    try:
        plan = simulation.SimulationPlan.build(
            settings,
            int(weeks.max()) + 1,
            rate=args.rate,
            weeks=args.weeks,
            warmup_weeks=args.warmup_weeks,
            retrain_every=args.retrain_every,
            strategies=strategies,
            seed=args.seed,
        )
    except simulation.SimulationError as exc:
        raise CliError(f"{source}: {exc}") from exc
    stages = [
        "warm-up model",
        *(
            f"week {j + 1}/{plan.weeks}: {name}"
            for j in range(plan.weeks)
            for name in plan.strategies
        ),
        "writing report",
    ]
    with Progress(stages, args.quiet) as progress:
        try:
            result = simulation.simulate(history, registers, settings, plan, stage=progress.stage)
        except simulation.SimulationError as exc:
            raise CliError(f"{source}: {exc}") from exc
        progress.stage("writing report")
        paths = simulation.write_report(result, args.out)
    for note in result.notes:
        notify(args, note)
    say(args, simulation.format_summary(result))
    say(
        args,
        f"replayed in {result.seconds:.0f} s; wrote "
        + ", ".join(str(path) for path in paths.values()),
    )
    return 0


def _simulation_history(args: argparse.Namespace, inputs: Inputs) -> Any:
    """The fully labelled history of ``simulate --declarations``, with its markers.

    The optional columns ``historic_inspected`` (the historic selection, the warm-up's
    labels) and ``drift_ring`` (fraud-ring membership) are read from the file as 0/1
    flags, on the rows the loader kept.
    """
    raw = loading.read_table(args.declarations)
    kept = np.ones(len(raw), dtype=bool)
    rejected = inputs.rejected
    if len(rejected):
        mine = rejected[rejected["source_file"] == str(args.declarations)]
        kept[mine["row"].to_numpy(dtype="int64") - 1] = False
    markers: dict[str, Any] = {}
    for column in ("historic_inspected", "drift_ring"):
        if column not in raw:
            continue
        parsed = parse_flag(raw[column], required=True)
        bad = np.zeros(len(raw), dtype=bool)
        for _reason, mask in parsed.problems:
            bad |= mask
        bad &= kept
        if bad.any():
            raise CliError(
                f"{args.declarations}: column '{column}' must be 0/1 on every row; "
                f"{format_rows(row_numbers(bad))} are not"
            )
        markers[column] = parsed.values.to_numpy()[kept] == 1
    try:
        return simulation.history_from_frame(
            inputs.declarations.frame,
            historic=markers.get("historic_inspected"),
            ring=markers.get("drift_ring"),
            source=str(args.declarations),
        )
    except simulation.SimulationError as exc:
        raise CliError(str(exc)) from exc
