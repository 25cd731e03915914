"""Identity-driven fraud (``fraud="identity"``): sellers, couriers and their patterns.

Fraud follows recurring parties and their combinations: collusive importer and broker
pairs, an importer's fraud line, a broker's laundered origin, counterfeit seller lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from portsift.synthetic.catalogue import Catalogue
from portsift.synthetic.draws import choose_by_group, permuted_ids
from portsift.synthetic.parties import REFERENCE_ROWS, Brokers, Importers
from portsift.synthetic.trade import Rows

# Identity-driven fraud (``fraud="identity"``), after the public benchmarks of customs
# declarations keyed by importer, declarant, seller and courier: fraud follows recurring
# parties and their combinations, and most parties recur only a few times. On top of the
# default world (whose propensity is damped), every declaration names an overseas seller
# and a courier, and violations concentrate on
#   * importers that lodge part of their trade through a complicit broker: the pair, not
#     the importer nor the broker alone, is fraudulent with high probability;
#   * importers that misdeclare one HS6 line of their product line;
#   * brokers that launder one origin;
#   * sellers whose goods of one HS6 line are counterfeit; bad sellers and couriers.
# These draws come from a second random stream of the seed, so that the default mode's
# draws, and its output, are exactly those of a world without identities.
FRAUD_MODES: Final = ("default", "identity")
IDENTITY_COLUMNS: Final = ("seller_id", "courier_id")
IDENTITY_STREAM: Final = 1
IDENTITY_BASE_WEIGHT: Final = 0.5  # the default world's log-odds, damped
_SELLERS_PER_ROW: Final = 0.12  # distinct sellers per declaration: most are seen rarely
_SELLER_VOLUME_SIGMA: Final = 1.5
_SELLER_SLOTS: Final = 4  # each importer's regular suppliers
_REGULAR_SELLER_SHARE: Final = 0.6  # the rest are one-off purchases from any seller
_COURIERS_AT_REFERENCE: Final = 60
_COURIER_VOLUME_SIGMA: Final = 1.0
_PREFERRED_COURIER_SHARE: Final = 0.8
_COLLUSIVE_IMPORTER_SHARE: Final = 0.1
_COLLUSIVE_ROW_SHARE: Final = 0.3  # of a collusive importer's rows, lodged by its accomplice
_FRAUD_LINE_IMPORTER_SHARE: Final = 0.1
_LAUNDERING_BROKER_SHARE: Final = 0.25
_COUNTERFEIT_LINE_SHARE: Final = 0.04  # of the (seller, HS6 line) combinations
_BAD_SELLER_SHARE: Final = 0.05
_BAD_COURIER_SHARE: Final = 0.1
# Log-odds shifts: a pattern makes a declaration fraudulent with high probability.
_COLLUSION_EFFECT: Final = 5.0
_FRAUD_LINE_EFFECT: Final = 4.5
_LAUNDERING_EFFECT: Final = 4.0
_COUNTERFEIT_EFFECT: Final = 4.5
_BAD_SELLER_EFFECT: Final = 1.5
_BAD_COURIER_EFFECT: Final = 1.0
#: The truth's ``identity_pattern`` of a row (the first of these patterns it falls under).
PATTERNS: Final = ("", "importer_declarant", "importer_hs6", "declarant_origin", "seller_hs6")


@dataclass(frozen=True)
class _Identities:
    """The parties of ``fraud="identity"`` and the fraud they drive, per row."""

    broker: np.ndarray  # the broker of each row, accomplices included
    seller: np.ndarray
    courier: np.ndarray
    effect: np.ndarray  # log-odds shift of the violation propensity
    pattern: np.ndarray  # index into PATTERNS
    seller_ids: np.ndarray
    courier_ids: np.ndarray


def _first_per_group(group: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """The first of ``values`` per group in the given order (-1 for an empty group)."""
    first = np.full(n_groups, -1, dtype=np.int64)
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.r_[True, group[order][1:] != group[order][:-1]])
    if order.size:
        first[group[order][starts]] = values[order][starts]
    return first


def draw_identities(
    rng: np.random.Generator,
    catalogue: Catalogue,
    importers: Importers,
    brokers: Brokers,
    rows: Rows,
) -> _Identities:
    """Sellers, couriers, accomplice brokers and the identity patterns of every row.

    Args:
        rng: The identity stream of the seed (not the world's stream).
        catalogue: The tariff catalogue.
        importers: The importers.
        brokers: The brokers.
        rows: The rows.

    Returns:
        The parties per row, the log-odds shift they add, and their ids.
    """
    n = rows.code.shape[0]
    n_imp = importers.weight.shape[0]
    n_brokers = brokers.weight.shape[0]
    n_sellers = max(20, round(n * _SELLERS_PER_ROW))
    n_couriers = max(5, round(_COURIERS_AT_REFERENCE * (n / REFERENCE_ROWS) ** 0.5))
    importer = rows.importer

    # Sellers: a few regular suppliers per importer, the rest one-off purchases from a
    # heavy-tailed market, so that most sellers appear a handful of times.
    seller_w = np.exp(rng.normal(0.0, _SELLER_VOLUME_SIGMA, n_sellers))
    seller_p = seller_w / seller_w.sum()
    slots = rng.choice(n_sellers, (n_imp, _SELLER_SLOTS), p=seller_p)
    regular = rng.random(n) < _REGULAR_SELLER_SHARE
    slot = rng.integers(0, _SELLER_SLOTS, n)
    seller = np.where(regular, slots[importer, slot], rng.choice(n_sellers, n, p=seller_p))
    courier_w = np.exp(rng.normal(0.0, _COURIER_VOLUME_SIGMA, n_couriers))
    courier_p = courier_w / courier_w.sum()
    preferred = rng.choice(n_couriers, n_imp, p=courier_p)
    courier = np.where(
        rng.random(n) < _PREFERRED_COURIER_SHARE,
        preferred[importer],
        rng.choice(n_couriers, n, p=courier_p),
    )

    # Collusion: some importers lodge part of their trade through an accomplice broker
    # (never their usual one, so that the pair is not the importer under another name).
    ring_firm = np.arange(n_imp) >= n_imp - importers.ring
    collusive = (rng.random(n_imp) < _COLLUSIVE_IMPORTER_SHARE) & ~ring_firm
    accomplice = rng.choice(n_brokers, n_imp, p=brokers.weight / brokers.weight.sum())
    accomplice = np.where(
        accomplice == importers.primary_broker, (accomplice + 1) % n_brokers, accomplice
    )
    via = collusive[importer] & (rng.random(n) < _COLLUSIVE_ROW_SHARE) & ~rows.ring
    broker = np.where(via, accomplice[importer], rows.broker)
    collusion = collusive[importer] & (broker == accomplice[importer])

    # A fraud line: one HS6 line of the importer's product line, misdeclared.
    has_line = (rng.random(n_imp) < _FRAUD_LINE_IMPORTER_SHARE) & ~ring_firm
    line = catalogue.family_start[importers.main_family] + choose_by_group(
        rng, importers.main_family, catalogue.code_prob
    )
    fraud_line = has_line[importer] & (rows.code == line[importer])

    # Laundering: a broker's one origin (that of a random declaration it lodged).
    shuffled = rng.permutation(n)
    laundered = _first_per_group(broker[shuffled], rows.origin[shuffled], n_brokers)
    launders = rng.random(n_brokers) < _LAUNDERING_BROKER_SHARE
    laundering = launders[broker] & (rows.origin == laundered[broker]) & ~rows.ring

    # Counterfeits: some (seller, HS6 line) combinations; bad sellers and couriers.
    combos, combo = np.unique(seller * catalogue.codes.shape[0] + rows.code, return_inverse=True)
    counterfeit = (rng.random(combos.shape[0]) < _COUNTERFEIT_LINE_SHARE)[combo] & ~rows.ring
    bad_seller = rng.random(n_sellers) < _BAD_SELLER_SHARE
    bad_courier = rng.random(n_couriers) < _BAD_COURIER_SHARE

    patterns = (collusion, fraud_line, laundering, counterfeit)
    effects = (_COLLUSION_EFFECT, _FRAUD_LINE_EFFECT, _LAUNDERING_EFFECT, _COUNTERFEIT_EFFECT)
    effect = sum(e * p for e, p in zip(effects, patterns, strict=True))
    effect = effect + _BAD_SELLER_EFFECT * bad_seller[seller]
    effect = effect + _BAD_COURIER_EFFECT * bad_courier[courier]
    return _Identities(
        broker=broker,
        seller=seller,
        courier=courier,
        effect=np.asarray(effect, dtype=float),
        pattern=np.select(patterns, np.arange(1, len(PATTERNS)), 0),
        seller_ids=permuted_ids(rng, "SEL", n_sellers, 6),
        courier_ids=permuted_ids(rng, "CUR", n_couriers, 3),
    )
