"""Registers of measures 22 and 12 that certainly meet a given set of declarations.

The generated registers (``portsift generate``) hold a handful of disclosures and
rulings, few of which fall on a small sample of declarations; the tests of the API and
the reports need some that do. :func:`measure_registers` adds, to the generated ones,
disclosures naming some of the declarations (minor and not) and rulings of every kind
on others: valid well past the declaration, ending within the expiry warning, and
expired before it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from portsift.synthetic.generator import SyntheticData

#: How many days after its declaration each added ruling ends, in turn: valid with a
#: long way to go, within the expiry warning (30-90 days), expired the day before, valid
#: (four ends against three kinds: every kind meets every end).
RULING_ENDS = (200, 45, -1, 120)
RULING_KINDS = ("classification", "valuation", "origin")


def measure_registers(
    synthetic: SyntheticData, declarations: pd.DataFrame, *, every: int = 7
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The generated registers plus disclosures and rulings on ``declarations``.

    Args:
        synthetic: The generated data set (its registers are kept).
        declarations: The declarations to meet (``declaration_id``, ``importer_id``,
            ``hs_code``, ``declared_at``).
        every: One declaration in ``every`` gets a disclosure, the one after it rulings.

    Returns:
        ``(disclosures, rulings)``, typed as the loaders type them.
    """
    assert synthetic.disclosures is not None and synthetic.rulings is not None
    named = declarations.iloc[::every]
    disclosures = pd.DataFrame(
        {
            "disclosure_id": [f"TD{i:04d}" for i in range(len(named))],
            "enterprise_id": named["importer_id"].to_numpy(),
            "declaration_id": named["declaration_id"].to_numpy(),
            "disclosed_at": named["declared_at"].dt.normalize().to_numpy(),
            "kind": "valuation",
            "minor": np.resize([1, 0], len(named)),
        }
    )
    ruled = declarations.iloc[1::every].drop_duplicates(["importer_id", "hs_code"])
    day = ruled["declared_at"].dt.normalize().to_numpy(dtype="datetime64[ns]")
    ends = day + np.resize(np.array(RULING_ENDS), len(ruled)).astype("timedelta64[D]")
    rulings = pd.DataFrame(
        {
            "ruling_id": [f"TR{i:04d}" for i in range(len(ruled))],
            "enterprise_id": ruled["importer_id"].to_numpy(),
            "hs_code": ruled["hs_code"].to_numpy(),
            "kind": np.resize(np.array(RULING_KINDS), len(ruled)),
            "valid_from": ends - np.timedelta64(400, "D"),
            "valid_to": ends,
        }
    )
    both = (
        pd.concat([synthetic.disclosures, disclosures], ignore_index=True),
        pd.concat([synthetic.rulings, rulings], ignore_index=True),
    )
    text = {"disclosure_id": "str", "enterprise_id": "str", "declaration_id": "str"}
    return both[0].astype(text), both[1].astype(
        {"ruling_id": "str", "enterprise_id": "str", "hs_code": "str", "kind": "str"}
    )
