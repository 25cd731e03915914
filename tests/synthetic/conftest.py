"""Shared worlds of the synthetic tests: one 20,000-row world and its truth, one of 100,000 rows."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from portsift.features.contract import Field
from portsift.synthetic.generator import (
    SyntheticData,
    generate_synthetic,
    generate_synthetic_with_truth,
)

ROWS = 20_000
SEED = 11
#: The tables the generator wrote before the measures' registers existed (their bytes
#: are pinned), and the registers of measures 22 and 12 drawn after them.
TABLES = ("declarations", "enterprises", "lab_results", "commodities")
MEASURE_TABLES = ("disclosures", "rulings")
ALL_TABLES = (*TABLES, *MEASURE_TABLES)
AEO = ("advanced", "certified")
LOW_TIERS = ("dishonest", "seriously_dishonest")


@pytest.fixture(scope="session")
def world() -> tuple[SyntheticData, pd.DataFrame]:
    return generate_synthetic_with_truth(ROWS, SEED, "2024-01-01", 730)


@pytest.fixture(scope="session")
def data(world: tuple[SyntheticData, pd.DataFrame]) -> SyntheticData:
    return world[0]


@pytest.fixture(scope="session")
def truth(world: tuple[SyntheticData, pd.DataFrame]) -> pd.DataFrame:
    return world[1]


@pytest.fixture(scope="session")
def timed_100k() -> tuple[SyntheticData, float]:
    began = time.perf_counter()
    generated = generate_synthetic(100_000, seed=3)
    return generated, time.perf_counter() - began


def tier_in_force(declarations: pd.DataFrame, enterprises: pd.DataFrame) -> pd.Series:
    """Point-in-time tier of each declaration's importer (regular when unregistered)."""
    left = declarations[["declaration_id", "importer_id", "declared_at"]].sort_values("declared_at")
    right = enterprises.rename(columns={"enterprise_id": "importer_id"}).sort_values("tier_since")
    merged = pd.merge_asof(
        left, right, left_on="declared_at", right_on="tier_since", by="importer_id"
    )
    tiers = merged.set_index("declaration_id")["credit_tier"].fillna("regular")
    return tiers.reindex(declarations["declaration_id"]).set_axis(declarations.index)


def listed_codes(codes: pd.Series, commodities: pd.DataFrame) -> pd.Series:
    """acceptance_listed of each code by the longest matching prefix."""
    flags = dict(zip(commodities["hs_prefix"], commodities["acceptance_listed"], strict=True))

    def lookup(code: str) -> int:
        for length in range(len(code), 1, -1):
            if code[:length] in flags:
                return int(flags[code[:length]])
        return 0

    unique = codes.drop_duplicates()
    return codes.map(dict(zip(unique, unique.map(lookup), strict=True)))


def assert_kind(series: pd.Series, field: Field) -> None:
    if field.kind in ("id", "text", "code"):
        assert pd.api.types.is_string_dtype(series), field.name
        assert series.dtype != object, field.name
        assert series.notna().all(), field.name
    elif field.kind == "date":
        assert pd.api.types.is_datetime64_any_dtype(series), field.name
        assert series.notna().all(), field.name
    elif field.kind == "number":
        assert pd.api.types.is_float_dtype(series), field.name
    else:
        assert pd.api.types.is_numeric_dtype(series), field.name
        assert set(series.dropna().unique()) <= {0, 1}, field.name


@pytest.fixture(scope="session")
def identity_world() -> tuple[SyntheticData, pd.DataFrame]:
    return generate_synthetic_with_truth(ROWS, SEED, "2024-01-01", 730, "identity")
