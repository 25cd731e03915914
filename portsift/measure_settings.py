"""Settings of Haikou Customs' 2024 measures 8 and 14, and the goods classes they share.

``[selection.remote_inspection]`` and ``[selection.release]`` are part of the one settings
object of :mod:`portsift.settings`, which re-exports these classes; they are kept apart so
that ``settings.py`` stays a file a reader can hold. Imports nothing of portsift.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

#: An HS prefix: 2 to 10 digits.
HS_PREFIX = r"^[0-9]{2,10}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _hs_prefixes(value: tuple[str, ...]) -> tuple[str, ...]:
    bad = [p for p in value if not re.match(HS_PREFIX, p)]
    if bad:
        raise ValueError(f"hs_prefixes must be 2 to 10 digits: {bad}")
    return value


#: HS prefixes of a goods class (at least one, each 2 to 10 digits).
HsPrefixes = Annotated[tuple[str, ...], Field(min_length=1), AfterValidator(_hs_prefixes)]


class GoodsClassSettings(_Frozen):
    """A named goods class: the HS prefixes that make it up."""

    name: str
    name_zh: str
    hs_prefixes: HsPrefixes


class RemoteInspectionSettings(_Frozen):
    """Remote video inspection (远程视频查验, Haikou Customs 2024 measure 8).

    A selection that would go to physical inspection (``red``, not by an officer rule)
    is inspected by video instead (``red_remote``) when its importer's register tier is
    one of ``credit_tiers``, its goods are in one of ``goods``, it is not perishable
    (unless ``perishable``), and its declared weight per unit is known and within
    ``weight_ratio`` of its reference either way (a video cannot weigh; None: the lanes'
    ``physical_weight_ratio``). It stays in the budget; ``inspection_hours`` is its
    inspection deadline.
    """

    enabled: bool
    credit_tiers: tuple[str, ...]
    goods: tuple[GoodsClassSettings, ...]
    perishable: bool = False
    weight_ratio: float | None = Field(default=None, gt=1)
    inspection_hours: float = Field(gt=0)
    source: str
    source_zh: str


class ReleaseClassSettings(_Frozen):
    """Goods that may be released under a condition, and in which lanes."""

    lanes: tuple[Literal["red", "red_sampling", "red_remote"], ...] = Field(min_length=1)
    hs_prefixes: HsPrefixes
    trade_modes: tuple[str, ...] | None = None


class ReleaseSettings(_Frozen):
    """Conditional release (附条件先行提离 / 附条件放行, Haikou Customs 2024 measure 14).

    A selection in one of a class's ``lanes`` whose goods are in its ``hs_prefixes``
    (and, where given, declared under one of its ``trade_modes``), that no officer rule
    selected and whose lab report did not fail, gets ``release_condition``:
    ``conditional_release`` for ``duty_free`` (offshore duty-free food and cosmetics),
    else ``conditional_early_release`` for ``early`` (goods whose prohibited-entry and
    licence risk is excluded).
    """

    enabled: bool
    early: ReleaseClassSettings
    duty_free: ReleaseClassSettings
    source: str
    source_zh: str
