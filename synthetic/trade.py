"""The trade itself: who declares what, when, where and how, and the true goods.

Rows are drawn before any fraud: importer and day, broker, HS line, origin, departure
(direct or through a hub), trade mode, transport mode and office; then the true
quantity, weights and values of the goods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from portsift.synthetic.catalogue import Catalogue, heading_index
from portsift.synthetic.codes import (
    AIR,
    BONDED_ECOM,
    DIRECT_ECOM,
    HUBS,
    POST,
    PROCESSING,
    ROAD,
    SAMPLES,
    TOLLING,
    TRADE_MODES,
    WATERWAY,
)
from portsift.synthetic.draws import choose_by_group
from portsift.synthetic.drift import DRIFT_HS4, DRIFT_ORIGIN, DRIFT_TRADE_MODE
from portsift.synthetic.parties import Brokers, Importers
from portsift.synthetic.period import mass_before, sample_days

_MAIN_FAMILY_SHARE: Final = 0.8  # importers specialise in one product line
_PRIMARY_BROKER_SHARE: Final = 0.85

# Honest price and weight variation, wide enough that honest and fraudulent rows overlap.
_ROW_PRICE_SIGMA: Final = 0.4
_LOT_SIGMA: Final = 0.7
_LOT_CLIP: Final = 2.0  # in sigmas: no tanker or bulk carrier beyond a few times the median
_UNIT_WEIGHT_SIGMA: Final = 0.2
_PROCESSING_LOT_FACTOR: Final = 1.5
# E-commerce orders (1210, 9610) and samples are a few pieces: 1 + Poisson(mean).
_SMALL_LOT_EXTRA: Final = (0.8, 0.5, 2.0)
_INSURANCE_RATE: Final = 0.003
_FREIGHT_SIGMA: Final = 0.3
# Transport: samples mostly fly, direct e-commerce goes by air or post.
_SAMPLE_AIR_SHARE: Final = 0.6
_DIRECT_ECOM_AIR_SHARE: Final = 0.75
_FREIGHT_PER_KG: Final = (0.10, 0.05, 3.0, 5.0)  # USD; bulk waterway uses its own rate
_BULK_FREIGHT_PER_KG: Final = 0.02
# The share of each office (in the order of OFFICES) that each lodging profile takes.
_OFFICE_PROFILES: Final = (
    (0.00, 0.00, 0.00, 0.00, 0.00, 0.80, 0.20, 0.00, 0.00),  # air and post
    (0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.65, 0.35),  # road out of bonded zones
    (0.10, 0.55, 0.30, 0.00, 0.05, 0.00, 0.00, 0.00, 0.00),  # waterway bulk
    (0.55, 0.35, 0.03, 0.04, 0.03, 0.00, 0.00, 0.00, 0.00),  # waterway container
    (0.20, 0.30, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.50),  # waterway processing trade
)
_AIR_PROFILE, _ROAD_PROFILE, _BULK_PROFILE, _CONTAINER_PROFILE, _PROCESSING_PROFILE = range(5)
# Transhipment: most goods come straight from the origin, some via a regional hub.
_HUB_WEIGHTS: Final = (0.45, 0.25, 0.15, 0.15)
_TRANSHIPMENT_SHARE: Final = 0.06
_ECOM_TRANSHIPMENT_SHARE: Final = 0.15


@dataclass(frozen=True)
class Rows:
    """Who declares what, when, where and how (before any fraud)."""

    importer: np.ndarray
    broker: np.ndarray
    day: np.ndarray
    family: np.ndarray
    code: np.ndarray
    origin: np.ndarray
    departure: np.ndarray
    trade: np.ndarray
    transport: np.ndarray
    office: np.ndarray
    ring: np.ndarray  # bool


@dataclass(frozen=True)
class Goods:
    """The true goods of each row."""

    quantity: np.ndarray
    net: np.ndarray
    gross: np.ndarray
    fob: np.ndarray
    cif: np.ndarray


def _transport_and_office(
    rng: np.random.Generator, catalogue: Catalogue, family: np.ndarray, trade: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Transport mode from the trade mode and the goods, office from the transport mode."""
    n = family.shape[0]
    air_share = np.where(
        trade == SAMPLES,
        np.maximum(catalogue.family_air[family], _SAMPLE_AIR_SHARE),
        catalogue.family_air[family],
    )
    u = rng.random(n)
    transport = np.where(u < air_share, AIR, WATERWAY)
    transport = np.where(trade == BONDED_ECOM, ROAD, transport)
    transport = np.where(
        trade == DIRECT_ECOM, np.where(u < _DIRECT_ECOM_AIR_SHARE, AIR, POST), transport
    )
    bulk = catalogue.family_bulk[family]
    processing = (trade == PROCESSING) | (trade == TOLLING)
    profile = np.select(
        [
            (transport == AIR) | (transport == POST),
            transport == ROAD,
            processing,
            bulk,
        ],
        [_AIR_PROFILE, _ROAD_PROFILE, _PROCESSING_PROFILE, _BULK_PROFILE],
        default=_CONTAINER_PROFILE,
    )
    office = choose_by_group(rng, profile, np.asarray(_OFFICE_PROFILES))
    return transport, office


def _departure(
    rng: np.random.Generator, catalogue: Catalogue, origin: np.ndarray, trade: np.ndarray
) -> np.ndarray:
    """Departure country: the origin, or a regional hub for transhipped goods."""
    n = origin.shape[0]
    ecom = (trade == BONDED_ECOM) | (trade == DIRECT_ECOM)
    share = np.where(ecom, _ECOM_TRANSHIPMENT_SHARE, _TRANSHIPMENT_SHARE)
    hub_index = np.searchsorted(catalogue.countries, np.array(HUBS))
    hub = hub_index[rng.choice(len(HUBS), n, p=np.asarray(_HUB_WEIGHTS))]
    return np.where(rng.random(n) < share, hub, origin)


def draw_rows(
    rng: np.random.Generator,
    catalogue: Catalogue,
    importers: Importers,
    brokers: Brokers,
    cdf: np.ndarray,
    n_base: int,
    n_ring: int,
) -> Rows:
    """Draw importer, day, broker, goods, origin, trade mode and office of every row.

    Args:
        rng: The world's random stream.
        catalogue: The tariff catalogue.
        importers: The importers and their habits.
        brokers: The brokers.
        cdf: Cumulative day shares of the period.
        n_base: Number of rows outside the drift ring.
        n_ring: Number of drift-ring rows (drawn last).

    Returns:
        The rows, in drawing order (not yet in date order).
    """
    n_imp = importers.weight.shape[0] - importers.ring
    mass = 1.0 - mass_before(cdf, importers.entry)
    intensity = importers.weight * mass
    base_p = intensity[:n_imp] / intensity[:n_imp].sum()
    importer = rng.choice(n_imp, n_base, p=base_p)
    if n_ring:
        ring_p = intensity[n_imp:] / intensity[n_imp:].sum()
        importer = np.concatenate([importer, n_imp + rng.choice(importers.ring, n_ring, p=ring_p)])
    n = n_base + n_ring
    ring = np.arange(n) >= n_base
    day = sample_days(rng, cdf, importers.entry[importer])

    broker_p = brokers.weight / brokers.weight.sum()
    other_broker = rng.choice(brokers.weight.shape[0], n, p=broker_p)
    broker = np.where(
        rng.random(n) < _PRIMARY_BROKER_SHARE, importers.primary_broker[importer], other_broker
    )
    broker = np.where(ring, brokers.ring, broker)

    family_p = catalogue.family_share / catalogue.family_share.sum()
    other_family = rng.choice(family_p.shape[0], n, p=family_p)
    family = np.where(
        rng.random(n) < _MAIN_FAMILY_SHARE, importers.main_family[importer], other_family
    )
    drift_family = heading_index(DRIFT_HS4)
    family = np.where(ring, drift_family, family)
    code = catalogue.family_start[family] + choose_by_group(rng, family, catalogue.code_prob)

    origin = choose_by_group(rng, family, catalogue.origin_prob)
    drift_origin = int(np.searchsorted(catalogue.countries, DRIFT_ORIGIN))
    origin = np.where(ring, drift_origin, origin)
    trade = choose_by_group(rng, family, catalogue.trade_prob)
    trade = np.where(ring, TRADE_MODES.index(DRIFT_TRADE_MODE), trade)
    departure = _departure(rng, catalogue, origin, trade)
    departure = np.where(ring, origin, departure)
    transport, office = _transport_and_office(rng, catalogue, family, trade)
    return Rows(
        importer, broker, day, family, code, origin, departure, trade, transport, office, ring
    )


def draw_goods(
    rng: np.random.Generator, catalogue: Catalogue, importers: Importers, rows: Rows
) -> Goods:
    """True quantity, weights and values of every row.

    Args:
        rng: The world's random stream.
        catalogue: The tariff catalogue.
        importers: The importers, for price levels and lot sizes.
        rows: The rows.

    Returns:
        The true goods per row.
    """
    n = rows.code.shape[0]
    code = rows.code
    per_kg = catalogue.per_kg[code]
    lot = catalogue.family_lot[rows.family] * importers.lot_scale[rows.importer]
    lot = lot * np.exp(_LOT_SIGMA * np.clip(rng.normal(0.0, 1.0, n), -_LOT_CLIP, _LOT_CLIP))
    lot = np.where(
        (rows.trade == PROCESSING) | (rows.trade == TOLLING), lot * _PROCESSING_LOT_FACTOR, lot
    )
    small = np.select(
        [rows.trade == BONDED_ECOM, rows.trade == DIRECT_ECOM, rows.trade == SAMPLES],
        [1 + rng.poisson(lam, n) for lam in _SMALL_LOT_EXTRA],
        default=0,
    )
    quantity = np.where(small > 0, small, lot)
    quantity = np.where(
        per_kg,
        np.where(quantity < 100, np.maximum(np.round(quantity, 1), 0.1), np.round(quantity)),
        np.maximum(np.rint(quantity), 1.0),
    )
    net = np.where(
        per_kg,
        quantity,
        quantity * catalogue.kg_per_unit[code] * np.exp(rng.normal(0.0, _UNIT_WEIGHT_SIGMA, n)),
    )
    bulk = catalogue.family_bulk[rows.family]
    packing = np.select(
        [bulk, per_kg],
        [rng.uniform(0.0, 0.005, n), rng.uniform(0.03, 0.12, n)],
        default=rng.uniform(0.05, 0.3, n),
    )
    gross = np.maximum(np.round(net * (1.0 + packing), 2), 0.01)
    net = np.minimum(np.maximum(np.round(net, 2), 0.01), gross)
    unit_value = (
        catalogue.ref_price[code]
        * np.exp(rng.normal(0.0, _ROW_PRICE_SIGMA, n))
        * importers.price_level[rows.importer]
        * catalogue.origin_price[code, rows.origin]
    )
    fob = np.round(unit_value * quantity, 2)
    freight_rate = np.where(
        bulk & (rows.transport == WATERWAY),
        _BULK_FREIGHT_PER_KG,
        np.asarray(_FREIGHT_PER_KG)[rows.transport],
    )
    freight = np.round(gross * freight_rate * np.exp(rng.normal(0.0, _FREIGHT_SIGMA, n)), 2)
    cif = fob + freight + np.round(_INSURANCE_RATE * fob, 2)
    return Goods(quantity=quantity, net=net, gross=gross, fob=fob, cif=np.round(cif, 2))
