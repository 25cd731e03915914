"""The data contract: canonical field names, types, layouts and credit tiers.

Everything that reads or writes an input table refers to the names here, so that
the outside face fixed in ``docs/contract.md`` is written down exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    """

    name: str
    kind: FieldKind
    required: bool = False
    non_negative: bool = False


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
