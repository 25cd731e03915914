"""The parties of the world: importers, brokers and labs, with credit tiers and habits.

Importers and brokers carry a GACC Order 282 credit tier and a tier history (downgrades,
upgrades, credit restoration during the period), a violation propensity, and their
habits (main product line, primary broker, preferred lab, price level, lot size). The
drift ring's importers are appended after the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from portsift.features.contract import CREDIT_TIERS
from portsift.synthetic.catalogue import FAMILIES, Catalogue, heading_index
from portsift.synthetic.draws import pick, uniform_between
from portsift.synthetic.drift import (
    DRIFT_ENTRY_DAYS,
    DRIFT_HS4,
    DRIFT_IMPORTERS_AT_REFERENCE,
    DRIFT_REGISTERED_SHARE,
    DRIFT_VOLUME_SIGMA,
)
from portsift.synthetic.period import mass_before

_ADVANCED, _CERTIFIED, _REGULAR, _DISHONEST, _SERIOUSLY = range(len(CREDIT_TIERS))
NO_CHANGE: Final = -1
_NEVER: Final = np.iinfo(np.int64).max  # change day of an enterprise whose tier never changes

# Sizes. Firm counts grow sub-linearly with trade: more trade mostly means bigger
# firms trading more, not proportionally more firms.
REFERENCE_ROWS: Final = 100_000
_IMPORTERS_AT_REFERENCE: Final = 3_000
_IMPORTER_EXPONENT: Final = 0.6
_BROKERS_AT_REFERENCE: Final = 300
_BROKER_EXPONENT: Final = 0.5
_MIN_IMPORTERS: Final = 20
_MIN_BROKERS: Final = 5

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
_BAD_ACTOR_SHARE: Final = 0.07
BAD_ACTOR_THRESHOLD: Final = 1.2  # importer effect above which a firm behaves as a bad actor
# True violation propensity (log-odds). The tier shifts describe the nature of a firm;
# the tier is a consequence of behaviour, so downgraded firms carry the dishonest shift
# over the whole period, not only after the downgrade.
_TIER_SHIFT: Final = (-1.7, -1.3, 0.0, 1.2, 1.6)
_IMPORTER_NOISE: Final = 0.55
_BAD_ACTOR_MEAN_BOOST: Final = 1.0
# Firms change: a firm's propensity drifts linearly over the period by N(0, sigma)
# log-odds from the first day to the last, so that old history predicts imperfectly.
_IMPORTER_DRIFT_SIGMA: Final = 0.8
_ENTRANT_SHIFT: Final = 0.3
_SIZE_RISK_SLOPE: Final = 0.1  # per sd of log volume: big firms have more to lose
_BROKER_NOISE: Final = 0.4
_BROKER_VOLUME_SIGMA: Final = 1.2
_BROKER_TIER_SHARES: Final = (0.003, 0.01, 0.958, 0.025, 0.004)  # brokers are AEO less often
_BAD_BROKER_DISHONEST: Final = 0.25  # share of bad brokers already caught and downgraded
_BAD_ACTOR_BAD_BROKER: Final = 0.4  # bad actors seek out the brokers that look away
_AEO_EFFECT_CAP: Final = 0.5  # certification audits cap how bad an AEO firm can be
_BAD_BROKER_SHARE: Final = 0.06
_BAD_BROKER_BOOST: Final = 1.4
_IMPORTER_PRICE_SIGMA: Final = 0.25
_LOT_SIZE_SLOPE: Final = 0.2  # per sd of log volume: big firms ship bigger lots

# Third-party lab reports (采信). Eight accredited labs, two unaccredited but honest,
# two rubber-stamp labs whose passes say nothing; one accredited lab loses its
# accreditation during the period.
_LAB_KINDS: Final = (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2)
ACCREDITED_LAB, HONEST_LAB, RUBBER_STAMP_LAB = 0, 1, 2
_LAB_REVOKED_AT: Final = 0.55  # share of the period after which the lab is delisted
_ACCREDITED_LAB_WEIGHT: Final = 6.0  # market share of an accredited lab vs. another lab
_LAB_WEIGHT_SIGMA: Final = 0.5
_BAD_ACTOR_RUBBER_STAMP: Final = 0.45


@dataclass(frozen=True)
class Brokers:
    """Customs brokers (declarants)."""

    weight: np.ndarray
    effect: np.ndarray
    tier: np.ndarray
    since: np.ndarray  # day offset of tier_since
    bad: np.ndarray  # bool
    ring: int  # the broker the drift ring uses


@dataclass(frozen=True)
class Labs:
    """Testing institutions."""

    kind: np.ndarray
    weight: np.ndarray
    revoked: int  # the accredited lab that is delisted during the period
    revoked_day: int


@dataclass(frozen=True)
class Importers:
    """Importers; the drift ring's members are the last ``ring`` entries."""

    weight: np.ndarray  # relative daily declaration intensity
    entry: np.ndarray  # first day the firm can declare (< 0: active before the period)
    tier0: np.ndarray
    tier1: np.ndarray  # tier after the change, or NO_CHANGE
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


def _tier_from_shares(
    rng: np.random.Generator, count: int, shares: tuple[float, ...]
) -> np.ndarray:
    cum = np.cumsum(shares)
    return np.minimum(
        np.searchsorted(cum / cum[-1], rng.random(count), side="right"), len(shares) - 1
    )


def build_brokers(rng: np.random.Generator, count: int) -> Brokers:
    """Brokers: heavy-tailed volume, a few bad ones, tiers roughly as importers'.

    Args:
        rng: The world's random stream.
        count: Number of brokers.

    Returns:
        The brokers, with the small honest one the drift ring uses.
    """
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
    return Brokers(weight=weight, effect=effect, tier=tier, since=since, bad=bad, ring=ring)


def build_labs(rng: np.random.Generator, days: int) -> Labs:
    """Testing institutions: their kind, market weight, and the lab delisted mid-period.

    Args:
        rng: The world's random stream.
        days: Length of the period in days.

    Returns:
        The labs.
    """
    kind = np.array(_LAB_KINDS)
    weight = np.where(kind == ACCREDITED_LAB, _ACCREDITED_LAB_WEIGHT, 1.0) * np.exp(
        rng.normal(0.0, _LAB_WEIGHT_SIGMA, kind.shape[0])
    )
    revoked = int(rng.choice(np.flatnonzero(kind == ACCREDITED_LAB)))
    return Labs(
        kind=kind, weight=weight, revoked=revoked, revoked_day=round(days * _LAB_REVOKED_AT)
    )


def importer_count(rows: int) -> int:
    """Number of importers for ``rows`` declarations (sub-linear in the rows)."""
    scale = (rows / REFERENCE_ROWS) ** _IMPORTER_EXPONENT
    return max(_MIN_IMPORTERS, round(_IMPORTERS_AT_REFERENCE * scale))


def broker_count(rows: int) -> int:
    """Number of brokers for ``rows`` declarations (sub-linear in the rows)."""
    return max(
        _MIN_BROKERS, round(_BROKERS_AT_REFERENCE * (rows / REFERENCE_ROWS) ** _BROKER_EXPONENT)
    )


def ring_importer_count(rows: int) -> int:
    """Number of importers in the drift ring for ``rows`` declarations."""
    return max(3, round(DRIFT_IMPORTERS_AT_REFERENCE * (rows / REFERENCE_ROWS) ** 0.3))


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
    aeo = pick(rng, pool, n_aeo)
    n_advanced = round(_ADVANCED_SHARE_OF_AEO * aeo.shape[0])
    tier0[aeo[:n_advanced]] = _ADVANCED
    tier0[aeo[n_advanced:]] = _CERTIFIED
    others = np.flatnonzero(tier0 == _REGULAR)
    if others.size:
        others = others[weight[others] >= np.quantile(weight[others], _DISHONEST_POOL_QUANTILE)]
    low = pick(rng, others, round((_DISHONEST_FIRM_SHARE + _SERIOUSLY_FIRM_SHARE) * n))
    n_seriously = round(_SERIOUSLY_FIRM_SHARE * n)
    tier0[low[:n_seriously]] = _SERIOUSLY
    tier0[low[n_seriously:]] = _DISHONEST

    tier1 = np.full(n, NO_CHANGE)
    change_day = np.full(n, _NEVER, dtype=np.int64)
    nature = tier0.copy()
    restored = np.zeros(n, dtype=bool)
    if days >= _MIN_DAYS_FOR_CHANGES:
        regular = np.flatnonzero(tier0 == _REGULAR)
        down = pick(
            rng,
            regular,
            round(_DOWNGRADE_SHARE * n),
            p=np.exp(_DOWNGRADE_EFFECT_WEIGHT * effect[regular]),
        )
        tier1[down] = np.where(
            rng.random(down.shape[0]) < _DOWNGRADE_TO_SERIOUSLY, _SERIOUSLY, _DISHONEST
        )
        nature[down] = tier1[down]
        regular = np.flatnonzero((tier0 == _REGULAR) & (tier1 == NO_CHANGE) & ~entrant)
        big = (
            regular[weight[regular] >= np.quantile(weight[regular], _UPGRADE_POOL_QUANTILE)]
            if regular.size
            else regular
        )
        good = big[effect[big] <= np.median(effect[big])] if big.size else big
        up = pick(rng, good, round(_UPGRADE_SHARE * n))
        tier1[up] = _CERTIFIED
        nature[up] = _CERTIFIED
        dishonest = np.flatnonzero(tier0 == _DISHONEST)
        back = pick(rng, dishonest, round(_RESTORED_SHARE_OF_DISHONEST * dishonest.shape[0]))
        tier1[back] = _REGULAR
        restored[back] = True
    shift = np.asarray(_TIER_SHIFT)[nature] * np.where(restored, _RESTORED_SHIFT_FACTOR, 1.0)
    return tier0, tier1, change_day, shift


def build_importers(
    rng: np.random.Generator,
    count: int,
    ring_count: int,
    cdf: np.ndarray,
    brokers: Brokers,
    labs: Labs,
    catalogue: Catalogue,
    drift_start: int,
) -> Importers:
    """Importers with volumes, entry days, tiers and tier histories, and habits.

    Args:
        rng: The world's random stream.
        count: Number of importers besides the drift ring.
        ring_count: Number of importers in the drift ring.
        cdf: Cumulative day shares of the period.
        brokers: The brokers, for primary brokers.
        labs: The labs, for preferred labs.
        catalogue: The catalogue, for main product lines.
        drift_start: Day the drift ring starts trading.

    Returns:
        The importers, the drift ring's last.
    """
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
    changed = np.flatnonzero(tier1 != NO_CHANGE)
    low = np.maximum(entry[changed], 0) + _CHANGE_MARGIN_DAYS[0]
    high = np.maximum(low + 1, days - _CHANGE_MARGIN_DAYS[1])
    change_day[changed] = uniform_between(rng, low, high)
    # Entrants whose change would fall after the period keep their tier.
    late = changed[change_day[changed] >= days]
    tier1[late] = NO_CHANGE
    change_day[late] = _NEVER

    mass = 1.0 - mass_before(cdf, entry)
    aeo = tier0 <= _CERTIFIED
    aeo_volume = (weight * mass)[aeo].sum()
    if aeo_volume > 0 and (~aeo).any():
        other_volume = (weight * mass)[~aeo].sum()
        target = _AEO_DECLARATION_SHARE / (1.0 - _AEO_DECLARATION_SHARE)
        weight = np.where(aeo, weight * target * other_volume / aeo_volume, weight)

    simple = (tier0 == _REGULAR) & (tier1 == NO_CHANGE) & (weight < np.median(weight))
    registered = ~(simple & (rng.random(count) < _UNREGISTERED_SHARE_OF_SMALL))
    since0 = np.where(entry < 0, -rng.integers(30, 2500, count), entry - rng.integers(0, 45, count))

    # The drift ring: new importers entering just after the drift starts.
    ring_entry = drift_start + rng.integers(
        0, max(1, min(DRIFT_ENTRY_DAYS, days - drift_start)), ring_count
    )
    ring_weight = np.exp(rng.normal(0.0, DRIFT_VOLUME_SIGMA, ring_count))
    ring_registered = rng.random(ring_count) < DRIFT_REGISTERED_SHARE
    ring_since = ring_entry - rng.integers(0, 20, ring_count)

    bad_actor = effect > BAD_ACTOR_THRESHOLD
    broker_p = brokers.weight / brokers.weight.sum()
    primary = rng.choice(brokers.weight.shape[0], count, p=broker_p)
    bad_brokers = np.flatnonzero(brokers.bad)
    if bad_brokers.size:
        to_bad = bad_actor & (rng.random(count) < _BAD_ACTOR_BAD_BROKER)
        primary[to_bad] = rng.choice(bad_brokers, int(to_bad.sum()))
    lab_p = labs.weight / labs.weight.sum()
    lab = rng.choice(labs.kind.shape[0], count, p=lab_p)
    rubber = np.flatnonzero(labs.kind == RUBBER_STAMP_LAB)
    to_rubber = bad_actor & (rng.random(count) < _BAD_ACTOR_RUBBER_STAMP)
    lab[to_rubber] = rng.choice(rubber, int(to_rubber.sum()))
    # AEO firms keep their own compliance standards and use accredited labs only.
    accredited = np.flatnonzero(labs.kind == ACCREDITED_LAB)
    accredited_p = labs.weight[accredited] / labs.weight[accredited].sum()
    aeo_firm = aeo_nature & ~bad_actor
    lab[aeo_firm] = rng.choice(accredited, int(aeo_firm.sum()), p=accredited_p)
    family_p = catalogue.family_share / catalogue.family_share.sum()
    drift_family = heading_index(DRIFT_HS4)

    def join(base: np.ndarray, ring: np.ndarray | float | int | bool) -> np.ndarray:
        return np.concatenate([base, np.broadcast_to(ring, (ring_count,)).astype(base.dtype)])

    return Importers(
        weight=join(weight, ring_weight),
        entry=join(entry, ring_entry),
        tier0=join(tier0, _REGULAR),
        tier1=join(tier1, NO_CHANGE),
        change_day=join(change_day, _NEVER),
        since0=join(since0, ring_since),
        registered=join(registered, ring_registered),
        effect=join(effect, _ENTRANT_SHIFT),
        drift=join(rng.normal(0.0, _IMPORTER_DRIFT_SIGMA, count), 0.0),
        main_family=join(rng.choice(len(FAMILIES), count, p=family_p), drift_family),
        primary_broker=join(primary, brokers.ring),
        preferred_lab=join(lab, 0),
        price_level=join(np.exp(rng.normal(0.0, _IMPORTER_PRICE_SIGMA, count)), 1.0),
        lot_scale=join(np.exp(_LOT_SIZE_SLOPE * z), 1.0),
        ring=ring_count,
    )


def tier_on_day(importers: Importers, importer: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Credit tier in force for each ``importer`` on each ``day``.

    Args:
        importers: The importers and their tier histories.
        importer: Importer index of each row.
        day: Day offset of each row.

    Returns:
        Tier index (into ``CREDIT_TIERS``) per row.
    """
    changed = day >= importers.change_day[importer]
    return np.where(changed, importers.tier1[importer], importers.tier0[importer])
