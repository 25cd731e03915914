"""Third-party lab reports (采信) of acceptance-listed goods.

Which rows carry a report, from which lab, how old, whether it passed, and how much the
report moves the true violation odds: an accredited pass says a lot, a rubber-stamp
lab's pass nothing, and a missing report is itself a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from portsift.synthetic.catalogue import Catalogue
from portsift.synthetic.codes import SAMPLES
from portsift.synthetic.parties import (
    ACCREDITED_LAB,
    BAD_ACTOR_THRESHOLD,
    HONEST_LAB,
    Importers,
    Labs,
)
from portsift.synthetic.trade import Rows

# Who carries a report, from which lab, how old; how likely a lab fails a risky row; and
# the log-odds shift each kind of report (or its absence) puts on the true propensity.
_REPORT_SHARE: Final = 0.88
_BAD_ACTOR_REPORT_DROP: Final = 0.25
_PREFERRED_LAB_SHARE: Final = 0.7
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


@dataclass(frozen=True)
class Reports:
    """Lab reports of the rows that carry one."""

    has_report: np.ndarray  # bool per row
    lab: np.ndarray  # per row, -1 without report
    accredited: np.ndarray  # bool per row
    passed: np.ndarray  # bool per row
    issued_day: np.ndarray  # per row
    effect: np.ndarray  # log-odds shift per row


def draw_reports(
    rng: np.random.Generator,
    catalogue: Catalogue,
    importers: Importers,
    labs: Labs,
    rows: Rows,
    propensity: np.ndarray,
) -> Reports:
    """Lab reports of acceptance-listed goods and their effect on the violation odds.

    Args:
        rng: The world's random stream.
        catalogue: The tariff catalogue, for the acceptance listing.
        importers: The importers, for bad actors and preferred labs.
        labs: The labs.
        rows: The rows.
        propensity: Log-odds of violating before the reports, per row.

    Returns:
        The reports per row and their effect on the log-odds.
    """
    n = rows.code.shape[0]
    listed = catalogue.listed[rows.code] & (rows.trade != SAMPLES)
    bad = importers.effect[rows.importer] > BAD_ACTOR_THRESHOLD
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
    accredited = (kind == ACCREDITED_LAB) & ~delisted
    reliable = accredited | (kind == HONEST_LAB)
    centred = propensity - np.median(propensity) if n else propensity
    p_fail = np.where(
        reliable,
        np.minimum(_FAIL_BASE * np.exp(_FAIL_SLOPE * centred), _FAIL_CAP),
        _UNRELIABLE_FAIL,
    )
    passed = rng.random(n) >= p_fail
    pass_effect = np.select(
        [expired, accredited, kind == HONEST_LAB, delisted],
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
    return Reports(
        has_report=has_report,
        lab=np.where(has_report, lab, -1),
        accredited=accredited & has_report,
        passed=passed,
        issued_day=issued_day,
        effect=effect,
    )
