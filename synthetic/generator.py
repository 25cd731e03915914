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
rows), so one seed always gives the same frames.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from portsift.features.contract import (
    BACUDA_COLUMNS,
    BACUDA_DATE_FORMAT,
    COMMODITY_FIELDS,
    CREDIT_TIERS,
    DECLARATION_FIELDS,
    ENTERPRISE_FIELDS,
    LAB_RESULT_FIELDS,
    LAB_RESULTS,
    field_names,
)

# --------------------------------------------------------------------------------------
# Public result
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticData:
    """One synthetic world, as the four input tables of the contract.

    Attributes:
        declarations: All canonical declaration columns, one row per goods item, in
            date order (``D00000001`` is the earliest).
        enterprises: The credit register: ``enterprise_id, credit_tier, tier_since``;
            several rows per enterprise form its tier history.
        lab_results: Third-party lab reports: ``declaration_id, lab_id,
            lab_accredited, lab_result, issued_at``.
        commodities: The commodity catalogue: ``hs_prefix, acceptance_listed,
            perishable``.
    """

    declarations: pd.DataFrame
    enterprises: pd.DataFrame
    lab_results: pd.DataFrame
    commodities: pd.DataFrame


# --------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------

_ADVANCED, _CERTIFIED, _REGULAR, _DISHONEST, _SERIOUSLY = range(len(CREDIT_TIERS))
_NO_CHANGE: Final = -1
_NEVER: Final = np.iinfo(np.int64).max  # change day of an enterprise whose tier never changes

# Sizes. Firm counts grow sub-linearly with trade: more trade mostly means bigger
# firms trading more, not proportionally more firms.
_REFERENCE_ROWS: Final = 100_000
_IMPORTERS_AT_REFERENCE: Final = 3_000
_IMPORTER_EXPONENT: Final = 0.6
_BROKERS_AT_REFERENCE: Final = 300
_BROKER_EXPONENT: Final = 0.5
_MIN_IMPORTERS: Final = 20
_MIN_BROKERS: Final = 5

# Calendar. Customs works Monday to Friday with reduced weekend service; trade grows
# over the period (the free-trade port opened fully in 2025) and stops for the Spring
# Festival week.
_WEEKDAY_WEIGHTS: Final = (1.15, 1.10, 1.10, 1.05, 1.10, 0.35, 0.15)  # Monday first
_GROWTH_OVER_PERIOD: Final = 0.35
_SPRING_FESTIVAL: Final = (
    "2018-02-16", "2019-02-05", "2020-01-25", "2021-02-12", "2022-02-01", "2023-01-22",
    "2024-02-10", "2025-01-29", "2026-02-17", "2027-02-06", "2028-01-26", "2029-02-13",
    "2030-02-03",
)  # fmt: skip
_SPRING_FESTIVAL_DAYS: Final = 7
_SPRING_FESTIVAL_FACTOR: Final = 0.35

# Importers. Declaration volume is heavy-tailed (a lognormal with a large sigma), and
# the few AEO firms are among the biggest, so ~1% of firms lodge ~30% of declarations.
_IMPORTER_VOLUME_SIGMA: Final = 1.6
_ENTRANT_SHARE: Final = 0.30  # firms whose first declaration falls inside the period
_AEO_FIRM_SHARE: Final = 0.008  # at the start; upgrades during the period add ~0.25%
_ADVANCED_SHARE_OF_AEO: Final = 0.3
_AEO_POOL_TOP_SHARE: Final = 0.05  # AEO firms are drawn from the top 5% by volume
_AEO_DECLARATION_SHARE: Final = 0.28
_DISHONEST_FIRM_SHARE: Final = 0.02  # at the start; downgrades add ~0.7%
_SERIOUSLY_FIRM_SHARE: Final = 0.004
# Only firms that trade get caught and downgraded, so dishonest firms are drawn from
# the busier half of the non-AEO firms.
_DISHONEST_POOL_QUANTILE: Final = 0.5
_DOWNGRADE_SHARE: Final = 0.008
_DOWNGRADE_TO_SERIOUSLY: Final = 0.15
_UPGRADE_SHARE: Final = 0.0025
_RESTORED_SHARE_OF_DISHONEST: Final = 0.2  # credit restoration (信用修复) back to regular
_RESTORED_SHIFT_FACTOR: Final = 0.5  # restored firms are half reformed
_MIN_DAYS_FOR_CHANGES: Final = 200  # a tier change needs a record before and after it
_CHANGE_MARGIN_DAYS: Final = (60, 30)  # changes fall 60 days after entry, 30 before the end
_DOWNGRADE_EFFECT_WEIGHT: Final = 2.0  # downgrades hit the worst firms (p ~ exp(2 effect))
_UPGRADE_POOL_QUANTILE: Final = 0.9  # upgrades go to big, clean regular firms
_UNREGISTERED_SHARE_OF_SMALL: Final = 0.25  # small regular firms absent from the register
_MAIN_FAMILY_SHARE: Final = 0.8  # importers specialise in one product line
_PRIMARY_BROKER_SHARE: Final = 0.85
_BAD_ACTOR_SHARE: Final = 0.07
_BAD_ACTOR_THRESHOLD: Final = 1.2  # importer effect above which a firm behaves as a bad actor

# True violation propensity (log-odds). The tier shifts describe the nature of a firm;
# the tier is a consequence of behaviour, so downgraded firms carry the dishonest shift
# over the whole period, not only after the downgrade.
_TARGET_VIOLATION_RATE: Final = 0.05
_TIER_SHIFT: Final = (-1.7, -1.3, 0.0, 1.2, 1.6)
_IMPORTER_NOISE: Final = 0.55
_BAD_ACTOR_MEAN_BOOST: Final = 1.0
# Firms change: a firm's propensity drifts linearly over the period by N(0, sigma)
# log-odds from the first day to the last, so that old history predicts imperfectly.
_IMPORTER_DRIFT_SIGMA: Final = 0.8
_ENTRANT_SHIFT: Final = 0.3
_SIZE_RISK_SLOPE: Final = 0.1  # per sd of log volume: big firms have more to lose
_NEW_IMPORTER_BOOST: Final = 1.2  # decays with the importer's age in days
_NEW_IMPORTER_DECAY_DAYS: Final = 150.0
_BROKER_NOISE: Final = 0.4
_BROKER_VOLUME_SIGMA: Final = 1.2
_BROKER_TIER_SHARES: Final = (0.003, 0.01, 0.958, 0.025, 0.004)  # brokers are AEO less often
_BAD_BROKER_DISHONEST: Final = 0.25  # share of bad brokers already caught and downgraded
_BAD_ACTOR_BAD_BROKER: Final = 0.4  # bad actors seek out the brokers that look away
_AEO_EFFECT_CAP: Final = 0.5  # certification audits cap how bad an AEO firm can be
_BAD_BROKER_SHARE: Final = 0.06
_BAD_BROKER_BOOST: Final = 1.4
_CODE_RISK_NOISE: Final = 0.35
_INTERACTION_SHARE: Final = 0.12  # share of (product line, origin) pairs that are risky
_INTERACTION_RANGE: Final = (0.8, 1.8)
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
_KINDS: Final = ("", "undervaluation", "misclassification", "quantity", "origin", "compliance")
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
_REVENUE_NOISE: Final = 0.2

# Honest price and weight variation, wide enough that honest and fraudulent rows overlap.
_ROW_PRICE_SIGMA: Final = 0.4
_IMPORTER_PRICE_SIGMA: Final = 0.25
_ORIGIN_PRICE_SIGMA: Final = 0.15  # per tariff line and origin country
_LOT_SIGMA: Final = 0.7
_LOT_SIZE_SLOPE: Final = 0.2  # per sd of log volume: big firms ship bigger lots
_LOT_CLIP: Final = 2.0  # in sigmas: no tanker or bulk carrier beyond a few times the median
_UNIT_WEIGHT_SIGMA: Final = 0.2
_CODE_WEIGHT_SIGMA: Final = 0.25
_CODE_SHARE_SIGMA: Final = 0.8
_PROCESSING_LOT_FACTOR: Final = 1.5
# E-commerce orders (1210, 9610) and samples are a few pieces: 1 + Poisson(mean).
_SMALL_LOT_EXTRA: Final = (0.8, 0.5, 2.0)
_INSURANCE_RATE: Final = 0.003
_FREIGHT_SIGMA: Final = 0.3

# Trade modes (监管方式) and transport modes (运输方式) as China customs codes.
_TRADE_MODES: Final = ("0110", "1210", "9610", "0615", "0214", "3010")
_GENERAL, _BONDED_ECOM, _DIRECT_ECOM, _PROCESSING, _TOLLING, _SAMPLES = range(6)
_SAMPLE_SHARE: Final = 0.003  # free-of-charge samples (货样广告品), declared value 0
_BONDED_SHARE_OF_ECOM: Final = 0.65
_TOLLING_SHARE_OF_PROCESSING: Final = 0.2
_SAMPLE_AIR_SHARE: Final = 0.6
_DIRECT_ECOM_AIR_SHARE: Final = 0.75
_TRANSPORT_MODES: Final = ("2", "4", "5", "6")  # waterway, road, air, post
_WATERWAY, _ROAD, _AIR, _POST = range(4)
_FREIGHT_PER_KG: Final = (0.10, 0.05, 3.0, 5.0)  # USD; bulk waterway uses its own rate
_BULK_FREIGHT_PER_KG: Final = 0.02

# Offices of Haikou customs district and the share of each lodging profile they take.
_OFFICES: Final = (
    "HAIKOU_PORT", "YANGPU_PORT", "BASUO_PORT", "SANYA_PORT", "MACUN_PORT",
    "MEILAN_AIRPORT", "SANYA_AIRPORT", "HAIKOU_CBZ", "YANGPU_BONDED",
)  # fmt: skip
_OFFICE_PROFILES: Final = (
    (0.00, 0.00, 0.00, 0.00, 0.00, 0.80, 0.20, 0.00, 0.00),  # air and post
    (0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.65, 0.35),  # road out of bonded zones
    (0.10, 0.55, 0.30, 0.00, 0.05, 0.00, 0.00, 0.00, 0.00),  # waterway bulk
    (0.55, 0.35, 0.03, 0.04, 0.03, 0.00, 0.00, 0.00, 0.00),  # waterway container
    (0.20, 0.30, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.50),  # waterway processing trade
)
_AIR_PROFILE, _ROAD_PROFILE, _BULK_PROFILE, _CONTAINER_PROFILE, _PROCESSING_PROFILE = range(5)

# Transhipment: most goods come straight from the origin, some via a regional hub.
_HUBS: Final = ("HK", "SG", "KR", "MY")
_HUB_WEIGHTS: Final = (0.45, 0.25, 0.15, 0.15)
_TRANSHIPMENT_SHARE: Final = 0.06
_ECOM_TRANSHIPMENT_SHARE: Final = 0.15

# Third-party lab reports (采信). Eight accredited labs, two unaccredited but honest,
# two rubber-stamp labs whose passes say nothing; one accredited lab loses its
# accreditation during the period.
_LAB_KINDS: Final = (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2)
_ACCREDITED_LAB, _HONEST_LAB, _RUBBER_STAMP_LAB = 0, 1, 2
_LAB_REVOKED_AT: Final = 0.55  # share of the period after which the lab is delisted
_ACCREDITED_LAB_WEIGHT: Final = 6.0  # market share of an accredited lab vs. another lab
_LAB_WEIGHT_SIGMA: Final = 0.5
_REPORT_SHARE: Final = 0.88
_BAD_ACTOR_REPORT_DROP: Final = 0.25
_PREFERRED_LAB_SHARE: Final = 0.7
_BAD_ACTOR_RUBBER_STAMP: Final = 0.45
_EXPIRED_SHARE: Final = 0.045
_BAD_ACTOR_EXPIRED: Final = 0.12
_REPORT_AGE_MEDIAN_DAYS: Final = 20.0
_REPORT_VALID_DAYS: Final = 365
_FAIL_BASE: Final = 0.012
_FAIL_SLOPE: Final = 0.9
_FAIL_CAP: Final = 0.6
_UNRELIABLE_FAIL: Final = 0.002
_LAB_EFFECT_FAIL: Final = 2.5
_LAB_EFFECT_EXPIRED: Final = 0.3
_LAB_EFFECT_ACCREDITED_PASS: Final = -2.0
_LAB_EFFECT_HONEST_PASS: Final = -0.7
_LAB_EFFECT_DELISTED_PASS: Final = -0.3
_LAB_EFFECT_MISSING: Final = 0.5

# Historic targeting. Tier rates of the rule, before the uniform random share; the
# rule's multipliers move inspections towards its risky chapters, low unit values (as
# seen through an imperfect price database) and new importers within each tier.
_RULE_TIER_RATE: Final = (0.003, 0.035, 0.115, 0.49, 0.80)
_RANDOM_INSPECTION_SHARE: Final = 0.015
_RULE_CHAPTERS: Final = ("02", "03", "22", "33", "42", "61", "62", "71", "91")
_RULE_CHAPTER_BOOST: Final = 0.7
_RULE_LOW_VALUE_BOOST: Final = 1.2
_RULE_LOW_VALUE_RATIO: Final = 0.5
_RULE_PRICE_NOISE: Final = 0.5
_RULE_NEW_IMPORTER_BOOST: Final = 0.6
_RULE_NEW_IMPORTER_DAYS: Final = 90
_RULE_MAX_RATE: Final = 0.97

# Drift: in the last 22% of the period a ring of new importers, all through one broker,
# undervalues phones through bonded e-commerce from one origin. Phones never come from
# that origin before. The ring is small (1-2% of the late rows) so that it does not fill
# the top of every ranking of a late hold-out.
_DRIFT_PERIOD_SHARE: Final = 0.22
_DRIFT_ROW_SHARE: Final = 0.003
_DRIFT_IMPORTERS_AT_REFERENCE: Final = 8
_DRIFT_HS4: Final = "8517"
_DRIFT_ORIGIN: Final = "AE"
_DRIFT_TRADE_MODE: Final = "1210"
_DRIFT_VIOLATION_RATE: Final = 0.8
_DRIFT_UNDERVALUATION_RANGE: Final = (0.2, 0.5)
_DRIFT_ENTRY_DAYS: Final = 30  # ring members enter within a month of the drift start
_DRIFT_VOLUME_SIGMA: Final = 0.5
_DRIFT_REGISTERED_SHARE: Final = 0.5  # half the ring registered just before trading

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
_IDENTITY_STREAM: Final = 1
_IDENTITY_BASE_WEIGHT: Final = 0.5  # the default world's log-odds, damped
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
_PATTERNS: Final = ("", "importer_declarant", "importer_hs6", "declarant_origin", "seller_hs6")


@dataclass(frozen=True)
class _Family:
    """One product line (an HS heading) of the tariff catalogue.

    Attributes:
        hs4: Heading.
        codes: Number of HS6 lines drawn in the heading.
        price: Median reference price, USD per unit (per kg when ``per_kg``).
        spread: Lognormal sigma of the reference price across the heading's lines.
        per_kg: Whether the quantity is declared in kg.
        kg_per_unit: Typical net weight of one unit.
        rates: Duty rates (%) the heading's lines take.
        vat: Import VAT (%): 9 for farm products, 13 otherwise.
        risk: Log-odds shift of the true violation propensity.
        share: Relative share of declarations.
        lot: Median quantity of a general-trade declaration.
        air: Share shipped by air.
        ecom: Share declared as cross-border e-commerce (1210, 9610).
        processing: Share declared under processing trade (0615, 0214).
        bulk: Whether shipped as bulk cargo.
        origins: Origin countries with relative weights, ``"VN:5 TH:3"``.
    """

    hs4: str
    codes: int
    price: float
    spread: float
    per_kg: bool
    kg_per_unit: float
    rates: tuple[float, ...]
    vat: float
    risk: float
    share: float
    lot: float
    air: float = 0.0
    ecom: float = 0.0
    processing: float = 0.0
    bulk: bool = False
    origins: str = ""


_F = _Family
_KG, _UNIT = True, False
# Product lines of Hainan's import trade: frozen meat and aquatic products, tropical
# fruit from ASEAN, bulk cargo for Yangpu (crude, soybeans, palm oil, logs, cement),
# consumer goods for the offshore duty-free and cross-border e-commerce trade
# (cosmetics, luxury, wine, infant formula), medicines and devices for Boao Lecheng, and
# plastics, electronics and machinery for processing trade.
_FAMILIES: Final[tuple[_Family, ...]] = (
    _F("0202", 4, 5.5, 0.25, _KG, 1, (12,), 9, 0.6, 15, 20000, origins="BR:5 AR:3 AU:2 UY:2 NZ:1"),
    _F("0207", 4, 2.5, 0.3, _KG, 1, (10, 15, 20), 9, 0.7, 10, 25000, origins="BR:6 US:2 AR:1 RU:1"),
    _F("0302", 6, 6.0, 0.4, _KG, 1, (7, 10, 12), 9, 0.3, 12, 800, air=0.6,
       origins="NO:2 VN:2 TH:2 AU:1 ID:1 MY:1"),
    _F("0303", 8, 2.8, 0.4, _KG, 1, (5, 7, 10), 9, 0.3, 20, 15000,
       origins="RU:3 ID:2 VN:2 IN:2 NO:1 EC:1"),
    _F("0306", 8, 12.0, 0.6, _KG, 1, (5, 7, 10, 15), 9, 0.5, 18, 3000, air=0.25,
       origins="EC:4 VN:2 ID:2 IN:2 CA:1 AU:1 AR:1"),
    _F("0307", 6, 7.0, 0.5, _KG, 1, (10, 14), 9, 0.4, 8, 2000, air=0.2,
       origins="VN:3 PH:2 KR:2 JP:1"),
    _F("0714", 3, 0.3, 0.2, _KG, 1, (10,), 9, 0.0, 6, 30000, bulk=True, origins="VN:5 TH:4 LA:1"),
    _F("0803", 3, 0.6, 0.2, _KG, 1, (10,), 9, 0.1, 8, 18000, origins="PH:5 VN:3 KH:2 EC:1"),
    _F("0804", 4, 1.8, 0.3, _KG, 1, (15, 20), 9, 0.3, 6, 10000, origins="TH:3 VN:2 MY:1 PE:1 MX:1"),
    _F("0805", 4, 1.2, 0.3, _KG, 1, (11, 12), 9, 0.2, 6, 12000, origins="ZA:2 EG:2 US:1 AU:1"),
    _F("0810", 8, 4.5, 0.6, _KG, 1, (10, 20, 25, 30), 9, 0.5, 20, 12000, air=0.08,
       origins="TH:5 VN:4 CL:2 NZ:1 MY:1"),
    _F("0813", 3, 4.0, 0.3, _KG, 1, (20, 25), 9, 0.2, 4, 5000, origins="US:1 TR:1 IR:1 CL:1"),
    _F("1201", 2, 0.5, 0.1, _KG, 1, (3,), 9, -0.8, 6, 2_000_000, bulk=True,
       origins="BR:6 US:3 AR:1"),
    _F("1511", 3, 0.9, 0.15, _KG, 1, (9,), 9, -0.5, 10, 500_000, bulk=True, origins="ID:6 MY:5"),
    _F("1901", 5, 25.0, 0.4, _UNIT, 1.0, (10, 15), 13, 0.6, 20, 3000, ecom=0.45,
       origins="NZ:3 NL:2 DE:2 AU:2 FR:1 IE:1"),
    _F("2106", 6, 30.0, 0.6, _UNIT, 0.3, (12, 15, 20), 13, 0.8, 12, 2000, ecom=0.6,
       origins="US:3 AU:3 JP:2 DE:1 KR:1"),
    _F("2203", 3, 1.2, 0.3, _UNIT, 0.55, (0,), 13, 0.1, 6, 20000,
       origins="DE:3 BE:2 MX:1 NL:1 JP:1 TH:1"),
    _F("2204", 8, 9.0, 0.8, _UNIT, 1.35, (14, 20), 13, 0.7, 18, 3000, air=0.02, ecom=0.2,
       origins="FR:5 AU:3 CL:3 IT:2 ES:2 US:1 NZ:1"),
    _F("2208", 5, 25.0, 0.8, _UNIT, 1.4, (5, 10), 13, 0.8, 6, 1500, ecom=0.2,
       origins="GB:3 FR:3 US:1 JP:1 KR:1 MX:1"),
    _F("2517", 3, 0.02, 0.2, _KG, 1, (3,), 13, -0.4, 6, 2_000_000, bulk=True,
       origins="VN:3 MY:2 PH:1 ID:1"),
    _F("2523", 4, 0.055, 0.15, _KG, 1, (6, 8), 13, 0.2, 12, 800_000, bulk=True,
       origins="VN:7 TH:2 ID:1"),
    _F("2709", 2, 0.55, 0.1, _KG, 1, (0,), 13, -1.5, 4, 30_000_000, bulk=True,
       origins="SA:3 AO:2 RU:2 AE:2 BR:1 IQ:1 OM:1"),
    _F("3004", 8, 40.0, 1.0, _UNIT, 0.2, (0, 3, 4, 6), 13, -0.3, 10, 2000, air=0.6, ecom=0.1,
       origins="DE:3 CH:3 US:3 FR:2 GB:2 JP:1 IT:1"),
    _F("3303", 4, 45.0, 0.5, _UNIT, 0.3, (3,), 13, 0.8, 8, 1500, air=0.5, ecom=0.45,
       origins="FR:6 IT:2 ES:1 US:1"),
    _F("3304", 12, 28.0, 0.7, _UNIT, 0.2, (3, 5, 8, 10), 13, 1.0, 40, 4000, air=0.4, ecom=0.5,
       origins="KR:5 JP:4 FR:4 US:2 GB:1 TH:1 IT:1"),
    _F("3305", 4, 12.0, 0.5, _UNIT, 0.5, (6, 10), 13, 0.5, 10, 3000, ecom=0.45,
       origins="JP:3 KR:3 DE:1 FR:1 TH:1"),
    _F("3901", 6, 1.2, 0.2, _KG, 1, (6.5,), 13, -0.2, 25, 100_000, processing=0.3,
       origins="SA:3 KR:2 SG:2 US:1 AE:1 TH:1"),
    _F("3902", 4, 1.1, 0.2, _KG, 1, (6.5,), 13, -0.2, 15, 100_000, processing=0.3,
       origins="SA:2 KR:2 SG:2 TW:1 TH:1"),
    _F("3920", 10, 3.5, 0.5, _KG, 1, (6.5, 10), 13, 0.1, 15, 20000, processing=0.5,
       origins="KR:3 JP:3 TW:2 DE:1 TH:1"),
    _F("3923", 6, 2.5, 0.4, _KG, 1, (6.5, 10), 13, 0.1, 10, 15000, processing=0.3,
       origins="KR:2 JP:2 TH:2 VN:2 MY:1"),
    _F("3926", 10, 6.0, 0.6, _KG, 1, (6.5, 10, 14), 13, 0.3, 15, 5000, processing=0.2,
       origins="JP:3 KR:2 DE:2 VN:2 US:1 TW:1"),
    _F("4202", 8, 180.0, 1.0, _UNIT, 0.8, (6, 10), 13, 0.9, 10, 200, air=0.5, ecom=0.3,
       origins="IT:4 FR:4 VN:2 ES:1 US:1"),
    _F("4403", 4, 0.25, 0.2, _KG, 1, (0,), 13, -0.8, 8, 400_000, bulk=True,
       origins="NZ:3 PG:2 SB:2 RU:1 AU:1"),
    _F("4407", 6, 0.5, 0.3, _KG, 1, (0, 3), 13, -0.4, 8, 150_000, bulk=True,
       origins="RU:3 TH:2 MY:2 NZ:1 DE:1 US:1"),
    _F("6104", 8, 14.0, 0.5, _UNIT, 0.35, (8, 12, 16), 13, 0.6, 12, 3000, ecom=0.3,
       origins="VN:3 BD:3 KH:2 IT:1 TR:1 ID:1"),
    _F("6109", 6, 5.0, 0.4, _UNIT, 0.2, (8, 12, 14), 13, 0.6, 15, 5000, ecom=0.3,
       origins="VN:3 BD:3 KH:2 IN:1 TR:1"),
    _F("6110", 6, 12.0, 0.5, _UNIT, 0.45, (8, 10, 12, 14), 13, 0.5, 10, 3000, ecom=0.25,
       origins="VN:2 BD:2 IT:2 KH:1 MM:1"),
    _F("6117", 3, 3.0, 0.4, _UNIT, 0.1, (6, 8), 13, 0.2, 3, 5000, origins="VN:2 KR:1 JP:1 IT:1"),
    _F("6203", 8, 18.0, 0.5, _UNIT, 0.6, (8, 12, 16), 13, 0.6, 12, 2500, ecom=0.25,
       origins="VN:3 BD:3 KH:2 IT:1 MM:1 TR:1"),
    _F("6204", 8, 20.0, 0.5, _UNIT, 0.5, (8, 12, 16), 13, 0.6, 12, 2500, ecom=0.3,
       origins="VN:3 BD:2 KH:2 IT:2 FR:1"),
    _F("6205", 4, 9.0, 0.4, _UNIT, 0.3, (10, 14, 16), 13, 0.5, 6, 3000, ecom=0.25,
       origins="VN:3 BD:3 IN:1 KH:1"),
    _F("6907", 6, 0.45, 0.3, _KG, 1, (8, 10), 13, 0.4, 12, 25000,
       origins="VN:4 ES:2 IT:2 MY:1 IN:1"),
    _F("6911", 3, 2.5, 0.4, _KG, 1, (10, 15), 13, 0.2, 5, 6000, origins="TH:2 JP:1 DE:1 VN:1"),
    _F("7113", 5, 650.0, 0.9, _UNIT, 0.04, (10, 14), 13, 1.0, 6, 100, air=0.9, ecom=0.3,
       origins="IT:3 FR:2 CH:2 TH:2 IN:1 US:1"),
    _F("7117", 4, 8.0, 0.5, _UNIT, 0.04, (6, 8), 13, 0.3, 4, 2000, air=0.7, ecom=0.4,
       origins="KR:2 TH:2 IN:1 IT:1"),
    _F("8413", 6, 900.0, 1.0, _UNIT, 40, (5, 8, 10), 13, -0.1, 12, 20,
       origins="DE:3 JP:3 US:2 IT:2 KR:1"),
    _F("8418", 4, 450.0, 0.5, _UNIT, 60, (8, 10), 13, 0.2, 6, 60,
       origins="KR:2 TH:2 JP:1 DE:1 IT:1"),
    _F("8429", 4, 90000.0, 0.5, _UNIT, 20000, (5, 8), 13, 0.3, 3, 2,
       origins="JP:3 KR:2 US:2 DE:1 SE:1"),
    _F("8471", 8, 700.0, 0.7, _UNIT, 2.5, (0,), 13, 0.3, 20, 200, air=0.5, ecom=0.15,
       processing=0.1, origins="VN:3 TW:3 MY:2 US:1 TH:1 JP:1"),
    _F("8473", 6, 40.0, 1.0, _UNIT, 0.3, (0,), 13, 0.1, 10, 2000, air=0.4, processing=0.5,
       origins="TW:3 KR:3 JP:2 MY:2 VN:1 SG:1"),
    _F("8481", 8, 60.0, 1.0, _UNIT, 3, (5, 7, 8), 13, -0.1, 12, 300,
       origins="DE:3 JP:3 US:2 IT:2 KR:1"),
    _F("8504", 6, 25.0, 1.0, _UNIT, 0.6, (5, 8), 13, 0.1, 10, 1000, processing=0.3,
       origins="JP:2 KR:2 TW:2 DE:1 VN:1"),
    _F("8507", 6, 35.0, 1.0, _UNIT, 2, (8, 10, 12), 13, 0.2, 10, 800, processing=0.2,
       origins="KR:3 JP:3 VN:1 DE:1"),
    _F("8516", 6, 45.0, 0.6, _UNIT, 2.5, (8, 10, 15), 13, 0.4, 10, 500, ecom=0.3,
       origins="JP:2 KR:2 DE:2 TH:1 GB:1"),
    _F("8517", 8, 350.0, 0.6, _UNIT, 0.35, (0,), 13, 0.6, 30, 300, air=0.7, ecom=0.25,
       origins="VN:4 KR:2 IN:1 JP:1 US:1 TW:1"),
    _F("8528", 6, 280.0, 0.7, _UNIT, 12, (5, 10, 15), 13, 0.3, 8, 100,
       origins="KR:3 JP:2 VN:2 MY:1 MX:1"),
    _F("8544", 6, 6.0, 0.6, _KG, 1, (8, 10), 13, 0.1, 8, 3000, processing=0.2,
       origins="JP:2 KR:2 DE:1 VN:1 TW:1"),
    _F("8703", 6, 42000.0, 0.7, _UNIT, 1800, (15,), 13, 0.6, 6, 4,
       origins="DE:4 JP:3 US:2 GB:1 KR:1 IT:1 SE:1"),
    _F("8708", 10, 45.0, 1.2, _UNIT, 4, (6, 10), 13, 0.2, 15, 600, processing=0.2,
       origins="DE:3 JP:3 KR:2 US:1 MX:1 TH:1"),
    _F("9018", 8, 1500.0, 1.3, _UNIT, 3, (0, 4), 13, -0.2, 8, 30, air=0.5,
       origins="US:4 DE:3 JP:2 IE:1 CH:1"),
    _F("9102", 5, 300.0, 1.1, _UNIT, 0.15, (8, 11), 13, 0.9, 6, 100, air=0.8, ecom=0.35,
       origins="CH:6 JP:2 DE:1 US:1"),
    _F("9503", 8, 7.0, 0.8, _UNIT, 0.4, (0, 5), 13, 0.3, 12, 3000, ecom=0.35,
       origins="VN:3 JP:2 DK:1 US:1 ID:1 MY:1"),
    _F("9504", 3, 250.0, 0.5, _UNIT, 3, (0,), 13, 0.4, 4, 100, ecom=0.3,
       origins="JP:3 VN:2 US:1 MY:1"),
    _F("9506", 6, 35.0, 1.0, _UNIT, 2, (8, 10, 12), 13, 0.2, 6, 500,
       origins="JP:2 US:2 TW:2 VN:2 DE:1"),
)  # fmt: skip

# Subheading digits (5-6) an HS6 line of a heading can take, and the national digits
# (7-10) of its 10-digit code.
_SUBHEADINGS: Final = (
    "10", "11", "12", "19", "20", "21", "22", "29", "30", "31",
    "32", "39", "40", "41", "49", "50", "60", "80", "90", "99",
)  # fmt: skip
_NATIONAL_SUFFIXES: Final = ("0000", "0010", "0090", "1000", "9000", "9090")

# The commodity catalogue: hs_prefix, acceptance_listed, perishable. Longer prefixes
# override shorter ones (frozen beef and dried fruit leave the green channel, garment
# accessories are not in the acceptance catalogue).
_COMMODITY_CATALOGUE: Final = (
    ("01", 0, 1), ("02", 0, 1), ("0202", 0, 0), ("03", 0, 1), ("07", 0, 1),
    ("0714", 0, 0), ("08", 0, 1), ("0813", 0, 0), ("2523", 1, 0), ("61", 1, 0),
    ("6117", 0, 0), ("62", 1, 0), ("6907", 1, 0), ("9503", 1, 0),
)  # fmt: skip

_OUTPUT_TABLES: Final = ("declarations", "enterprises", "lab_results", "commodities")
_FLAG_COLUMNS: Final = frozenset(
    f.name for f in (*DECLARATION_FIELDS, *LAB_RESULT_FIELDS, *COMMODITY_FIELDS) if f.kind == "flag"
)
_CSV_DATE_FORMAT: Final = "%Y-%m-%d"


# --------------------------------------------------------------------------------------
# Internal state
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Catalogue:
    """The tariff lines and the per-heading distributions rows are drawn from."""

    codes: np.ndarray  # 10-digit codes as text
    family: np.ndarray  # heading index of each code
    chapter: np.ndarray  # HS chapter (int) of each code
    ref_price: np.ndarray  # true reference price, USD per unit
    kg_per_unit: np.ndarray
    rate: np.ndarray  # duty rate, %
    vat: np.ndarray  # VAT rate, %
    risk: np.ndarray  # log-odds shift of the true violation propensity
    per_kg: np.ndarray  # bool
    listed: np.ndarray  # bool, in the acceptance catalogue
    rule_chapter: np.ndarray  # bool, on the historic rule's list of risky chapters
    code_prob: np.ndarray  # heading x code slot
    family_start: np.ndarray  # first code index of each heading
    family_share: np.ndarray
    family_lot: np.ndarray
    family_air: np.ndarray
    family_bulk: np.ndarray  # bool
    countries: np.ndarray  # country vocabulary
    origin_prob: np.ndarray  # heading x country
    interaction: np.ndarray  # heading x country, log-odds
    origin_price: np.ndarray  # code x country, honest price level
    trade_prob: np.ndarray  # heading x trade mode
    lower_order: np.ndarray  # codes sorted by (chapter, rate)
    lower_start: np.ndarray  # per code: first position of its chapter in lower_order
    lower_count: np.ndarray  # per code: number of lower-duty codes in its chapter


@dataclass(frozen=True)
class _Brokers:
    """Customs brokers (declarants)."""

    weight: np.ndarray
    effect: np.ndarray
    tier: np.ndarray
    since: np.ndarray  # day offset of tier_since
    bad: np.ndarray  # bool
    ring: int  # the broker the drift ring uses


@dataclass(frozen=True)
class _Labs:
    """Testing institutions."""

    kind: np.ndarray
    weight: np.ndarray
    revoked: int  # the accredited lab that is delisted during the period
    revoked_day: int


@dataclass(frozen=True)
class _Importers:
    """Importers; the drift ring's members are the last ``ring`` entries."""

    weight: np.ndarray  # relative daily declaration intensity
    entry: np.ndarray  # first day the firm can declare (< 0: active before the period)
    tier0: np.ndarray
    tier1: np.ndarray  # tier after the change, or _NO_CHANGE
    change_day: np.ndarray  # day of the change, or _NEVER
    since0: np.ndarray  # day offset of the first tier_since
    registered: np.ndarray  # bool
    effect: np.ndarray  # log-odds of violating, at the middle of the period
    drift: np.ndarray  # change of the log-odds from the first day to the last
    main_family: np.ndarray
    primary_broker: np.ndarray
    preferred_lab: np.ndarray
    price_level: np.ndarray
    lot_scale: np.ndarray
    ring: int


@dataclass(frozen=True)
class _Rows:
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
class _Goods:
    """The true goods of each row."""

    quantity: np.ndarray
    net: np.ndarray
    gross: np.ndarray
    fob: np.ndarray
    cif: np.ndarray


@dataclass(frozen=True)
class _Reports:
    """Lab reports of the rows that carry one."""

    has_report: np.ndarray  # bool per row
    lab: np.ndarray  # per row, -1 without report
    accredited: np.ndarray  # bool per row
    passed: np.ndarray  # bool per row
    issued_day: np.ndarray  # per row
    effect: np.ndarray  # log-odds shift per row


@dataclass(frozen=True)
class _Declared:
    """The declared fields and the revenue at stake (evaded duty and tax, or a fine)."""

    code: np.ndarray
    quantity: np.ndarray
    net: np.ndarray
    gross: np.ndarray
    fob: np.ndarray
    cif: np.ndarray
    kind: np.ndarray
    evaded: np.ndarray


@dataclass(frozen=True)
class _Identities:
    """The parties of ``fraud="identity"`` and the fraud they drive, per row."""

    broker: np.ndarray  # the broker of each row, accomplices included
    seller: np.ndarray
    courier: np.ndarray
    effect: np.ndarray  # log-odds shift of the violation propensity
    pattern: np.ndarray  # index into _PATTERNS
    seller_ids: np.ndarray
    courier_ids: np.ndarray


# --------------------------------------------------------------------------------------
# Small numeric helpers
# --------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _choose_by_group(rng: np.random.Generator, group: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Draw one column of ``prob`` per row, using the row of ``prob`` given by ``group``.

    The per-group cumulative distributions are laid end to end (row ``g`` spans
    ``(g, g + 1]``) so that one ``searchsorted`` serves every group.
    """
    n_groups, n_options = prob.shape
    cum = np.cumsum(prob / prob.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(n_groups)[:, None]).ravel()
    u = rng.random(group.shape[0])
    pos = np.searchsorted(flat, group + u, side="right")
    return np.minimum(pos - group * n_options, n_options - 1)


def _uniform_between(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Integers uniform in ``[low, high)`` elementwise (``high > low``)."""
    return low + np.floor(rng.random(low.shape[0]) * (high - low)).astype(np.int64)


def _pick(
    rng: np.random.Generator, candidates: np.ndarray, count: int, p: np.ndarray | None = None
) -> np.ndarray:
    """Pick ``count`` distinct entries of ``candidates`` (fewer if there are not enough)."""
    count = min(count, candidates.shape[0])
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    if p is not None:
        p = p / p.sum()
    return rng.choice(candidates, size=count, replace=False, p=p)


def _intercept_for_rate(logit: np.ndarray, target: float) -> float:
    """The shift ``b`` with ``mean(sigmoid(logit + b)) == target`` (bisection)."""
    if logit.size == 0:
        return 0.0
    low, high = -30.0, 30.0
    for _ in range(60):
        mid = 0.5 * (low + high)
        if _sigmoid(logit + mid).mean() < target:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """Text ids such as ``IMP00042`` for 1-based ``numbers``."""
    return np.strings.add(prefix, np.strings.zfill(numbers.astype(np.int64).astype("U"), width))


def _permuted_ids(rng: np.random.Generator, prefix: str, count: int, width: int) -> np.ndarray:
    """Ids for ``count`` entities, numbered in a random order (the number says nothing)."""
    return _ids(prefix, rng.permutation(count) + 1, width)


# --------------------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------------------


def _parse_start(start: str) -> np.datetime64:
    try:
        return pd.Timestamp(start).to_datetime64().astype("datetime64[D]")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"start: not a date: {start!r}") from exc


def _day_weights(start_day: np.datetime64, days: int) -> np.ndarray:
    """Relative declaration volume of each day: weekday pattern, growth, Spring Festival."""
    dates = start_day + np.arange(days)
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    weights = np.asarray(_WEEKDAY_WEIGHTS)[weekday]
    weights = weights * (1.0 + _GROWTH_OVER_PERIOD * np.arange(days) / max(days - 1, 1))
    festivals = np.array(_SPRING_FESTIVAL, dtype="datetime64[D]")
    offset = (dates[:, None] - festivals[None, :]).astype(np.int64)
    holiday = ((offset >= 0) & (offset < _SPRING_FESTIVAL_DAYS)).any(axis=1)
    weights[holiday] *= _SPRING_FESTIVAL_FACTOR
    return weights / weights.sum()


def _mass_before(cdf: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Share of the period's volume falling before ``day`` (0 for days before the start)."""
    clipped = np.clip(day, 0, cdf.shape[0])
    return np.where(clipped > 0, cdf[np.maximum(clipped - 1, 0)], 0.0)


def _sample_days(rng: np.random.Generator, cdf: np.ndarray, entry: np.ndarray) -> np.ndarray:
    """Draw declaration days from the day distribution, each at or after ``entry``."""
    low = _mass_before(cdf, entry)
    u = low + rng.random(entry.shape[0]) * (1.0 - low)
    day = np.searchsorted(cdf, u, side="right")
    return np.clip(np.maximum(day, entry), 0, cdf.shape[0] - 1)


# --------------------------------------------------------------------------------------
# Catalogue, brokers, labs, importers
# --------------------------------------------------------------------------------------


def _parse_origins(spec: str) -> dict[str, float]:
    return {part.split(":")[0]: float(part.split(":")[1]) for part in spec.split()}


def _prefix_flags(codes: np.ndarray, catalogue: tuple[tuple[str, int, int], ...]) -> np.ndarray:
    """``(acceptance_listed, perishable)`` of each code by the longest matching prefix."""
    flags = np.zeros((codes.shape[0], 2), dtype=bool)
    matched = np.zeros(codes.shape[0], dtype=np.int64)
    for prefix, listed, perishable in catalogue:
        hit = np.strings.startswith(codes, prefix) & (len(prefix) > matched)
        flags[hit] = (bool(listed), bool(perishable))
        matched[hit] = len(prefix)
    return flags


def _build_catalogue(rng: np.random.Generator) -> _Catalogue:
    """Draw the HS6 lines of every heading and the row-level distributions."""
    n_fam = len(_FAMILIES)
    counts = np.array([f.codes for f in _FAMILIES])
    family = np.repeat(np.arange(n_fam), counts)
    codes = np.concatenate(
        [
            np.strings.add(
                np.strings.add(
                    f.hs4, np.sort(rng.choice(np.array(_SUBHEADINGS), f.codes, replace=False))
                ),
                rng.choice(np.array(_NATIONAL_SUFFIXES), f.codes),
            )
            for f in _FAMILIES
        ]
    )
    price = np.array([f.price for f in _FAMILIES])[family]
    spread = np.array([f.spread for f in _FAMILIES])[family]
    ref_price = price * np.exp(rng.normal(0.0, 1.0, family.shape[0]) * spread)
    per_kg = np.array([f.per_kg for f in _FAMILIES])[family]
    kg_per_unit = np.where(
        per_kg,
        1.0,
        np.array([f.kg_per_unit for f in _FAMILIES])[family]
        * np.exp(rng.normal(0.0, _CODE_WEIGHT_SIGMA, family.shape[0])),
    )
    rate = np.concatenate([rng.choice(np.array(f.rates, dtype=float), f.codes) for f in _FAMILIES])
    risk = np.array([f.risk for f in _FAMILIES])[family] + rng.normal(
        0.0, _CODE_RISK_NOISE, family.shape[0]
    )
    chapter = np.array([int(f.hs4[:2]) for f in _FAMILIES])[family]
    flags = _prefix_flags(codes, _COMMODITY_CATALOGUE)

    family_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    code_prob = np.zeros((n_fam, counts.max()))
    slot = np.arange(family.shape[0]) - family_start[family]
    code_prob[family, slot] = np.exp(rng.normal(0.0, _CODE_SHARE_SIGMA, family.shape[0]))

    origins = [_parse_origins(f.origins) for f in _FAMILIES]
    countries = np.array(sorted({c for o in origins for c in o} | set(_HUBS) | {_DRIFT_ORIGIN}))
    country_index = {c: i for i, c in enumerate(countries)}
    origin_prob = np.zeros((n_fam, countries.shape[0]))
    for i, spec in enumerate(origins):
        for country, weight in spec.items():
            origin_prob[i, country_index[country]] = weight
    risky_pair = (origin_prob > 0) & (rng.random(origin_prob.shape) < _INTERACTION_SHARE)
    interaction = np.where(risky_pair, rng.uniform(*_INTERACTION_RANGE, origin_prob.shape), 0.0)
    origin_price = np.exp(
        rng.normal(0.0, _ORIGIN_PRICE_SIGMA, (codes.shape[0], countries.shape[0]))
    )

    ecom = np.array([f.ecom for f in _FAMILIES])
    processing = np.array([f.processing for f in _FAMILIES])
    general = 1.0 - ecom - processing - _SAMPLE_SHARE
    trade_prob = np.column_stack(
        [
            general,
            ecom * _BONDED_SHARE_OF_ECOM,
            ecom * (1.0 - _BONDED_SHARE_OF_ECOM),
            processing * (1.0 - _TOLLING_SHARE_OF_PROCESSING),
            processing * _TOLLING_SHARE_OF_PROCESSING,
            np.full(n_fam, _SAMPLE_SHARE),
        ]
    )

    # Lower-duty codes of the same chapter: sort by (chapter, rate); the codes of a
    # chapter with a strictly lower rate are a contiguous run at the chapter's start.
    lower_order = np.lexsort((rate, chapter))
    key = chapter * 1000.0 + rate
    sorted_key = key[lower_order]
    lower_start = np.searchsorted(sorted_key, chapter * 1000.0, side="left")
    lower_count = np.searchsorted(sorted_key, key, side="left") - lower_start

    return _Catalogue(
        codes=codes,
        family=family,
        chapter=chapter,
        ref_price=ref_price,
        kg_per_unit=kg_per_unit,
        rate=rate,
        vat=np.array([f.vat for f in _FAMILIES], dtype=float)[family],
        risk=risk,
        per_kg=per_kg,
        listed=flags[:, 0],
        rule_chapter=np.isin(np.strings.slice(codes, 0, 2), np.array(_RULE_CHAPTERS)),
        code_prob=code_prob,
        family_start=family_start,
        family_share=np.array([f.share for f in _FAMILIES], dtype=float),
        family_lot=np.array([f.lot for f in _FAMILIES], dtype=float),
        family_air=np.array([f.air for f in _FAMILIES]),
        family_bulk=np.array([f.bulk for f in _FAMILIES]),
        countries=countries,
        origin_prob=origin_prob,
        interaction=interaction,
        origin_price=origin_price,
        trade_prob=trade_prob,
        lower_order=lower_order,
        lower_start=lower_start,
        lower_count=lower_count,
    )


def _tier_from_shares(
    rng: np.random.Generator, count: int, shares: tuple[float, ...]
) -> np.ndarray:
    cum = np.cumsum(shares)
    return np.minimum(
        np.searchsorted(cum / cum[-1], rng.random(count), side="right"), len(shares) - 1
    )


def _build_brokers(rng: np.random.Generator, count: int) -> _Brokers:
    """Brokers: heavy-tailed volume, a few bad ones, tiers roughly as importers'."""
    weight = np.exp(rng.normal(0.0, _BROKER_VOLUME_SIGMA, count))
    bad = rng.random(count) < _BAD_BROKER_SHARE
    effect = rng.normal(0.0, _BROKER_NOISE, count) + _BAD_BROKER_BOOST * bad
    tier = _tier_from_shares(rng, count, _BROKER_TIER_SHARES)
    tier = np.where(bad & (rng.random(count) < _BAD_BROKER_DISHONEST), _DISHONEST, tier)
    small_honest = np.flatnonzero(~bad & (weight <= np.median(weight)) & (tier == _REGULAR))
    if small_honest.size == 0:
        small_honest = np.arange(count)
    ring = int(rng.choice(small_honest))
    since = -rng.integers(100, 3000, count)
    return _Brokers(weight=weight, effect=effect, tier=tier, since=since, bad=bad, ring=ring)


def _build_labs(rng: np.random.Generator, days: int) -> _Labs:
    kind = np.array(_LAB_KINDS)
    weight = np.where(kind == _ACCREDITED_LAB, _ACCREDITED_LAB_WEIGHT, 1.0) * np.exp(
        rng.normal(0.0, _LAB_WEIGHT_SIGMA, kind.shape[0])
    )
    revoked = int(rng.choice(np.flatnonzero(kind == _ACCREDITED_LAB)))
    return _Labs(
        kind=kind, weight=weight, revoked=revoked, revoked_day=round(days * _LAB_REVOKED_AT)
    )


def _importer_count(rows: int) -> int:
    scale = (rows / _REFERENCE_ROWS) ** _IMPORTER_EXPONENT
    return max(_MIN_IMPORTERS, round(_IMPORTERS_AT_REFERENCE * scale))


def _broker_count(rows: int) -> int:
    return max(
        _MIN_BROKERS, round(_BROKERS_AT_REFERENCE * (rows / _REFERENCE_ROWS) ** _BROKER_EXPONENT)
    )


def _ring_importer_count(rows: int) -> int:
    return max(3, round(_DRIFT_IMPORTERS_AT_REFERENCE * (rows / _REFERENCE_ROWS) ** 0.3))


def _assign_tiers(
    rng: np.random.Generator, weight: np.ndarray, entrant: np.ndarray, effect: np.ndarray, days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Initial tiers, tier changes during the period, and the tier shift of each firm.

    Returns:
        ``tier0, tier1, change_day, shift``; ``change_day`` is ``_NEVER`` everywhere, the
        caller draws the days of the changes (they depend on the entry days).
    """
    n = weight.shape[0]
    tier0 = np.full(n, _REGULAR)
    n_aeo = max(1, round(_AEO_FIRM_SHARE * n))
    established = np.flatnonzero(~entrant)
    pool = established[np.argsort(-weight[established], kind="stable")]
    pool = pool[: max(3 * n_aeo, round(_AEO_POOL_TOP_SHARE * n))]
    aeo = _pick(rng, pool, n_aeo)
    n_advanced = round(_ADVANCED_SHARE_OF_AEO * aeo.shape[0])
    tier0[aeo[:n_advanced]] = _ADVANCED
    tier0[aeo[n_advanced:]] = _CERTIFIED
    others = np.flatnonzero(tier0 == _REGULAR)
    if others.size:
        others = others[weight[others] >= np.quantile(weight[others], _DISHONEST_POOL_QUANTILE)]
    low = _pick(rng, others, round((_DISHONEST_FIRM_SHARE + _SERIOUSLY_FIRM_SHARE) * n))
    n_seriously = round(_SERIOUSLY_FIRM_SHARE * n)
    tier0[low[:n_seriously]] = _SERIOUSLY
    tier0[low[n_seriously:]] = _DISHONEST

    tier1 = np.full(n, _NO_CHANGE)
    change_day = np.full(n, _NEVER, dtype=np.int64)
    nature = tier0.copy()
    restored = np.zeros(n, dtype=bool)
    if days >= _MIN_DAYS_FOR_CHANGES:
        regular = np.flatnonzero(tier0 == _REGULAR)
        down = _pick(
            rng,
            regular,
            round(_DOWNGRADE_SHARE * n),
            p=np.exp(_DOWNGRADE_EFFECT_WEIGHT * effect[regular]),
        )
        tier1[down] = np.where(
            rng.random(down.shape[0]) < _DOWNGRADE_TO_SERIOUSLY, _SERIOUSLY, _DISHONEST
        )
        nature[down] = tier1[down]
        regular = np.flatnonzero((tier0 == _REGULAR) & (tier1 == _NO_CHANGE) & ~entrant)
        big = (
            regular[weight[regular] >= np.quantile(weight[regular], _UPGRADE_POOL_QUANTILE)]
            if regular.size
            else regular
        )
        good = big[effect[big] <= np.median(effect[big])] if big.size else big
        up = _pick(rng, good, round(_UPGRADE_SHARE * n))
        tier1[up] = _CERTIFIED
        nature[up] = _CERTIFIED
        dishonest = np.flatnonzero(tier0 == _DISHONEST)
        back = _pick(rng, dishonest, round(_RESTORED_SHARE_OF_DISHONEST * dishonest.shape[0]))
        tier1[back] = _REGULAR
        restored[back] = True
    shift = np.asarray(_TIER_SHIFT)[nature] * np.where(restored, _RESTORED_SHIFT_FACTOR, 1.0)
    return tier0, tier1, change_day, shift


def _build_importers(
    rng: np.random.Generator,
    count: int,
    ring_count: int,
    cdf: np.ndarray,
    brokers: _Brokers,
    labs: _Labs,
    catalogue: _Catalogue,
    drift_start: int,
) -> _Importers:
    """Importers with volumes, entry days, tiers and tier histories, and habits."""
    days = cdf.shape[0]
    weight = np.exp(rng.normal(0.0, _IMPORTER_VOLUME_SIGMA, count))
    entrant = rng.random(count) < _ENTRANT_SHARE
    entry = np.where(entrant, rng.integers(0, days, count), -rng.integers(180, 3000, count))
    z = (np.log(weight) - np.log(weight).mean()) / max(np.log(weight).std(), 1e-9)
    boost = (rng.random(count) < _BAD_ACTOR_SHARE) * rng.exponential(_BAD_ACTOR_MEAN_BOOST, count)
    effect = (
        rng.normal(0.0, _IMPORTER_NOISE, count)
        + boost
        + _ENTRANT_SHIFT * entrant
        - _SIZE_RISK_SLOPE * z
    )
    tier0, tier1, change_day, shift = _assign_tiers(rng, weight, entrant, effect, days)
    # Certification audits keep bad actors out of the AEO programme.
    aeo_nature = (tier0 <= _CERTIFIED) | (tier1 == _CERTIFIED)
    effect = np.where(aeo_nature, np.minimum(effect - boost, _AEO_EFFECT_CAP), effect) + shift
    changed = np.flatnonzero(tier1 != _NO_CHANGE)
    low = np.maximum(entry[changed], 0) + _CHANGE_MARGIN_DAYS[0]
    high = np.maximum(low + 1, days - _CHANGE_MARGIN_DAYS[1])
    change_day[changed] = _uniform_between(rng, low, high)
    # Entrants whose change would fall after the period keep their tier.
    late = changed[change_day[changed] >= days]
    tier1[late] = _NO_CHANGE
    change_day[late] = _NEVER

    mass = 1.0 - _mass_before(cdf, entry)
    aeo = tier0 <= _CERTIFIED
    aeo_volume = (weight * mass)[aeo].sum()
    if aeo_volume > 0 and (~aeo).any():
        other_volume = (weight * mass)[~aeo].sum()
        target = _AEO_DECLARATION_SHARE / (1.0 - _AEO_DECLARATION_SHARE)
        weight = np.where(aeo, weight * target * other_volume / aeo_volume, weight)

    simple = (tier0 == _REGULAR) & (tier1 == _NO_CHANGE) & (weight < np.median(weight))
    registered = ~(simple & (rng.random(count) < _UNREGISTERED_SHARE_OF_SMALL))
    since0 = np.where(entry < 0, -rng.integers(30, 2500, count), entry - rng.integers(0, 45, count))

    # The drift ring: new importers entering just after the drift starts.
    ring_entry = drift_start + rng.integers(
        0, max(1, min(_DRIFT_ENTRY_DAYS, days - drift_start)), ring_count
    )
    ring_weight = np.exp(rng.normal(0.0, _DRIFT_VOLUME_SIGMA, ring_count))
    ring_registered = rng.random(ring_count) < _DRIFT_REGISTERED_SHARE
    ring_since = ring_entry - rng.integers(0, 20, ring_count)

    bad_actor = effect > _BAD_ACTOR_THRESHOLD
    broker_p = brokers.weight / brokers.weight.sum()
    primary = rng.choice(brokers.weight.shape[0], count, p=broker_p)
    bad_brokers = np.flatnonzero(brokers.bad)
    if bad_brokers.size:
        to_bad = bad_actor & (rng.random(count) < _BAD_ACTOR_BAD_BROKER)
        primary[to_bad] = rng.choice(bad_brokers, int(to_bad.sum()))
    lab_p = labs.weight / labs.weight.sum()
    lab = rng.choice(labs.kind.shape[0], count, p=lab_p)
    rubber = np.flatnonzero(labs.kind == _RUBBER_STAMP_LAB)
    to_rubber = bad_actor & (rng.random(count) < _BAD_ACTOR_RUBBER_STAMP)
    lab[to_rubber] = rng.choice(rubber, int(to_rubber.sum()))
    # AEO firms keep their own compliance standards and use accredited labs only.
    accredited = np.flatnonzero(labs.kind == _ACCREDITED_LAB)
    accredited_p = labs.weight[accredited] / labs.weight[accredited].sum()
    aeo_firm = aeo_nature & ~bad_actor
    lab[aeo_firm] = rng.choice(accredited, int(aeo_firm.sum()), p=accredited_p)
    family_p = catalogue.family_share / catalogue.family_share.sum()
    drift_family = [f.hs4 for f in _FAMILIES].index(_DRIFT_HS4)

    def join(base: np.ndarray, ring: np.ndarray | float | int | bool) -> np.ndarray:
        return np.concatenate([base, np.broadcast_to(ring, (ring_count,)).astype(base.dtype)])

    return _Importers(
        weight=join(weight, ring_weight),
        entry=join(entry, ring_entry),
        tier0=join(tier0, _REGULAR),
        tier1=join(tier1, _NO_CHANGE),
        change_day=join(change_day, _NEVER),
        since0=join(since0, ring_since),
        registered=join(registered, ring_registered),
        effect=join(effect, _ENTRANT_SHIFT),
        drift=join(rng.normal(0.0, _IMPORTER_DRIFT_SIGMA, count), 0.0),
        main_family=join(rng.choice(len(_FAMILIES), count, p=family_p), drift_family),
        primary_broker=join(primary, brokers.ring),
        preferred_lab=join(lab, 0),
        price_level=join(np.exp(rng.normal(0.0, _IMPORTER_PRICE_SIGMA, count)), 1.0),
        lot_scale=join(np.exp(_LOT_SIZE_SLOPE * z), 1.0),
        ring=ring_count,
    )


# --------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------


def _transport_and_office(
    rng: np.random.Generator, catalogue: _Catalogue, family: np.ndarray, trade: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Transport mode from the trade mode and the goods, office from the transport mode."""
    n = family.shape[0]
    air_share = np.where(
        trade == _SAMPLES,
        np.maximum(catalogue.family_air[family], _SAMPLE_AIR_SHARE),
        catalogue.family_air[family],
    )
    u = rng.random(n)
    transport = np.where(u < air_share, _AIR, _WATERWAY)
    transport = np.where(trade == _BONDED_ECOM, _ROAD, transport)
    transport = np.where(
        trade == _DIRECT_ECOM, np.where(u < _DIRECT_ECOM_AIR_SHARE, _AIR, _POST), transport
    )
    bulk = catalogue.family_bulk[family]
    processing = (trade == _PROCESSING) | (trade == _TOLLING)
    profile = np.select(
        [
            (transport == _AIR) | (transport == _POST),
            transport == _ROAD,
            processing,
            bulk,
        ],
        [_AIR_PROFILE, _ROAD_PROFILE, _PROCESSING_PROFILE, _BULK_PROFILE],
        default=_CONTAINER_PROFILE,
    )
    office = _choose_by_group(rng, profile, np.asarray(_OFFICE_PROFILES))
    return transport, office


def _departure(
    rng: np.random.Generator, catalogue: _Catalogue, origin: np.ndarray, trade: np.ndarray
) -> np.ndarray:
    """Departure country: the origin, or a regional hub for transhipped goods."""
    n = origin.shape[0]
    ecom = (trade == _BONDED_ECOM) | (trade == _DIRECT_ECOM)
    share = np.where(ecom, _ECOM_TRANSHIPMENT_SHARE, _TRANSHIPMENT_SHARE)
    hub_index = np.searchsorted(catalogue.countries, np.array(_HUBS))
    hub = hub_index[rng.choice(len(_HUBS), n, p=np.asarray(_HUB_WEIGHTS))]
    return np.where(rng.random(n) < share, hub, origin)


def _draw_rows(
    rng: np.random.Generator,
    catalogue: _Catalogue,
    importers: _Importers,
    brokers: _Brokers,
    cdf: np.ndarray,
    n_base: int,
    n_ring: int,
) -> _Rows:
    """Draw importer, day, broker, goods, origin, trade mode and office of every row."""
    n_imp = importers.weight.shape[0] - importers.ring
    mass = 1.0 - _mass_before(cdf, importers.entry)
    intensity = importers.weight * mass
    base_p = intensity[:n_imp] / intensity[:n_imp].sum()
    importer = rng.choice(n_imp, n_base, p=base_p)
    if n_ring:
        ring_p = intensity[n_imp:] / intensity[n_imp:].sum()
        importer = np.concatenate([importer, n_imp + rng.choice(importers.ring, n_ring, p=ring_p)])
    n = n_base + n_ring
    ring = np.arange(n) >= n_base
    day = _sample_days(rng, cdf, importers.entry[importer])

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
    drift_family = [f.hs4 for f in _FAMILIES].index(_DRIFT_HS4)
    family = np.where(ring, drift_family, family)
    code = catalogue.family_start[family] + _choose_by_group(rng, family, catalogue.code_prob)

    origin = _choose_by_group(rng, family, catalogue.origin_prob)
    drift_origin = int(np.searchsorted(catalogue.countries, _DRIFT_ORIGIN))
    origin = np.where(ring, drift_origin, origin)
    trade = _choose_by_group(rng, family, catalogue.trade_prob)
    trade = np.where(ring, _TRADE_MODES.index(_DRIFT_TRADE_MODE), trade)
    departure = _departure(rng, catalogue, origin, trade)
    departure = np.where(ring, origin, departure)
    transport, office = _transport_and_office(rng, catalogue, family, trade)
    return _Rows(
        importer, broker, day, family, code, origin, departure, trade, transport, office, ring
    )


def _draw_goods(
    rng: np.random.Generator, catalogue: _Catalogue, importers: _Importers, rows: _Rows
) -> _Goods:
    """True quantity, weights and values of every row."""
    n = rows.code.shape[0]
    code = rows.code
    per_kg = catalogue.per_kg[code]
    lot = catalogue.family_lot[rows.family] * importers.lot_scale[rows.importer]
    lot = lot * np.exp(_LOT_SIGMA * np.clip(rng.normal(0.0, 1.0, n), -_LOT_CLIP, _LOT_CLIP))
    lot = np.where(
        (rows.trade == _PROCESSING) | (rows.trade == _TOLLING), lot * _PROCESSING_LOT_FACTOR, lot
    )
    small = np.select(
        [rows.trade == _BONDED_ECOM, rows.trade == _DIRECT_ECOM, rows.trade == _SAMPLES],
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
        bulk & (rows.transport == _WATERWAY),
        _BULK_FREIGHT_PER_KG,
        np.asarray(_FREIGHT_PER_KG)[rows.transport],
    )
    freight = np.round(gross * freight_rate * np.exp(rng.normal(0.0, _FREIGHT_SIGMA, n)), 2)
    cif = fob + freight + np.round(_INSURANCE_RATE * fob, 2)
    return _Goods(quantity=quantity, net=net, gross=gross, fob=fob, cif=np.round(cif, 2))


# --------------------------------------------------------------------------------------
# Fraud, lab reports, declared fields
# --------------------------------------------------------------------------------------


def _base_propensity(
    catalogue: _Catalogue, importers: _Importers, brokers: _Brokers, rows: _Rows, days: int
) -> np.ndarray:
    """Log-odds of violating before lab reports, up to a common intercept."""
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


def _draw_reports(
    rng: np.random.Generator,
    catalogue: _Catalogue,
    importers: _Importers,
    labs: _Labs,
    rows: _Rows,
    propensity: np.ndarray,
) -> _Reports:
    """Lab reports of acceptance-listed goods and their effect on the violation odds."""
    n = rows.code.shape[0]
    listed = catalogue.listed[rows.code] & (rows.trade != _SAMPLES)
    bad = importers.effect[rows.importer] > _BAD_ACTOR_THRESHOLD
    has_report = listed & (rng.random(n) < _REPORT_SHARE - _BAD_ACTOR_REPORT_DROP * bad)
    other_lab = rng.choice(labs.kind.shape[0], n, p=labs.weight / labs.weight.sum())
    lab = np.where(
        rng.random(n) < _PREFERRED_LAB_SHARE, importers.preferred_lab[rows.importer], other_lab
    )
    expired = rng.random(n) < _EXPIRED_SHARE + _BAD_ACTOR_EXPIRED * bad
    age = np.where(
        expired,
        rng.integers(_REPORT_VALID_DAYS + 1, 2 * _REPORT_VALID_DAYS, n),
        np.clip(np.ceil(np.exp(rng.normal(np.log(_REPORT_AGE_MEDIAN_DAYS), 0.8, n))), 1, 300),
    ).astype(np.int64)
    issued_day = rows.day - age
    kind = labs.kind[lab]
    delisted = (lab == labs.revoked) & (issued_day >= labs.revoked_day)
    accredited = (kind == _ACCREDITED_LAB) & ~delisted
    reliable = accredited | (kind == _HONEST_LAB)
    centred = propensity - np.median(propensity) if n else propensity
    p_fail = np.where(
        reliable,
        np.minimum(_FAIL_BASE * np.exp(_FAIL_SLOPE * centred), _FAIL_CAP),
        _UNRELIABLE_FAIL,
    )
    passed = rng.random(n) >= p_fail
    pass_effect = np.select(
        [expired, accredited, kind == _HONEST_LAB, delisted],
        [
            _LAB_EFFECT_EXPIRED,
            _LAB_EFFECT_ACCREDITED_PASS,
            _LAB_EFFECT_HONEST_PASS,
            _LAB_EFFECT_DELISTED_PASS,
        ],
        default=0.0,
    )
    effect = np.where(passed, pass_effect, _LAB_EFFECT_FAIL)
    effect = np.where(has_report, effect, np.where(listed, _LAB_EFFECT_MISSING, 0.0))
    return _Reports(
        has_report=has_report,
        lab=np.where(has_report, lab, -1),
        accredited=accredited & has_report,
        passed=passed,
        issued_day=issued_day,
        effect=effect,
    )


def _draw_violations(rng: np.random.Generator, logit: np.ndarray, rows: _Rows) -> np.ndarray:
    """True violation state; the overall rate is calibrated to the target."""
    n = logit.shape[0]
    eligible = ~rows.ring & (rows.trade != _SAMPLES)
    expected_ring = _DRIFT_VIOLATION_RATE * rows.ring.sum()
    target = np.clip(
        (_TARGET_VIOLATION_RATE * n - expected_ring) / max(eligible.sum(), 1), 1e-4, 0.5
    )
    intercept = _intercept_for_rate(logit[eligible], float(target))
    p = np.where(rows.ring, _DRIFT_VIOLATION_RATE, _sigmoid(logit + intercept))
    return (rng.random(n) < p) & (rows.trade != _SAMPLES)


def _declare(
    rng: np.random.Generator,
    catalogue: _Catalogue,
    rows: _Rows,
    goods: _Goods,
    violation: np.ndarray,
) -> _Declared:
    """Apply each violation's fraud to the declared fields; compute the revenue at stake.

    The revenue at stake is the evaded duty and VAT of the valuation frauds and of origin
    fraud, and the fine of a compliance breach.
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
    ecom = ((rows.trade == _BONDED_ECOM) | (rows.trade == _DIRECT_ECOM)) & ~rows.ring
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
            rng.uniform(*_DRIFT_UNDERVALUATION_RANGE, n),
            rng.uniform(*_BULK_FRAUD_RANGE, n),
            rng.uniform(*_MILD_UNDERVALUATION_RANGE, n),
        ],
        default=rng.uniform(*_UNDERVALUATION_RANGE, n),
    )
    scale = np.select(
        [kind == _UNDERVALUATION, kind == _QUANTITY], [value_factor, quantity_factor], default=1.0
    )
    samples = rows.trade == _SAMPLES
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
    return _Declared(
        code=declared_code,
        quantity=quantity,
        net=net,
        gross=gross,
        fob=fob,
        cif=cif,
        kind=kind,
        evaded=evaded,
    )


# --------------------------------------------------------------------------------------
# Identity-driven fraud
# --------------------------------------------------------------------------------------


def _first_per_group(group: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """The first of ``values`` per group in the given order (-1 for an empty group)."""
    first = np.full(n_groups, -1, dtype=np.int64)
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.r_[True, group[order][1:] != group[order][:-1]])
    if order.size:
        first[group[order][starts]] = values[order][starts]
    return first


def _draw_identities(
    rng: np.random.Generator,
    catalogue: _Catalogue,
    importers: _Importers,
    brokers: _Brokers,
    rows: _Rows,
) -> _Identities:
    """Sellers, couriers, accomplice brokers and the identity patterns of every row."""
    n = rows.code.shape[0]
    n_imp = importers.weight.shape[0]
    n_brokers = brokers.weight.shape[0]
    n_sellers = max(20, round(n * _SELLERS_PER_ROW))
    n_couriers = max(5, round(_COURIERS_AT_REFERENCE * (n / _REFERENCE_ROWS) ** 0.5))
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
    line = catalogue.family_start[importers.main_family] + _choose_by_group(
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
        pattern=np.select(patterns, np.arange(1, len(_PATTERNS)), 0),
        seller_ids=_permuted_ids(rng, "SEL", n_sellers, 6),
        courier_ids=_permuted_ids(rng, "CUR", n_couriers, 3),
    )


# --------------------------------------------------------------------------------------
# Historic selection
# --------------------------------------------------------------------------------------


def _tier_on_day(importers: _Importers, importer: np.ndarray, day: np.ndarray) -> np.ndarray:
    changed = day >= importers.change_day[importer]
    return np.where(changed, importers.tier1[importer], importers.tier0[importer])


def _inspect(
    rng: np.random.Generator,
    catalogue: _Catalogue,
    importers: _Importers,
    rows: _Rows,
    declared: _Declared,
) -> tuple[np.ndarray, np.ndarray]:
    """The historic targeting rule plus a uniform random share.

    Returns:
        ``inspected`` and ``random_pick`` (rows the random share selected).
    """
    n = rows.code.shape[0]
    tier = _tier_on_day(importers, rows.importer, rows.day)
    with np.errstate(divide="ignore"):
        unit_value = declared.cif / declared.quantity
        ratio = np.log(unit_value / catalogue.ref_price[declared.code])
    seen = ratio + rng.normal(0.0, _RULE_PRICE_NOISE, n)
    low_value = (seen < np.log(_RULE_LOW_VALUE_RATIO)) & (declared.cif > 0)
    entry = importers.entry[rows.importer]
    new = (entry >= 0) & (rows.day - entry < _RULE_NEW_IMPORTER_DAYS)
    multiplier = (
        1.0
        + _RULE_CHAPTER_BOOST * catalogue.rule_chapter[declared.code]
        + _RULE_LOW_VALUE_BOOST * low_value
        + _RULE_NEW_IMPORTER_BOOST * new
    )
    tier_mean = np.bincount(tier, weights=multiplier, minlength=len(CREDIT_TIERS)) / np.maximum(
        np.bincount(tier, minlength=len(CREDIT_TIERS)), 1
    )
    p_rule = np.minimum(
        np.asarray(_RULE_TIER_RATE)[tier] * multiplier / tier_mean[tier], _RULE_MAX_RATE
    )
    by_rule = rng.random(n) < p_rule
    random_pick = rng.random(n) < _RANDOM_INSPECTION_SHARE
    return by_rule | random_pick, random_pick


# --------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------


def _dates(start_day: np.datetime64, offsets: np.ndarray) -> np.ndarray:
    return (start_day + offsets.astype("timedelta64[D]")).astype("datetime64[ns]")


def _declaration_frame(
    start_day: np.datetime64,
    catalogue: _Catalogue,
    rows: _Rows,
    declared: _Declared,
    inspected: np.ndarray,
    violation: np.ndarray,
    revenue: np.ndarray,
    importer_ids: np.ndarray,
    broker_ids: np.ndarray,
    ids: np.ndarray,
) -> pd.DataFrame:
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
        "customs_office": np.asarray(_OFFICES)[rows.office],
        "quantity": declared.quantity,
        "gross_weight": declared.gross,
        "net_weight": declared.net,
        "fob_value": declared.fob,
        "total_taxes": np.round(declared.cif * rate / 100.0, 2),
        "tax_rate": rate,
        "trade_mode": np.asarray(_TRADE_MODES)[rows.trade],
        "transport_mode": np.asarray(_TRANSPORT_MODES)[rows.transport],
        "inspected": inspected.astype(np.int64),
        "illicit": illicit,
        "revenue": np.where(inspected, revenue, np.nan),
    }
    return pd.DataFrame({name: columns[name] for name in field_names(DECLARATION_FIELDS)})


def _enterprise_frame(
    start_day: np.datetime64,
    importers: _Importers,
    brokers: _Brokers,
    importer_ids: np.ndarray,
    broker_ids: np.ndarray,
) -> pd.DataFrame:
    registered = np.flatnonzero(importers.registered)
    changed = registered[importers.tier1[registered] != _NO_CHANGE]
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


def _lab_frame(
    start_day: np.datetime64,
    reports: _Reports,
    order: np.ndarray,
    ids: np.ndarray,
    lab_ids: np.ndarray,
) -> pd.DataFrame:
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


def _commodity_frame() -> pd.DataFrame:
    frame = pd.DataFrame(list(_COMMODITY_CATALOGUE), columns=field_names(COMMODITY_FIELDS))
    frame["hs_prefix"] = frame["hs_prefix"].astype("str")
    return frame.astype({"acceptance_listed": np.int64, "perishable": np.int64})


# --------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------


def _simulate(
    rows: int, seed: int, start: str, days: int, fraud: str = "default"
) -> tuple[SyntheticData, pd.DataFrame]:
    """Generate the tables and the hidden truth behind them.

    Returns:
        The tables, and per declaration (in the same order) the truth: ``violation``,
        ``fraud_kind``, ``true_hs_code``, ``drift_ring``, ``random_inspection``,
        ``credit_tier`` (in force on the date), ``evaded`` (the revenue at stake
        before the assessment noise), ``revenue`` (what an inspection would raise,
        for every row: the ``revenue`` label of the inspected ones), and the true
        goods: ``true_value`` (CIF; samples are declared at 0), ``true_quantity``,
        ``true_net_weight``, ``true_gross_weight``; with ``fraud="identity"`` also
        ``identity_pattern`` (the identity pattern the row falls under, or empty).
    """
    if isinstance(rows, bool) or not isinstance(rows, int | np.integer) or rows < 1:
        raise ValueError(f"rows: must be a positive integer, got {rows!r}")
    if isinstance(days, bool) or not isinstance(days, int | np.integer) or days < 1:
        raise ValueError(f"days: must be a positive integer, got {days!r}")
    if fraud not in FRAUD_MODES:
        raise ValueError(f"fraud: must be one of {', '.join(FRAUD_MODES)}, got {fraud!r}")
    rows, days = int(rows), int(days)
    start_day = _parse_start(start)
    rng = np.random.default_rng(seed)

    cdf = np.cumsum(_day_weights(start_day, days))
    cdf[-1] = 1.0
    drift_start = min(round(days * (1.0 - _DRIFT_PERIOD_SHARE)), days - 1)
    n_ring = round(rows * _DRIFT_ROW_SHARE)
    n_base = rows - n_ring

    catalogue = _build_catalogue(rng)
    brokers = _build_brokers(rng, _broker_count(rows))
    labs = _build_labs(rng, days)
    importers = _build_importers(
        rng,
        _importer_count(rows),
        _ring_importer_count(rows),
        cdf,
        brokers,
        labs,
        catalogue,
        drift_start,
    )
    table = _draw_rows(rng, catalogue, importers, brokers, cdf, n_base, n_ring)
    goods = _draw_goods(rng, catalogue, importers, table)
    identities = None
    if fraud == "identity":
        stream = np.random.default_rng([seed, _IDENTITY_STREAM])
        identities = _draw_identities(stream, catalogue, importers, brokers, table)
        table = replace(table, broker=identities.broker)
    propensity = _base_propensity(catalogue, importers, brokers, table, days)
    reports = _draw_reports(rng, catalogue, importers, labs, table, propensity)
    logit = propensity + reports.effect
    if identities is not None:
        logit = _IDENTITY_BASE_WEIGHT * logit + identities.effect
    violation = _draw_violations(rng, logit, table)
    del propensity, logit
    declared = _declare(rng, catalogue, table, goods, violation)
    true_goods = np.column_stack([goods.cif, goods.quantity, goods.net, goods.gross])
    del goods
    inspected, random_pick = _inspect(rng, catalogue, importers, table, declared)
    noise = np.exp(rng.normal(0.0, _REVENUE_NOISE, rows))
    revenue = np.where(violation, np.maximum(np.round(declared.evaded * noise, 2), 0.01), 0.0)

    order = np.lexsort((rng.random(rows), table.day))
    table = _Rows(*(getattr(table, f)[order] for f in _Rows.__dataclass_fields__))
    declared = _Declared(*(getattr(declared, f)[order] for f in _Declared.__dataclass_fields__))
    ids = _ids("D", np.arange(1, rows + 1), 8)
    importer_ids = _permuted_ids(rng, "IMP", importers.weight.shape[0], 5)
    broker_ids = _permuted_ids(rng, "BRK", brokers.weight.shape[0], 4)
    lab_ids = _permuted_ids(rng, "LAB", labs.kind.shape[0], 2)

    declarations = _declaration_frame(
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
    data = SyntheticData(
        declarations=declarations,
        enterprises=_enterprise_frame(start_day, importers, brokers, importer_ids, broker_ids),
        lab_results=_lab_frame(start_day, reports, order, ids, lab_ids),
        commodities=_commodity_frame(),
    )
    truth = pd.DataFrame(
        {
            "declaration_id": ids,
            "violation": violation[order],
            "fraud_kind": np.asarray(_KINDS)[declared.kind],
            "true_hs_code": catalogue.codes[table.code],
            "drift_ring": table.ring,
            "random_inspection": random_pick[order],
            "credit_tier": np.asarray(CREDIT_TIERS)[
                _tier_on_day(importers, table.importer, table.day)
            ],
            "evaded": declared.evaded,
            "revenue": revenue[order],
            **{
                f"true_{name}": true_goods[order, i]
                for i, name in enumerate(("value", "quantity", "net_weight", "gross_weight"))
            },
        }
    )
    if identities is not None:
        truth["identity_pattern"] = np.asarray(_PATTERNS)[identities.pattern[order]]
    return data, truth


def generate_synthetic(
    rows: int = 100_000,
    seed: int = 0,
    start: str = "2024-01-01",
    days: int = 730,
    fraud: str = "default",
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

    Returns:
        The declarations, the enterprise credit register, the lab reports and the
        commodity catalogue, with the columns and types of the contract.

    Raises:
        ValueError: If ``rows`` or ``days`` is not a positive integer, ``start`` is
            not a date or ``fraud`` is not a mode of :data:`FRAUD_MODES`.
    """
    data, _ = _simulate(rows, seed, start, days, fraud)
    return data


def generate_synthetic_with_truth(
    rows: int = 100_000,
    seed: int = 0,
    start: str = "2024-01-01",
    days: int = 730,
    fraud: str = "default",
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

    Returns:
        ``(tables, truth)``.

    Raises:
        ValueError: If ``rows`` or ``days`` is not a positive integer, ``start`` is
            not a date or ``fraud`` is unknown.
    """
    return _simulate(rows, seed, start, days, fraud)


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def _for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """Flags as integers with empty cells for missing values, not ``1.0`` / ``nan``."""
    out = frame.copy()
    for name in out.columns:
        if name in _FLAG_COLUMNS and pd.api.types.is_float_dtype(out[name]):
            out[name] = out[name].astype("Int64")
    return out


def _write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` through a temporary file in the same directory."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False, date_format=_CSV_DATE_FORMAT)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are ordinary files
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def schema_text(declarations: pd.DataFrame) -> str:
    """Return the ``--schema`` file that reads the further columns of ``declarations``.

    Every canonical column maps to itself under ``[columns]``; the columns beyond the
    contract (the identity columns of ``fraud="identity"``) are listed as categorical
    model inputs under ``[features]``.

    Args:
        declarations: Generated declarations.

    Returns:
        The TOML text.
    """
    canonical = field_names(DECLARATION_FIELDS)
    mapped = [name for name in canonical if name in declarations.columns]
    extra = [name for name in declarations.columns if name not in canonical]
    lines = [
        "# The layout of declarations.csv: canonical columns, and the identity columns",
        "# used as categorical model inputs (portsift train --schema schema.toml).",
        "[columns]",
        *(f'{name} = "{name}"' for name in mapped),
        "",
        "[features]",
        "categorical = [" + ", ".join(f'"{name}"' for name in extra) + "]",
        "",
    ]
    return "\n".join(lines)


def _write_text_atomic(text: str, path: Path) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_synthetic(data: SyntheticData, out_dir: str | Path) -> dict[str, Path]:
    """Write the four tables as CSV files into ``out_dir``.

    Writes ``declarations.csv``, ``enterprises.csv``, ``lab_results.csv`` and
    ``commodities.csv`` into ``out_dir`` (created if missing), each atomically: write to
    a temp file in the same directory, then ``os.replace``; on error the temp file is
    removed. Declarations with columns beyond the contract (``fraud="identity"``) also
    get ``schema.toml`` (:func:`schema_text`), the ``--schema`` that reads them.

    Args:
        data: The tables to write.
        out_dir: Output directory.

    Returns:
        Table name (``declarations``, ``enterprises``, ``lab_results``,
        ``commodities``, and ``schema`` when written) to the path written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name in _OUTPUT_TABLES:
        path = out / f"{name}.csv"
        _write_csv_atomic(_for_csv(getattr(data, name)), path)
        paths[name] = path
    if set(data.declarations.columns) - set(field_names(DECLARATION_FIELDS)):
        paths["schema"] = out / "schema.toml"
        _write_text_atomic(schema_text(data.declarations), paths["schema"])
    return paths


def to_bacuda(declarations: pd.DataFrame) -> pd.DataFrame:
    """Convert canonical declarations to the WCO BACUDA / DATE layout of the contract.

    The same declarations in the WCO BACUDA / DATE layout of the contract (``sgd.id``,
    ``sgd.date`` as ``YY-MM-DD``, ``importer.id``, ``declarant.id``, ``country``,
    ``office.id``, ``tariff.code``, ``quantity``, ``gross.weight``, ``fob.value``,
    ``cif.value``, ``total.taxes``, ``illicit``, ``revenue``). Columns that BACUDA lacks
    are dropped.

    Args:
        declarations: Declarations with canonical column names.

    Returns:
        A new frame in BACUDA column order; BACUDA columns whose canonical field is
        absent are left out.

    Raises:
        ValueError: If a column that identifies a BACUDA file is missing.
    """
    required = ("declaration_id", "declared_at", "importer_id", "hs_code", "declared_value")
    missing = [name for name in required if name not in declarations.columns]
    if missing:
        raise ValueError(f"declarations: missing columns {missing}")
    present = {b: c for b, c in BACUDA_COLUMNS.items() if c in declarations.columns}
    out = declarations[list(present.values())].reset_index(drop=True)
    out.columns = list(present)
    out["sgd.date"] = pd.to_datetime(out["sgd.date"]).dt.strftime(BACUDA_DATE_FORMAT)
    return out
