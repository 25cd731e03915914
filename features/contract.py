"""The data contract: canonical field names, types, layouts and credit tiers.

Everything that reads or writes an input table refers to the names here, so that
the outside face fixed in ``docs/contract.md`` is written down exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

FieldKind = Literal["id", "text", "code", "date", "number", "flag"]


@dataclass(frozen=True)
class Field:
    """One canonical column of an input table.

    Attributes:
        name: Canonical snake_case name.
        kind: How the column is parsed and validated.
        required: Whether a table without this column is rejected.
        non_negative: For numbers, whether negative values are invalid.
        choices: For text with a closed set of values: accepted spelling (compared
            lower-cased) -> canonical value; empty for free text.
        choices_reason: Completes "N rows with ..." for a value outside ``choices``.
    """

    name: str
    kind: FieldKind
    required: bool = False
    non_negative: bool = False
    choices: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    choices_reason: str = ""


DECLARATION_FIELDS: Final[tuple[Field, ...]] = (
    Field("declaration_id", "id", required=True),
    Field("declared_at", "date", required=True),
    Field("importer_id", "id", required=True),
    Field("hs_code", "code", required=True),
    Field("declared_value", "number", required=True, non_negative=True),
    Field("declarant_id", "id"),
    Field("origin_country", "text"),
    Field("departure_country", "text"),
    Field("customs_office", "text"),
    Field("quantity", "number", non_negative=True),
    Field("gross_weight", "number", non_negative=True),
    Field("net_weight", "number", non_negative=True),
    Field("fob_value", "number", non_negative=True),
    Field("total_taxes", "number", non_negative=True),
    Field("tax_rate", "number", non_negative=True),
    Field("trade_mode", "text"),
    Field("transport_mode", "text"),
    Field("inspected", "flag"),
    Field("illicit", "flag"),
    Field("revenue", "number", non_negative=True),
)

#: Fields that only exist where inspections were carried out (training labels).
LABEL_FIELDS: Final[tuple[str, ...]] = ("inspected", "illicit", "revenue")

#: Lab report fields that the API accepts inline on a declaration.
INLINE_LAB_FIELDS: Final[tuple[str, ...]] = ("lab_id", "lab_accredited", "lab_result", "issued_at")

ENTERPRISE_FIELDS: Final[tuple[Field, ...]] = (
    Field("enterprise_id", "id", required=True),
    Field("credit_tier", "text", required=True),
    Field("tier_since", "date", required=True),
)

LAB_RESULT_FIELDS: Final[tuple[Field, ...]] = (
    Field("declaration_id", "id", required=True),
    Field("lab_id", "id", required=True),
    Field("lab_accredited", "flag", required=True),
    Field("lab_result", "text", required=True),
    Field("issued_at", "date", required=True),
)

COMMODITY_FIELDS: Final[tuple[Field, ...]] = (
    Field("hs_prefix", "code", required=True),
    Field("acceptance_listed", "flag", required=True),
    Field("perishable", "flag", required=True),
)

#: Kinds of an advance ruling (预裁定), canonical name first; the Chinese names of the
#: ruling decisions are accepted too.
RULING_KINDS: Final[tuple[str, ...]] = ("classification", "valuation", "origin")
RULING_KIND_ALIASES: Final[dict[str, str]] = {
    "classification": "classification",
    "归类": "classification",
    "商品归类": "classification",
    "valuation": "valuation",
    "价格": "valuation",
    "完税价格": "valuation",
    "origin": "origin",
    "原产地": "origin",
}

#: Voluntary disclosures (主动披露, Haikou Customs 2024 measure 22): one row per
#: disclosure an enterprise lodged, optionally naming the declaration it concerns.
DISCLOSURE_FIELDS: Final[tuple[Field, ...]] = (
    Field("disclosure_id", "id", required=True),
    Field("enterprise_id", "id", required=True),
    Field("declaration_id", "id"),
    Field("disclosed_at", "date", required=True),
    Field("kind", "text", required=True),
    Field("minor", "flag", required=True),
)

#: Advance rulings (预裁定, Haikou Customs 2024 measure 12): one row per ruling an
#: enterprise holds on an HS code, valid from ``valid_from`` to ``valid_to`` inclusive.
RULING_FIELDS: Final[tuple[Field, ...]] = (
    Field("ruling_id", "id", required=True),
    Field("enterprise_id", "id", required=True),
    Field("hs_code", "code", required=True),
    Field(
        "kind",
        "text",
        required=True,
        choices=RULING_KIND_ALIASES,
        choices_reason="a ruling kind other than classification, valuation or origin",
    ),
    Field("valid_from", "date", required=True),
    Field("valid_to", "date", required=True),
)

#: Credit tiers of GACC Order 282, from most to least trusted. The position is the
#: ordinal used as a model feature.
CREDIT_TIERS: Final[tuple[str, ...]] = (
    "advanced",
    "certified",
    "regular",
    "dishonest",
    "seriously_dishonest",
)
DEFAULT_TIER: Final[str] = "regular"

#: Accepted spellings of each tier (lower-cased English, the Chinese register names).
TIER_ALIASES: Final[dict[str, str]] = {
    "advanced": "advanced",
    "advanced_certified": "advanced",
    "高级认证企业": "advanced",
    "certified": "certified",
    "认证企业": "certified",
    "regular": "regular",
    "常规管理企业": "regular",
    "其他注册登记企业": "regular",
    "dishonest": "dishonest",
    "失信企业": "dishonest",
    "seriously_dishonest": "seriously_dishonest",
    "seriously dishonest": "seriously_dishonest",
    "严重失信企业": "seriously_dishonest",
}

LAB_RESULTS: Final[tuple[str, ...]] = ("pass", "fail")

#: WCO BACUDA / DATE research layout: file column -> canonical field.
BACUDA_COLUMNS: Final[dict[str, str]] = {
    "sgd.id": "declaration_id",
    "sgd.date": "declared_at",
    "importer.id": "importer_id",
    "declarant.id": "declarant_id",
    "country": "origin_country",
    "office.id": "customs_office",
    "tariff.code": "hs_code",
    "quantity": "quantity",
    "gross.weight": "gross_weight",
    "fob.value": "fob_value",
    "cif.value": "declared_value",
    "total.taxes": "total_taxes",
    "illicit": "illicit",
    "revenue": "revenue",
}
#: The columns whose presence identifies a BACUDA file.
BACUDA_SIGNATURE: Final[frozenset[str]] = frozenset(
    {"sgd.id", "sgd.date", "importer.id", "tariff.code", "cif.value"}
)
#: ``sgd.date`` is written ``YY-MM-DD``.
BACUDA_DATE_FORMAT: Final[str] = "%y-%m-%d"


def field_names(fields: tuple[Field, ...]) -> list[str]:
    """Return the canonical names of ``fields`` in contract order."""
    return [f.name for f in fields]


def required_names(fields: tuple[Field, ...]) -> list[str]:
    """Return the names of the required fields among ``fields``."""
    return [f.name for f in fields if f.required]
