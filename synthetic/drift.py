"""The late fraud ring, the generator's concept drift.

In the last part of the period a ring of new importers, all through one broker,
undervalues phones through bonded e-commerce from one origin that phones never came
from before. Its parameters live here together because every stage of the world reads
them: the catalogue (the origin), the parties (the ring's importers and broker), the
rows, the violation rate and the fraud itself.
"""

from __future__ import annotations

from typing import Final

# Drift: in the last 22% of the period a ring of new importers, all through one broker,
# undervalues phones through bonded e-commerce from one origin. Phones never come from
# that origin before. The ring is small (1-2% of the late rows) so that it does not fill
# the top of every ranking of a late hold-out.
DRIFT_PERIOD_SHARE: Final = 0.22
DRIFT_ROW_SHARE: Final = 0.003
DRIFT_IMPORTERS_AT_REFERENCE: Final = 8
DRIFT_HS4: Final = "8517"
DRIFT_ORIGIN: Final = "AE"
DRIFT_TRADE_MODE: Final = "1210"
DRIFT_VIOLATION_RATE: Final = 0.8
DRIFT_UNDERVALUATION_RANGE: Final = (0.2, 0.5)
DRIFT_ENTRY_DAYS: Final = 30  # ring members enter within a month of the drift start
DRIFT_VOLUME_SIGMA: Final = 0.5
DRIFT_REGISTERED_SHARE: Final = 0.5  # half the ring registered just before trading
