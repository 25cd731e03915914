"""The registers of measures 22 and 12 on the API's per-request path.

The compiled path (:mod:`portsift.features.online`) computes the disclosure history and
the candidate disclosures (:mod:`portsift.features.disclosure`) and the matching
advance rulings (:mod:`portsift.features.ruling`) by calling the very functions the
pandas pipeline calls, on a frame of the four declaration fields they read. They are
vectorised (sorted searches and one merge on the importer), so a request pays a few
pandas operations and no per-declaration Python loop, and the columns are those of
:meth:`portsift.features.pipeline.FeaturePipeline.transform` by construction (held to
it by ``tests/features/test_online.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from portsift.features import disclosure, ruling

#: The declaration fields the two registers are matched on.
_FIELDS: tuple[str, ...] = ("declaration_id", "importer_id", "hs_code")


@dataclass(frozen=True)
class MeasureRegisters:
    """The registers of voluntary disclosures and advance rulings a worker serves with.

    Attributes:
        disclosures: The validated register of disclosures (None: not in force).
        rulings: The validated register of advance rulings (None: not in force).
    """

    disclosures: pd.DataFrame | None = None
    rulings: pd.DataFrame | None = None

    @property
    def in_force(self) -> bool:
        """Whether either register is given."""
        return self.disclosures is not None or self.rulings is not None

    def frame(self, columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """The history features and context columns of measures 22 and 12 of declarations.

        Args:
            columns: Canonical declaration fields as arrays (``declaration_id``,
                ``importer_id``, ``hs_code``, ``declared_at``).

        Returns:
            :data:`portsift.features.disclosure.HISTORY_FEATURES` and ``CONTEXT_COLUMNS``
            when a disclosures register is given, the ruling context columns when a
            rulings register is given; one row per declaration, in order.
        """
        n = len(columns["declaration_id"])
        # The dtypes of the loader's frame (text in pandas' ``str``), so that the shared
        # functions read exactly what they read in a batch.
        declarations = pd.DataFrame(
            {name: pd.Series(columns[name], dtype="str") for name in _FIELDS},
            index=pd.RangeIndex(n),
        )
        declarations["declared_at"] = np.asarray(columns["declared_at"], dtype="datetime64[ns]")
        parts = [
            disclosure.disclosure_columns(declarations, self.disclosures),
            ruling.ruling_columns(declarations, self.rulings),
        ]
        return pd.concat(parts, axis=1)
