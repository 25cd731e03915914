"""The fraud mechanisms: who violates, which fraud each violation is, what it declares.

The propensity to violate adds up the importer, broker, goods, origin and history
effects; the violations are calibrated to the target rate; each violation's kind
(undervaluation, misclassification, quantity, false origin, compliance breach) shapes
the declared fields and the revenue at stake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from portsift.synthetic.catalogue import Catalogue
from portsift.synthetic.codes import BONDED_ECOM, DIRECT_ECOM, SAMPLES
from portsift.synthetic.draws import intercept_for_rate, sigmoid
from portsift.synthetic.drift import DRIFT_UNDERVALUATION_RANGE, DRIFT_VIOLATION_RATE
from portsift.synthetic.parties import Brokers, Importers
from portsift.synthetic.trade import Goods, Rows

# True violation propensity (log-odds): the share of violating rows the calibration aims
# at, and the row-level shifts on top of the importer's and broker's own effects.
_TARGET_VIOLATION_RATE: Final = 0.05
_NEW_IMPORTER_BOOST: Final = 1.2  # decays with the importer's age in days
_NEW_IMPORTER_DECAY_DAYS: Final = 150.0
_TRANSHIPMENT_SHIFT: Final = 0.4  # origin laundering through a hub

# Fraud kinds. Valuation frauds: undervaluation, misclassification to a lower-duty code,
# quantity under-declaration. Misclassification needs a lower-duty code in the same
# chapter and quantity fraud a quantity of at least two; otherwise the row is
# undervalued instead. Traceless kinds leave every declared field as the true goods
# are: origin fraud (a false preferential-origin certificate; the declared origin is the
# one claimed) and compliance breaches (IPR infringement, labelling, missing or false
# certificates). Their revenue is modest: the part of the duty the preference waived
# (so origin fraud needs a dutiable line, otherwise the breach is a compliance one), or
# a fine of 1-5% of the value. Bulk cargo is surveyed and sampled at discharge: its
# violations are shaved prices and weights, never traceless ones. Cross-border
# e-commerce has its own tax regime (no origin preference to claim) and carries much of
# the counterfeit and mislabelled goods: a share of its violations are compliance ones.
KINDS: Final = ("", "undervaluation", "misclassification", "quantity", "origin", "compliance")
_UNDERVALUATION, _MISCLASSIFICATION, _QUANTITY, _ORIGIN, _COMPLIANCE = 1, 2, 3, 4, 5
_TRACELESS_KINDS: Final = (_ORIGIN, _COMPLIANCE)
# Drawn shares; after the fallbacks and the drift ring about 48% of violations are
# undervaluation, 9% misclassification, 13% quantity, 9% origin and 21% compliance.
_KIND_WEIGHTS: Final = (0.4, 0.16, 0.16, 0.14, 0.14)
_UNDERVALUATION_RANGE: Final = (0.2, 0.7)
_MILD_UNDERVALUATION_SHARE: Final = 0.3  # shaved prices, lost in the honest spread
_MILD_UNDERVALUATION_RANGE: Final = (0.5, 0.9)
_QUANTITY_RANGE: Final = (0.3, 0.7)
_MILD_QUANTITY_SHARE: Final = 0.3
_MILD_QUANTITY_RANGE: Final = (0.6, 0.9)
# Bulk cargo is priced off exchange quotes and weighed by draft survey: its fraud shaves
# a few per cent, never half a tanker.
_BULK_FRAUD_RANGE: Final = (0.85, 0.97)
_NET_WEIGHT_ADJUSTED_SHARE: Final = 0.5  # careful fraudsters also scale the net weight
_GROSS_WEIGHT_ADJUSTED_SHARE: Final = 0.15  # ... and the most careful the gross weight too
_ORIGIN_DUTY_WAIVED: Final = (0.2, 0.6)  # share of the duty the false preference waives
_COMPLIANCE_FINE: Final = (0.01, 0.05)  # share of the value
_ECOM_COMPLIANCE_SHARE: Final = 0.35
_REVENUE_NOISE: Final = 0.2  # lognormal sigma of what an assessment raises


@dataclass(frozen=True)
class Declared:
    """The declared fields and the revenue at stake (evaded duty and tax, or a fine)."""

    code: np.ndarray
    quantity: np.ndarray
    net: np.ndarray
    gross: np.ndarray
    fob: np.ndarray
    cif: np.ndarray
    kind: np.ndarray
    evaded: np.ndarray


def base_propensity(
    catalogue: Catalogue, importers: Importers, brokers: Brokers, rows: Rows, days: int
) -> np.ndarray:
    """Log-odds of violating before lab reports, up to a common intercept.

    Args:
        catalogue: The tariff catalogue.
        importers: The importers.
        brokers: The brokers.
        rows: The rows.
        days: Length of the period in days.

    Returns:
        Log-odds per row.
    """
    entry = importers.entry[rows.importer]
    phase = rows.day / max(days - 1, 1) - 0.5
    age = (rows.day - entry).astype(float)
    new_importer = np.where(
        entry >= 0, _NEW_IMPORTER_BOOST * np.exp(-age / _NEW_IMPORTER_DECAY_DAYS), 0.0
    )
    return (
        importers.effect[rows.importer]
        + importers.drift[rows.importer] * phase
        + brokers.effect[rows.broker]
        + catalogue.risk[rows.code]
        + catalogue.interaction[rows.family, rows.origin]
        + new_importer
        + _TRANSHIPMENT_SHIFT * (rows.departure != rows.origin)
    )


def draw_violations(rng: np.random.Generator, logit: np.ndarray, rows: Rows) -> np.ndarray:
    """True violation state; the overall rate is calibrated to the target.

    Args:
        rng: The world's random stream.
        logit: Log-odds of violating per row, up to the intercept.
        rows: The rows (drift-ring rows violate at their own rate, samples never).

    Returns:
        True violation state per row.
    """
    n = logit.shape[0]
    eligible = ~rows.ring & (rows.trade != SAMPLES)
    expected_ring = DRIFT_VIOLATION_RATE * rows.ring.sum()
    target = np.clip(
        (_TARGET_VIOLATION_RATE * n - expected_ring) / max(eligible.sum(), 1), 1e-4, 0.5
    )
    intercept = intercept_for_rate(logit[eligible], float(target))
    p = np.where(rows.ring, DRIFT_VIOLATION_RATE, sigmoid(logit + intercept))
    return (rng.random(n) < p) & (rows.trade != SAMPLES)


def declare(
    rng: np.random.Generator,
    catalogue: Catalogue,
    rows: Rows,
    goods: Goods,
    violation: np.ndarray,
) -> Declared:
    """Apply each violation's fraud to the declared fields; compute the revenue at stake.

    The revenue at stake is the evaded duty and VAT of the valuation frauds and of origin
    fraud, and the fine of a compliance breach.

    Args:
        rng: The world's random stream.
        catalogue: The tariff catalogue.
        rows: The rows.
        goods: The true goods.
        violation: True violation state per row.

    Returns:
        The declared fields, the fraud kind and the revenue at stake per row.
    """
    n = violation.shape[0]
    code = rows.code
    kind = np.where(
        violation, 1 + rng.choice(len(_KIND_WEIGHTS), n, p=np.asarray(_KIND_WEIGHTS)), 0
    )
    kind = np.where(rows.ring & violation, _UNDERVALUATION, kind)
    kind = np.where(
        (kind == _MISCLASSIFICATION) & (catalogue.lower_count[code] == 0), _UNDERVALUATION, kind
    )
    kind = np.where((kind == _ORIGIN) & (catalogue.rate[code] == 0), _COMPLIANCE, kind)
    bulk = catalogue.family_bulk[rows.family]
    kind = np.where(bulk & np.isin(kind, _TRACELESS_KINDS), _UNDERVALUATION, kind)
    ecom = ((rows.trade == BONDED_ECOM) | (rows.trade == DIRECT_ECOM)) & ~rows.ring
    kind = np.where(ecom & (kind == _ORIGIN), _COMPLIANCE, kind)
    kind = np.where(ecom & violation & (rng.random(n) < _ECOM_COMPLIANCE_SHARE), _COMPLIANCE, kind)

    lower_pos = catalogue.lower_start[code] + np.floor(
        rng.random(n) * catalogue.lower_count[code]
    ).astype(np.int64)
    declared_code = np.where(kind == _MISCLASSIFICATION, catalogue.lower_order[lower_pos], code)

    shrink = np.select(
        [bulk, rng.random(n) < _MILD_QUANTITY_SHARE],
        [rng.uniform(*_BULK_FRAUD_RANGE, n), rng.uniform(*_MILD_QUANTITY_RANGE, n)],
        default=rng.uniform(*_QUANTITY_RANGE, n),
    )
    per_kg = catalogue.per_kg[code]
    shrunk = np.where(
        per_kg,
        np.maximum(np.round(goods.quantity * shrink, 1), 0.1),
        np.maximum(np.rint(goods.quantity * shrink), 1.0),
    )
    kind = np.where((kind == _QUANTITY) & (shrunk >= goods.quantity), _UNDERVALUATION, kind)
    quantity = np.where(kind == _QUANTITY, shrunk, goods.quantity)
    quantity_factor = quantity / goods.quantity

    value_factor = np.select(
        [rows.ring, bulk, rng.random(n) < _MILD_UNDERVALUATION_SHARE],
        [
            rng.uniform(*DRIFT_UNDERVALUATION_RANGE, n),
            rng.uniform(*_BULK_FRAUD_RANGE, n),
            rng.uniform(*_MILD_UNDERVALUATION_RANGE, n),
        ],
        default=rng.uniform(*_UNDERVALUATION_RANGE, n),
    )
    scale = np.select(
        [kind == _UNDERVALUATION, kind == _QUANTITY], [value_factor, quantity_factor], default=1.0
    )
    samples = rows.trade == SAMPLES
    fob = np.where(samples, 0.0, np.round(goods.fob * scale, 2))
    cif = np.where(samples, 0.0, np.round(goods.cif * scale, 2))
    adjust_gross = (kind == _QUANTITY) & (rng.random(n) < _GROSS_WEIGHT_ADJUSTED_SHARE)
    adjust_net = (kind == _QUANTITY) & (adjust_gross | (rng.random(n) < _NET_WEIGHT_ADJUSTED_SHARE))
    gross = np.where(
        adjust_gross, np.maximum(np.round(goods.gross * quantity_factor, 2), 0.01), goods.gross
    )
    net = np.where(
        adjust_net, np.maximum(np.round(goods.net * quantity_factor, 2), 0.01), goods.net
    )
    net = np.minimum(net, gross)

    true_duty = goods.cif * catalogue.rate[code] / 100.0
    declared_duty = cif * catalogue.rate[declared_code] / 100.0
    vat = catalogue.vat[code] / 100.0
    evaded_duty = true_duty - declared_duty
    evaded_vat = vat * ((goods.cif + true_duty) - (cif + declared_duty))
    # Traceless kinds: the duty the false preference waived (and the VAT on it), a fine.
    dodged = true_duty * rng.uniform(*_ORIGIN_DUTY_WAIVED, n) * (1.0 + vat)
    fine = goods.cif * rng.uniform(*_COMPLIANCE_FINE, n)
    at_stake = np.select(
        [kind == _ORIGIN, kind == _COMPLIANCE], [dodged, fine], default=evaded_duty + evaded_vat
    )
    evaded = np.where(violation, np.maximum(at_stake, 0.0), 0.0)
    return Declared(
        code=declared_code,
        quantity=quantity,
        net=net,
        gross=gross,
        fob=fob,
        cif=cif,
        kind=kind,
        evaded=evaded,
    )


def assess_revenue(
    rng: np.random.Generator, violation: np.ndarray, evaded: np.ndarray
) -> np.ndarray:
    """What an inspection of each row would raise: the revenue at stake, assessed with noise.

    Args:
        rng: The world's random stream.
        violation: True violation state per row.
        evaded: Revenue at stake per row (:attr:`Declared.evaded`).

    Returns:
        Revenue per row: positive (at least 0.01) for violations, 0 otherwise.
    """
    noise = np.exp(rng.normal(0.0, _REVENUE_NOISE, violation.shape[0]))
    return np.where(violation, np.maximum(np.round(evaded * noise, 2), 0.01), 0.0)
