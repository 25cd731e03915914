"""The contract tables of a world: declarations, the registers, and the hidden truth.

Turns the drawn arrays into the frames of the data contract: the declarations, the
enterprise credit register, the lab results, the commodity catalogue, and the truth per
declaration that only simulations see.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from portsift.features.contract import (
    COMMODITY_FIELDS,
    CREDIT_TIERS,
    DECLARATION_FIELDS,
    ENTERPRISE_FIELDS,
    LAB_RESULT_FIELDS,
    LAB_RESULTS,
    field_names,
)
from portsift.synthetic.catalogue import COMMODITY_CATALOGUE, Catalogue
from portsift.synthetic.codes import OFFICES, TRADE_MODES, TRANSPORT_MODES
from portsift.synthetic.fraud import KINDS, Declared
from portsift.synthetic.lab_reports import Reports
from portsift.synthetic.parties import NO_CHANGE, Brokers, Importers, tier_on_day
from portsift.synthetic.trade import Rows


def _dates(start_day: np.datetime64, offsets: np.ndarray) -> np.ndarray:
    return (start_day + offsets.astype("timedelta64[D]")).astype("datetime64[ns]")


def declaration_frame(
    start_day: np.datetime64,
    catalogue: Catalogue,
    rows: Rows,
    declared: Declared,
    inspected: np.ndarray,
    violation: np.ndarray,
    revenue: np.ndarray,
    importer_ids: np.ndarray,
    broker_ids: np.ndarray,
    ids: np.ndarray,
) -> pd.DataFrame:
    """The declarations table of the contract, in the (date) order of ``rows``.

    Args:
        start_day: First day of the period.
        catalogue: The tariff catalogue.
        rows: The rows, in date order.
        declared: The declared fields, in date order.
        inspected: Whether each row was inspected.
        violation: True violation state (the label of inspected rows).
        revenue: What an inspection raises (the label of inspected rows).
        importer_ids: Id of each importer.
        broker_ids: Id of each broker.
        ids: Declaration id of each row.

    Returns:
        The declarations, labels only on inspected rows.
    """
    rate = catalogue.rate[declared.code]
    illicit = np.where(inspected, violation.astype(float), np.nan)
    columns = {
        "declaration_id": ids,
        "declared_at": _dates(start_day, rows.day),
        "importer_id": importer_ids[rows.importer],
        "hs_code": catalogue.codes[declared.code],
        "declared_value": declared.cif,
        "declarant_id": broker_ids[rows.broker],
        "origin_country": catalogue.countries[rows.origin],
        "departure_country": catalogue.countries[rows.departure],
        "customs_office": np.asarray(OFFICES)[rows.office],
        "quantity": declared.quantity,
        "gross_weight": declared.gross,
        "net_weight": declared.net,
        "fob_value": declared.fob,
        "total_taxes": np.round(declared.cif * rate / 100.0, 2),
        "tax_rate": rate,
        "trade_mode": np.asarray(TRADE_MODES)[rows.trade],
        "transport_mode": np.asarray(TRANSPORT_MODES)[rows.transport],
        "inspected": inspected.astype(np.int64),
        "illicit": illicit,
        "revenue": np.where(inspected, revenue, np.nan),
    }
    return pd.DataFrame({name: columns[name] for name in field_names(DECLARATION_FIELDS)})


def enterprise_frame(
    start_day: np.datetime64,
    importers: Importers,
    brokers: Brokers,
    importer_ids: np.ndarray,
    broker_ids: np.ndarray,
) -> pd.DataFrame:
    """The credit register: registered importers with their tier changes, and brokers.

    Args:
        start_day: First day of the period.
        importers: The importers and their tier histories.
        brokers: The brokers.
        importer_ids: Id of each importer.
        broker_ids: Id of each broker.

    Returns:
        ``enterprise_id, credit_tier, tier_since``, sorted by enterprise and date.
    """
    registered = np.flatnonzero(importers.registered)
    changed = registered[importers.tier1[registered] != NO_CHANGE]
    ids = np.concatenate([importer_ids[registered], importer_ids[changed], broker_ids])
    tiers = np.concatenate([importers.tier0[registered], importers.tier1[changed], brokers.tier])
    since = np.concatenate(
        [importers.since0[registered], importers.change_day[changed], brokers.since]
    )
    frame = pd.DataFrame(
        {
            "enterprise_id": ids,
            "credit_tier": np.asarray(CREDIT_TIERS)[tiers],
            "tier_since": _dates(start_day, since),
        }
    )
    frame = frame.sort_values(["enterprise_id", "tier_since"], kind="stable").reset_index(drop=True)
    return frame[field_names(ENTERPRISE_FIELDS)]


def lab_frame(
    start_day: np.datetime64,
    reports: Reports,
    order: np.ndarray,
    ids: np.ndarray,
    lab_ids: np.ndarray,
) -> pd.DataFrame:
    """The lab results table: one row per declaration with a report, in ``order``.

    Args:
        start_day: First day of the period.
        reports: The reports per row, in drawing order.
        order: Date order of the rows.
        ids: Declaration id of each row, in date order.
        lab_ids: Id of each lab.

    Returns:
        The lab results of the rows that carry a report.
    """
    has = reports.has_report[order]
    position = np.flatnonzero(has)
    source = order[position]
    frame = pd.DataFrame(
        {
            "declaration_id": ids[position],
            "lab_id": lab_ids[reports.lab[source]],
            "lab_accredited": reports.accredited[source].astype(np.int64),
            "lab_result": np.where(reports.passed[source], LAB_RESULTS[0], LAB_RESULTS[1]),
            "issued_at": _dates(start_day, reports.issued_day[source]),
        }
    )
    return frame[field_names(LAB_RESULT_FIELDS)]


def commodity_frame() -> pd.DataFrame:
    """The commodity catalogue table: ``hs_prefix, acceptance_listed, perishable``."""
    frame = pd.DataFrame(list(COMMODITY_CATALOGUE), columns=field_names(COMMODITY_FIELDS))
    frame["hs_prefix"] = frame["hs_prefix"].astype("str")
    return frame.astype({"acceptance_listed": np.int64, "perishable": np.int64})


def truth_frame(
    catalogue: Catalogue,
    importers: Importers,
    rows: Rows,
    declared: Declared,
    ids: np.ndarray,
    violation: np.ndarray,
    random_pick: np.ndarray,
    revenue: np.ndarray,
    true_goods: np.ndarray,
) -> pd.DataFrame:
    """The hidden truth per declaration, which no customs office knows.

    Every argument is in the order of the declarations table.

    Args:
        catalogue: The tariff catalogue.
        importers: The importers, for the tier in force on each row's day.
        rows: The rows.
        declared: The declared fields, the fraud kind and the revenue at stake.
        ids: Declaration ids.
        violation: True violation state.
        random_pick: Rows the historic random share selected.
        revenue: What an inspection would raise.
        true_goods: Columns CIF value, quantity, net weight, gross weight of the true goods.

    Returns:
        ``declaration_id, violation, fraud_kind, true_hs_code, drift_ring,
        random_inspection, credit_tier, evaded, revenue, true_value, true_quantity,
        true_net_weight, true_gross_weight``.
    """
    return pd.DataFrame(
        {
            "declaration_id": ids,
            "violation": violation,
            "fraud_kind": np.asarray(KINDS)[declared.kind],
            "true_hs_code": catalogue.codes[rows.code],
            "drift_ring": rows.ring,
            "random_inspection": random_pick,
            "credit_tier": np.asarray(CREDIT_TIERS)[
                tier_on_day(importers, rows.importer, rows.day)
            ],
            "evaded": declared.evaded,
            "revenue": revenue,
            **{
                f"true_{name}": true_goods[:, i]
                for i, name in enumerate(("value", "quantity", "net_weight", "gross_weight"))
            },
        }
    )
