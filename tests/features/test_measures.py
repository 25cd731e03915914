"""The features and context of measures 22 (disclosures) and 12 (rulings): point in time."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from portsift.features import disclosure, ruling
from portsift.features.pipeline import FeaturePipeline, Registers
from portsift.synthetic.generator import SyntheticData


def _declarations(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["declaration_id", "declared_at", "importer_id", "hs_code"])
    return frame.assign(declared_at=pd.to_datetime(frame["declared_at"], format="ISO8601"))


def _disclosures(rows: list[tuple[str, str, str | None, str, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=["disclosure_id", "enterprise_id", "declaration_id", "disclosed_at", "minor"]
    )
    return frame.assign(
        disclosed_at=pd.to_datetime(frame["disclosed_at"]),
        declaration_id=frame["declaration_id"].astype("str"),
        kind="valuation",
        minor=frame["minor"].astype("float64"),
    )


def test_history_counts_disclosures_of_earlier_days_only() -> None:
    declarations = _declarations(
        [
            ("D1", "2024-01-05 09:00", "I1", "6203419090"),
            ("D2", "2024-01-06", "I1", "6203419090"),
            ("D3", "2024-01-10", "I1", "6203419090"),
            ("D4", "2024-01-11", "I1", "6203419090"),
            ("D5", "2024-01-11", "I2", "6203419090"),
            ("D6", "2024-01-11", "I9", "6203419090"),
        ]
    )
    register = _disclosures(
        [
            ("X1", "I1", None, "2024-01-05", 1),
            ("X2", "I1", "D3", "2024-01-10", 0),
            ("X3", "I2", None, "2024-01-12", 1),
        ]
    )
    out = disclosure.disclosure_columns(declarations, register)
    assert out["importer_disclosures"].tolist() == [0, 1, 1, 2, 0, 0]
    since = out["importer_days_since_disclosure"].tolist()
    assert since[1:4] == [1.0, 5.0, 1.0]
    assert np.isnan([since[0], since[4], since[5]]).all()
    # The disclosure naming D3 is its candidate; the importer's next general one is X1
    # for D1 (same day) and X3 for D5 (a later day).
    assert out["named_disclosure_id"].tolist()[2] == "X2"
    assert out["named_disclosure_id"].isna().sum() == 5
    assert out["named_disclosure_minor"].tolist()[2] == 0.0
    assert out["named_disclosed_at"].iloc[2] == pd.Timestamp("2024-01-10")
    general = (
        out["enterprise_disclosure_id"]
        .astype(object)
        .where(out["enterprise_disclosure_id"].notna(), None)
    )
    assert general.tolist() == ["X1", None, None, None, "X3", None]
    assert out["enterprise_disclosed_at"].iloc[4] == pd.Timestamp("2024-01-12")


def test_no_register_no_column() -> None:
    declarations = _declarations([("D1", "2024-01-05", "I1", "6203419090")])
    assert disclosure.disclosure_columns(declarations, None).columns.tolist() == []
    assert ruling.ruling_columns(declarations, None).columns.tolist() == []


def test_rulings_match_importer_code_and_validity() -> None:
    declarations = _declarations(
        [
            ("D1", "2024-03-01", "I1", "6203419090"),  # R1 (full code), R2 (6 digits)
            ("D2", "2024-03-01", "I1", "6203419010"),  # R2 only: R1's ten digits differ
            ("D3", "2025-03-01", "I1", "6203419090"),  # R1 expired, R3 not yet, R4 valid
            ("D4", "2024-03-01", "I2", "6203419090"),  # another importer's rulings
            ("D5", "2024-12-31 18:00", "I1", "6203419090"),  # R1's last day
        ]
    )
    rulings = pd.DataFrame(
        [
            ("R1", "I1", "6203419090", "classification", "2024-01-01", "2024-12-31"),
            ("R2", "I1", "620341", "valuation", "2024-01-01", "2024-12-31"),
            ("R3", "I1", "6203419090", "origin", "2025-06-01", "2026-06-01"),
            ("R4", "I1", "6203419090", "classification", "2025-01-01", "2027-01-01"),
            ("R5", "I1", "6203419090", "classification", "2023-01-01", "2025-01-31"),
        ],
        columns=["ruling_id", "enterprise_id", "hs_code", "kind", "valid_from", "valid_to"],
    )
    rulings[["valid_from", "valid_to"]] = rulings[["valid_from", "valid_to"]].apply(pd.to_datetime)
    out = ruling.ruling_columns(declarations, rulings)
    assert list(out.columns) == list(ruling.CONTEXT_COLUMNS)

    def ids(kind: str) -> list[str | None]:
        column = out[f"ruling_{kind}_id"]
        return column.astype(object).where(column.notna(), None).tolist()

    # D1 matches R1 and R5 (classification): the one ending last, R5, is kept; D2's
    # ten digits are neither R1's nor R5's.
    assert ids("classification") == ["R5", None, "R4", None, "R5"]
    assert ids("valuation") == ["R2", "R2", None, None, "R2"]
    assert ids("origin") == [None] * 5
    assert out["ruling_valuation_valid_to"].iloc[0] == pd.Timestamp("2024-12-31")
    only_r1 = rulings[rulings["ruling_id"] == "R1"]
    assert ruling.ruling_columns(declarations, only_r1)[
        "ruling_classification_id"
    ].notna().tolist() == [
        True,
        False,
        False,
        False,
        True,
    ]


@pytest.fixture(scope="module")
def measure_registers(synthetic: SyntheticData) -> Registers:
    return Registers(
        synthetic.enterprises,
        synthetic.lab_results,
        synthetic.commodities,
        synthetic.disclosures,
        synthetic.rulings,
    )


def test_without_the_registers_the_pipeline_is_what_it_was(
    synthetic: SyntheticData, registers: Registers, measure_registers: Registers
) -> None:
    plain = FeaturePipeline()
    features = plain.fit_transform(synthetic.declarations, registers)
    names = {*disclosure.HISTORY_FEATURES, *disclosure.CONTEXT_COLUMNS, *ruling.CONTEXT_COLUMNS}
    assert not names & set(features.columns)
    assert not names & set(plain.feature_names_) and not names & set(plain.dropped_features_)
    full = FeaturePipeline()
    with_measures = full.fit_transform(synthetic.declarations, measure_registers)
    assert set(disclosure.HISTORY_FEATURES) <= set(full.feature_names_)
    assert [n for n in full.feature_names_ if n not in disclosure.HISTORY_FEATURES] == (
        plain.feature_names_
    )
    pd.testing.assert_frame_equal(with_measures[list(features.columns)], features)


def test_a_later_disclosure_changes_no_feature_of_an_earlier_declaration(
    synthetic: SyntheticData, measure_registers: Registers
) -> None:
    declarations = synthetic.declarations
    pipeline = FeaturePipeline()
    before = pipeline.fit_transform(declarations, measure_registers)
    # Every importer of the later half discloses on the day of one of its declarations
    # (a disclosure dated on, not before, that day), naming it.
    cut = declarations["declared_at"].quantile(0.5)
    later = declarations[declarations["declared_at"] >= cut].drop_duplicates("importer_id")
    added = pd.DataFrame(
        {
            "disclosure_id": [f"NEW{i}" for i in range(len(later))],
            "enterprise_id": later["importer_id"].to_numpy(),
            "declaration_id": later["declaration_id"].to_numpy(),
            "disclosed_at": later["declared_at"].dt.normalize().to_numpy(),
            "kind": "valuation",
            "minor": 1.0,
        }
    ).astype({"declaration_id": "str"})
    register = pd.concat([synthetic.disclosures, added], ignore_index=True)
    changed = dataclasses.replace(measure_registers, disclosures=register)
    after = FeaturePipeline().fit_transform(declarations, changed)
    first = later.set_index("importer_id")["declared_at"].dt.normalize()
    day_of_new = declarations["importer_id"].map(first)
    untouched = (declarations["declared_at"].dt.normalize() <= day_of_new) | day_of_new.isna()
    assert untouched.sum() > len(declarations) // 2
    features = pipeline.feature_names_
    pd.testing.assert_frame_equal(after.loc[untouched, features], before.loc[untouched, features])
    # Later declarations of those importers do see it.
    seen = ~untouched
    assert (
        after.loc[seen, "importer_disclosures"] > before.loc[seen, "importer_disclosures"]
    ).all()
