"""Synthetic customs declarations of a Hainan free-trade-port customs district.

The generator draws a whole small world: importers and brokers with GACC Order 282
credit tiers and tier histories, a tariff catalogue of a few hundred HS6 lines, third
party lab reports (采信), the true violation state of every declaration, a historic
targeting rule that decided which rows were inspected, and the labels those
inspections revealed. Fraud leaves partial traces only (unit value, weight per unit,
lab reports, importer and broker history), some 30% of the violations (false origin,
compliance breaches) leave none in the declared fields, honest prices are dispersed,
firms' propensities drift over time, and the labelled rows are a biased sample, so
that a risk model finds real but imperfect signal.

Everything is drawn from one ``np.random.default_rng(seed)`` in a fixed order, with
array operations only (the loops run over a few hundred catalogue entries, never over
rows), so one seed always gives the same frames. This module runs the stages in that
order; each stage is a module of its own:

* :mod:`~portsift.synthetic.period`: the calendar of the period;
* :mod:`~portsift.synthetic.catalogue`: product lines, HS codes, reference prices;
* :mod:`~portsift.synthetic.parties`: importers, brokers, labs and credit tiers;
* :mod:`~portsift.synthetic.trade`: the rows and their true goods;
* :mod:`~portsift.synthetic.identities`: sellers, couriers and identity-driven fraud;
* :mod:`~portsift.synthetic.lab_reports`: third-party lab reports;
* :mod:`~portsift.synthetic.fraud`: violations, fraud kinds, declared fields, revenue;
* :mod:`~portsift.synthetic.inspection`: the historic targeting rule;
* :mod:`~portsift.synthetic.drift`: the late fraud ring every stage reads;
* :mod:`~portsift.synthetic.tables`: the contract tables and the truth;
* :mod:`~portsift.synthetic.measures`: voluntary disclosures and advance rulings, drawn
  last from streams of their own;
* :mod:`~portsift.synthetic.duty_free`: with ``duty_free_share``, the offshore duty-free
  operators' food and cosmetics under trade mode 1741, from a stream of its own;
* :mod:`~portsift.synthetic.layouts`: canonical CSV, BACUDA and ``schema.toml`` output.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from portsift.features.contract import DECLARATION_FIELDS, field_names
from portsift.features.writing import write_text_atomic
from portsift.synthetic.catalogue import build_catalogue
from portsift.synthetic.draws import numbered_ids, permuted_ids
from portsift.synthetic.drift import DRIFT_PERIOD_SHARE, DRIFT_ROW_SHARE
from portsift.synthetic.duty_free import with_duty_free
from portsift.synthetic.fraud import (
    Declared,
    assess_revenue,
    base_propensity,
    declare,
    draw_violations,
)
from portsift.synthetic.identities import (
    FRAUD_MODES,
    IDENTITY_BASE_WEIGHT,
    IDENTITY_COLUMNS,
    IDENTITY_STREAM,
    PATTERNS,
    draw_identities,
)
from portsift.synthetic.inspection import inspect
from portsift.synthetic.lab_reports import draw_reports
from portsift.synthetic.layouts import for_csv, schema_text, write_csv
from portsift.synthetic.measures import disclosure_frame, ruling_frame
from portsift.synthetic.parties import (
    broker_count,
    build_brokers,
    build_importers,
    build_labs,
    importer_count,
    ring_importer_count,
)
from portsift.synthetic.period import day_cdf, parse_start
from portsift.synthetic.tables import (
    commodity_frame,
    declaration_frame,
    enterprise_frame,
    lab_frame,
    truth_frame,
)
from portsift.synthetic.trade import Rows, draw_goods, draw_rows

_OUTPUT_TABLES: Final = (
    "declarations",
    "enterprises",
    "lab_results",
    "commodities",
    "disclosures",
    "rulings",
)


@dataclass(frozen=True)
class SyntheticData:
    """One synthetic world, as the input tables of the contract.

    Attributes:
        declarations: All canonical declaration columns, one row per goods item, in
            date order (``D00000001`` is the earliest).
        enterprises: The credit register: ``enterprise_id, credit_tier, tier_since``;
            several rows per enterprise form its tier history.
        lab_results: Third-party lab reports: ``declaration_id, lab_id,
            lab_accredited, lab_result, issued_at``.
        commodities: The commodity catalogue: ``hs_prefix, acceptance_listed,
            perishable``.
        disclosures: Voluntary disclosures (measure 22): ``disclosure_id,
            enterprise_id, declaration_id, disclosed_at, kind, minor``.
        rulings: Advance rulings (measure 12): ``ruling_id, enterprise_id, hs_code,
            kind, valid_from, valid_to``.
    """

    declarations: pd.DataFrame
    enterprises: pd.DataFrame
    lab_results: pd.DataFrame
    commodities: pd.DataFrame
    disclosures: pd.DataFrame | None = None
    rulings: pd.DataFrame | None = None


def generate_synthetic(
    rows: int = 100_000,
    seed: int = 0,
    start: str = "2024-01-01",
    days: int = 730,
    fraud: str = "default",
    duty_free_share: float = 0.0,
) -> SyntheticData:
    """Generate a synthetic Hainan customs district: declarations and reference tables.

    Args:
        rows: Number of declarations.
        seed: Seed of ``np.random.default_rng``; the same seed gives identical frames.
        start: First day of the period (any date ``pandas.Timestamp`` parses).
        days: Length of the period in days.
        fraud: ``"default"``, or ``"identity"`` for a world whose fraud is driven by
            recurring parties and their combinations (importer x broker, importer x
            HS6, broker x origin, seller x HS6): the declarations then also carry
            ``seller_id`` and ``courier_id`` (:data:`IDENTITY_COLUMNS`), which a model
            reads as schema-file categorical features (see :func:`write_synthetic`).
            The default mode's output does not depend on this mode's existence.
        duty_free_share: Share of the food and cosmetics importers that are offshore
            duty-free operators, whose general-trade declarations of those goods are
            declared as duty-free goods (1741, :mod:`portsift.synthetic.duty_free`);
            0 (the default) leaves every table as it was without this option.

    Returns:
        The declarations, the enterprise credit register, the lab reports and the
        commodity catalogue, with the columns and types of the contract.

    Raises:
        ValueError: If ``rows`` or ``days`` is not a positive integer, ``start`` is
            not a date, ``fraud`` is not a mode of :data:`FRAUD_MODES` or
            ``duty_free_share`` is not in [0, 1].
    """
    data, _ = generate_synthetic_with_truth(rows, seed, start, days, fraud, duty_free_share)
    return data


def generate_synthetic_with_truth(
    rows: int = 100_000,
    seed: int = 0,
    start: str = "2024-01-01",
    days: int = 730,
    fraud: str = "default",
    duty_free_share: float = 0.0,
) -> tuple[SyntheticData, pd.DataFrame]:
    """Generate the tables of :func:`generate_synthetic` and the hidden truth behind them.

    The tables are identical to :func:`generate_synthetic`'s for the same arguments.
    The truth (one row per declaration, in the same order) is what no customs office
    knows: ``violation`` and ``revenue`` of every row (inspected or not),
    ``drift_ring`` (the row belongs to the late fraud ring), ``random_inspection``
    (the historic random share drew it), ``fraud_kind``, ``credit_tier`` in force and
    the true goods. Simulations of the selection loop replay against it.

    Args:
        rows: Number of declarations.
        seed: Seed of ``np.random.default_rng``.
        start: First day of the period.
        days: Length of the period in days.
        fraud: The fraud mode (see :func:`generate_synthetic`); ``"identity"`` adds the
            truth's ``identity_pattern``.
        duty_free_share: Share of offshore duty-free operators (see
            :func:`generate_synthetic`).

    Returns:
        ``(tables, truth)``: the truth has per declaration (in the same order)
        ``violation``, ``fraud_kind``, ``true_hs_code``, ``drift_ring``,
        ``random_inspection``, ``credit_tier`` (in force on the date), ``evaded`` (the
        revenue at stake before the assessment noise), ``revenue`` (what an inspection
        would raise, for every row: the ``revenue`` label of the inspected ones), and
        the true goods: ``true_value`` (CIF; samples are declared at 0),
        ``true_quantity``, ``true_net_weight``, ``true_gross_weight``; with
        ``fraud="identity"`` also ``identity_pattern`` (the identity pattern the row
        falls under, or empty).

    Raises:
        ValueError: If ``rows`` or ``days`` is not a positive integer, ``start`` is
            not a date, ``fraud`` is unknown or ``duty_free_share`` is not in [0, 1].
    """
    if isinstance(rows, bool) or not isinstance(rows, int | np.integer) or rows < 1:
        raise ValueError(f"rows: must be a positive integer, got {rows!r}")
    if isinstance(days, bool) or not isinstance(days, int | np.integer) or days < 1:
        raise ValueError(f"days: must be a positive integer, got {days!r}")
    if fraud not in FRAUD_MODES:
        raise ValueError(f"fraud: must be one of {', '.join(FRAUD_MODES)}, got {fraud!r}")
    if not 0.0 <= duty_free_share <= 1.0:
        raise ValueError(f"duty_free_share: must be in [0, 1], got {duty_free_share!r}")
    rows, days = int(rows), int(days)
    start_day = parse_start(start)
    rng = np.random.default_rng(seed)

    cdf = day_cdf(start_day, days)
    drift_start = min(round(days * (1.0 - DRIFT_PERIOD_SHARE)), days - 1)
    n_ring = round(rows * DRIFT_ROW_SHARE)
    n_base = rows - n_ring

    # The world, then the trade in it, then fraud and inspection, in this fixed order:
    # every stage draws from the one stream, so reordering them changes every output.
    catalogue = build_catalogue(rng)
    brokers = build_brokers(rng, broker_count(rows))
    labs = build_labs(rng, days)
    importers = build_importers(
        rng,
        importer_count(rows),
        ring_importer_count(rows),
        cdf,
        brokers,
        labs,
        catalogue,
        drift_start,
    )
    table = draw_rows(rng, catalogue, importers, brokers, cdf, n_base, n_ring)
    goods = draw_goods(rng, catalogue, importers, table)
    identities = None
    if fraud == "identity":
        # A second stream of the seed, so that the default mode's draws stay untouched.
        stream = np.random.default_rng([seed, IDENTITY_STREAM])
        identities = draw_identities(stream, catalogue, importers, brokers, table)
        table = replace(table, broker=identities.broker)
    propensity = base_propensity(catalogue, importers, brokers, table, days)
    reports = draw_reports(rng, catalogue, importers, labs, table, propensity)
    logit = propensity + reports.effect
    if identities is not None:
        logit = IDENTITY_BASE_WEIGHT * logit + identities.effect
    violation = draw_violations(rng, logit, table)
    del propensity, logit
    declared = declare(rng, catalogue, table, goods, violation)
    true_goods = np.column_stack([goods.cif, goods.quantity, goods.net, goods.gross])
    del goods
    inspected, random_pick = inspect(rng, catalogue, importers, table, declared)
    revenue = assess_revenue(rng, violation, declared.evaded)

    # Date order, ties broken at random; ids are numbered in that order.
    order = np.lexsort((rng.random(rows), table.day))
    table = Rows(*(getattr(table, f)[order] for f in Rows.__dataclass_fields__))
    declared = Declared(*(getattr(declared, f)[order] for f in Declared.__dataclass_fields__))
    ids = numbered_ids("D", np.arange(1, rows + 1), 8)
    importer_ids = permuted_ids(rng, "IMP", importers.weight.shape[0], 5)
    broker_ids = permuted_ids(rng, "BRK", brokers.weight.shape[0], 4)
    lab_ids = permuted_ids(rng, "LAB", labs.kind.shape[0], 2)

    declarations = declaration_frame(
        start_day,
        catalogue,
        table,
        declared,
        inspected[order],
        violation[order],
        revenue[order],
        importer_ids,
        broker_ids,
        ids,
    )
    if identities is not None:
        declarations["seller_id"] = identities.seller_ids[identities.seller[order]]
        declarations["courier_id"] = identities.courier_ids[identities.courier[order]]
        declarations = declarations.astype({name: "str" for name in IDENTITY_COLUMNS})
    # From a stream of its own, after the world: only the trade mode of some rows moves.
    declarations = with_duty_free(declarations, seed, duty_free_share)
    data = SyntheticData(
        declarations=declarations,
        enterprises=enterprise_frame(start_day, importers, brokers, importer_ids, broker_ids),
        lab_results=lab_frame(start_day, reports, order, ids, lab_ids),
        commodities=commodity_frame(),
    )
    truth = truth_frame(
        catalogue,
        importers,
        table,
        declared,
        ids,
        violation[order],
        random_pick[order],
        revenue[order],
        true_goods[order],
    )
    if identities is not None:
        truth["identity_pattern"] = np.asarray(PATTERNS)[identities.pattern[order]]
    # Drawn last, from streams of their own: the tables above stay what they were.
    data = replace(
        data,
        disclosures=disclosure_frame(seed, declarations, truth),
        rulings=ruling_frame(seed, declarations, truth),
    )
    return data, truth


def write_synthetic(data: SyntheticData, out_dir: str | Path) -> dict[str, Path]:
    """Write the tables as CSV files into ``out_dir``.

    Writes ``declarations.csv``, ``enterprises.csv``, ``lab_results.csv``,
    ``commodities.csv``, ``disclosures.csv`` and ``rulings.csv`` (the last two when the
    data has them) into ``out_dir`` (created if missing), each atomically: write to
    a temp file in the same directory, then ``os.replace``; on error the temp file is
    removed. Declarations with columns beyond the contract (``fraud="identity"``) also
    get ``schema.toml`` (:func:`schema_text`), the ``--schema`` that reads them.

    Args:
        data: The tables to write.
        out_dir: Output directory.

    Returns:
        Table name (``declarations``, ``enterprises``, ``lab_results``,
        ``commodities``, ``disclosures``, ``rulings``, and ``schema`` when written) to
        the path written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name in _OUTPUT_TABLES:
        if getattr(data, name) is None:
            continue
        path = out / f"{name}.csv"
        write_csv(for_csv(getattr(data, name)), path)
        paths[name] = path
    if set(data.declarations.columns) - set(field_names(DECLARATION_FIELDS)):
        paths["schema"] = out / "schema.toml"
        write_text_atomic(schema_text(data.declarations), paths["schema"])
    return paths
