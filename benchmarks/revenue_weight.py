"""Trade-off of the selection priority between hits and revenue.

The policy ranks declarations by ``risk x (revenue at stake) ^ w``. This script trains
the shipped model once on generated data (the same time split as ``portsift train``)
and prints hold-out Precision@5% and Revenue@5% for a range of ``w``, beside the price
and importer-history baselines: the hold-out view of the trade-off that the ``blend``
objective settles on the validation slice at training (docs/policy.md).

    .venv/bin/python benchmarks/revenue_weight.py --rows 100000 --seed 7
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from portsift.features.pipeline import Registers
from portsift.models.budget import priority
from portsift.models.bundle import load_bundle
from portsift.models.scoring import score_declarations
from portsift.settings import load_settings
from portsift.synthetic.generator import generate_synthetic
from portsift.training.metrics import at_percent
from portsift.training.train import split_by_time, train

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--percent", type=float, default=5.0)
    args = parser.parse_args()
    settings = load_settings()
    data = generate_synthetic(rows=args.rows, seed=args.seed)
    registers = Registers(data.enterprises, data.lab_results, data.commodities)
    ordered = data.declarations.sort_values("declared_at", kind="stable")
    holdout = split_by_time(ordered, settings.training.holdout_fraction)[1]
    with tempfile.TemporaryDirectory() as scratch:
        train(ordered, registers, settings, scratch, track=False)
        bundle = load_bundle(scratch)
        scored = score_declarations(bundle, holdout, registers, rate=0.05, explain_rows=False)
    features = scored.features
    labelled = (features["inspected"] == 1).to_numpy() & features["illicit"].notna().to_numpy()
    y = features["illicit"].to_numpy(dtype="float64")[labelled]
    revenue = features["revenue"].fillna(0.0).to_numpy(dtype="float64")[labelled]
    risk = scored.decisions["risk_score"].to_numpy()[labelled]
    expected = scored.decisions["expected_revenue"].to_numpy()[labelled]
    amount = expected / np.maximum(risk, 1e-300)
    print(f"rows {args.rows}, seed {args.seed}, labelled hold-out rows {labelled.sum()}")
    print(f"| ranking | P@{args.percent:g}% | Rev@{args.percent:g}% |")
    print("|---|---|---|")
    for weight in WEIGHTS:
        result = at_percent(priority(risk, amount, weight), y, revenue, args.percent)
        print(f"| risk x stake^{weight:g} | {result['precision']:.3f} | {result['revenue']:.3f} |")
    for name, scores in (
        ("price", features["declared_value"].to_numpy(dtype="float64")[labelled]),
        ("importer_history", features["importer_violation_rate"].to_numpy()[labelled]),
    ):
        result = at_percent(scores, y, revenue, args.percent)
        print(f"| {name} | {result['precision']:.3f} | {result['revenue']:.3f} |")


if __name__ == "__main__":
    main()
