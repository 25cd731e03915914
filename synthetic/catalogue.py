"""The tariff catalogue: product lines, HS codes, reference prices, duty and origins.

The product lines (HS headings) of Hainan's import trade are fixed data; the HS6 lines
of each heading, their reference prices, duty rates, risk and the origin and trade-mode
distributions of the rows are drawn from them. The commodity catalogue (acceptance
listing, perishability) is the register the commodities table is built from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from portsift.synthetic.codes import HUBS
from portsift.synthetic.drift import DRIFT_ORIGIN

# Per-line draws around each heading's values: risk, risky (heading, origin) pairs,
# price level by origin, unit weight, and the share of the heading's rows a line takes.
_CODE_RISK_NOISE: Final = 0.35
_INTERACTION_SHARE: Final = 0.12  # share of (product line, origin) pairs that are risky
_INTERACTION_RANGE: Final = (0.8, 1.8)
_ORIGIN_PRICE_SIGMA: Final = 0.15  # per tariff line and origin country
_CODE_WEIGHT_SIGMA: Final = 0.25
_CODE_SHARE_SIGMA: Final = 0.8
# Trade-mode shares of each heading's rows, beside its e-commerce and processing shares.
_SAMPLE_SHARE: Final = 0.003  # free-of-charge samples (货样广告品), declared value 0
_BONDED_SHARE_OF_ECOM: Final = 0.65
_TOLLING_SHARE_OF_PROCESSING: Final = 0.2


@dataclass(frozen=True)
class Family:
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


_F = Family
_KG, _UNIT = True, False
# Product lines of Hainan's import trade: frozen meat and aquatic products, tropical
# fruit from ASEAN, bulk cargo for Yangpu (crude, soybeans, palm oil, logs, cement),
# consumer goods for the offshore duty-free and cross-border e-commerce trade
# (cosmetics, luxury, wine, infant formula), medicines and devices for Boao Lecheng, and
# plastics, electronics and machinery for processing trade.
FAMILIES: Final[tuple[Family, ...]] = (
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
COMMODITY_CATALOGUE: Final = (
    ("01", 0, 1), ("02", 0, 1), ("0202", 0, 0), ("03", 0, 1), ("07", 0, 1),
    ("0714", 0, 0), ("08", 0, 1), ("0813", 0, 0), ("2523", 1, 0), ("61", 1, 0),
    ("6117", 0, 0), ("62", 1, 0), ("6907", 1, 0), ("9503", 1, 0),
)  # fmt: skip


@dataclass(frozen=True)
class Catalogue:
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


def build_catalogue(rng: np.random.Generator) -> Catalogue:
    """Draw the HS6 lines of every heading and the row-level distributions.

    Args:
        rng: The world's random stream.

    Returns:
        The catalogue: codes with their prices, rates, risk and flags, and the
        per-heading distributions of codes, origins and trade modes.
    """
    n_fam = len(FAMILIES)
    counts = np.array([f.codes for f in FAMILIES])
    family = np.repeat(np.arange(n_fam), counts)
    codes = np.concatenate(
        [
            np.strings.add(
                np.strings.add(
                    f.hs4, np.sort(rng.choice(np.array(_SUBHEADINGS), f.codes, replace=False))
                ),
                rng.choice(np.array(_NATIONAL_SUFFIXES), f.codes),
            )
            for f in FAMILIES
        ]
    )
    price = np.array([f.price for f in FAMILIES])[family]
    spread = np.array([f.spread for f in FAMILIES])[family]
    ref_price = price * np.exp(rng.normal(0.0, 1.0, family.shape[0]) * spread)
    per_kg = np.array([f.per_kg for f in FAMILIES])[family]
    kg_per_unit = np.where(
        per_kg,
        1.0,
        np.array([f.kg_per_unit for f in FAMILIES])[family]
        * np.exp(rng.normal(0.0, _CODE_WEIGHT_SIGMA, family.shape[0])),
    )
    rate = np.concatenate([rng.choice(np.array(f.rates, dtype=float), f.codes) for f in FAMILIES])
    risk = np.array([f.risk for f in FAMILIES])[family] + rng.normal(
        0.0, _CODE_RISK_NOISE, family.shape[0]
    )
    chapter = np.array([int(f.hs4[:2]) for f in FAMILIES])[family]
    flags = _prefix_flags(codes, COMMODITY_CATALOGUE)

    family_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    code_prob = np.zeros((n_fam, counts.max()))
    slot = np.arange(family.shape[0]) - family_start[family]
    code_prob[family, slot] = np.exp(rng.normal(0.0, _CODE_SHARE_SIGMA, family.shape[0]))

    origins = [_parse_origins(f.origins) for f in FAMILIES]
    countries = np.array(sorted({c for o in origins for c in o} | set(HUBS) | {DRIFT_ORIGIN}))
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

    ecom = np.array([f.ecom for f in FAMILIES])
    processing = np.array([f.processing for f in FAMILIES])
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

    return Catalogue(
        codes=codes,
        family=family,
        chapter=chapter,
        ref_price=ref_price,
        kg_per_unit=kg_per_unit,
        rate=rate,
        vat=np.array([f.vat for f in FAMILIES], dtype=float)[family],
        risk=risk,
        per_kg=per_kg,
        listed=flags[:, 0],
        code_prob=code_prob,
        family_start=family_start,
        family_share=np.array([f.share for f in FAMILIES], dtype=float),
        family_lot=np.array([f.lot for f in FAMILIES], dtype=float),
        family_air=np.array([f.air for f in FAMILIES]),
        family_bulk=np.array([f.bulk for f in FAMILIES]),
        countries=countries,
        origin_prob=origin_prob,
        interaction=interaction,
        origin_price=origin_price,
        trade_prob=trade_prob,
        lower_order=lower_order,
        lower_start=lower_start,
        lower_count=lower_count,
    )


def heading_index(hs4: str) -> int:
    """The index of a heading in :data:`FAMILIES` (and in a catalogue's per-heading arrays).

    Args:
        hs4: The heading, as in :attr:`Family.hs4`.

    Returns:
        Its position in :data:`FAMILIES`.

    Raises:
        ValueError: If no product line has that heading.
    """
    return [f.hs4 for f in FAMILIES].index(hs4)
