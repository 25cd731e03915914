"""China customs code lists of the synthetic world: trade modes, transport modes, offices.

The integer constants index these tuples; the generator works on the indices and turns
them into codes only when it builds the tables.
"""

from __future__ import annotations

from typing import Final

# Trade modes (监管方式) and transport modes (运输方式) as China customs codes.
TRADE_MODES: Final = ("0110", "1210", "9610", "0615", "0214", "3010")
GENERAL, BONDED_ECOM, DIRECT_ECOM, PROCESSING, TOLLING, SAMPLES = range(6)
TRANSPORT_MODES: Final = ("2", "4", "5", "6")  # waterway, road, air, post
WATERWAY, ROAD, AIR, POST = range(4)

# Offices of Haikou customs district.
OFFICES: Final = (
    "HAIKOU_PORT", "YANGPU_PORT", "BASUO_PORT", "SANYA_PORT", "MACUN_PORT",
    "MEILAN_AIRPORT", "SANYA_AIRPORT", "HAIKOU_CBZ", "YANGPU_BONDED",
)  # fmt: skip

# Regional hubs goods are transhipped through (country codes).
HUBS: Final = ("HK", "SG", "KR", "MY")
