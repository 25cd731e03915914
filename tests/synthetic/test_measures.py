"""The registers of measures 22 (voluntary disclosures) and 12 (advance rulings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from portsift.features.contract import DISCLOSURE_FIELDS, RULING_FIELDS, RULING_KINDS, field_names
from portsift.features.loading import load_disclosures, load_rulings
from portsift.synthetic.generator import SyntheticData, generate_synthetic, write_synthetic
from tests.synthetic.conftest import ROWS, SEED, assert_kind


def _named(data: SyntheticData, truth: pd.DataFrame) -> pd.DataFrame:
    """The disclosures that name a declaration, joined with it and its truth."""
    declarations = data.declarations.assign(violation=truth["violation"].to_numpy())
    named = data.disclosures.dropna(subset=["declaration_id"])
    return named.merge(
        declarations[["declaration_id", "declared_at", "importer_id", "violation"]],
        on="declaration_id",
        how="left",
        validate="one_to_one",
    )


def test_registers_follow_the_contract_and_load(data: SyntheticData, tmp_path: Path) -> None:
    assert data.disclosures is not None and data.rulings is not None
    for frame, fields in ((data.disclosures, DISCLOSURE_FIELDS), (data.rulings, RULING_FIELDS)):
        assert list(frame.columns) == field_names(fields)
        for field in fields:
            if field.required:
                assert_kind(frame[field.name], field)
    paths = write_synthetic(data, tmp_path)
    disclosures = load_disclosures(paths["disclosures"])
    rulings = load_rulings(paths["rulings"])
    assert disclosures.notes == () and rulings.notes == ()
    assert disclosures.frame["disclosure_id"].tolist() == data.disclosures["disclosure_id"].tolist()
    assert (
        disclosures.frame["declaration_id"].isna() == data.disclosures["declaration_id"].isna()
    ).all()
    pd.testing.assert_frame_equal(rulings.frame, data.rulings, check_dtype=False)


def test_same_seed_same_registers_other_seed_other_ones(data: SyntheticData) -> None:
    again = generate_synthetic(ROWS, seed=SEED)
    pd.testing.assert_frame_equal(again.disclosures, data.disclosures)
    pd.testing.assert_frame_equal(again.rulings, data.rulings)
    other = generate_synthetic(ROWS, seed=SEED + 1)
    assert not other.rulings.equals(data.rulings)
    assert not other.disclosures.equals(data.disclosures)


def test_disclosures_are_few_mostly_minor_and_name_real_violations(
    data: SyntheticData, truth: pd.DataFrame
) -> None:
    disclosures = data.disclosures
    importers = data.declarations["importer_id"].nunique()
    assert 0.01 <= disclosures["enterprise_id"].nunique() / importers <= 0.06
    assert disclosures["disclosure_id"].is_unique
    assert disclosures["minor"].mean() >= 0.6
    named = _named(data, truth)
    assert 0.3 <= len(named) / len(disclosures) <= 0.8
    assert named["declaration_id"].is_unique
    # A named declaration is the disclosing importer's own, and really was a violation.
    assert (named["importer_id"] == named["enterprise_id"]).all()
    assert named["violation"].all()
    lag = (named["disclosed_at"] - named["declared_at"]).dt.days
    assert (lag >= 0).all()
    # Some on the declaration's own day (before the decision), the rest after the fact.
    assert 0.25 <= (lag == 0).mean() <= 0.75
    assert lag[lag > 0].between(5, 180).all()
    period = data.declarations["declared_at"]
    unnamed = disclosures[disclosures["declaration_id"].isna()]
    assert unnamed["disclosed_at"].between(period.min(), period.max()).all()
    kinds = {"valuation", "classification", "quantity", "origin", "compliance"}
    assert set(unnamed["kind"]) <= kinds


def test_rulings_a_few_hundred_mostly_classification_one_to_three_years(
    data: SyntheticData,
) -> None:
    rulings = data.rulings
    assert 50 <= len(rulings) <= 500
    assert rulings["ruling_id"].is_unique
    shares = rulings["kind"].value_counts(normalize=True)
    assert set(shares.index) == set(RULING_KINDS)
    assert shares["classification"] > 0.5
    days = (rulings["valid_to"] - rulings["valid_from"]).dt.days + 1
    assert days.between(365, 1096).all()
    assert not rulings.duplicated(["enterprise_id", "hs_code", "kind"]).any()
    assert rulings["hs_code"].str.fullmatch(r"\d{10}").all()
    # Every ruling is on a code its holder imports.
    pairs = data.declarations[["importer_id", "hs_code"]].drop_duplicates()
    held = rulings.merge(
        pairs, left_on=["enterprise_id", "hs_code"], right_on=["importer_id", "hs_code"]
    )
    assert len(held) == len(rulings)


def test_rulings_expire_and_come_near_their_end_within_the_period(data: SyntheticData) -> None:
    rulings, declarations = data.rulings, data.declarations
    end = declarations["declared_at"].max()
    assert 0.1 <= (rulings["valid_to"] < end).mean() <= 0.9
    matched = declarations.merge(
        rulings, left_on=["importer_id", "hs_code"], right_on=["enterprise_id", "hs_code"]
    )
    valid = matched[matched["declared_at"].between(matched["valid_from"], matched["valid_to"])]
    assert 0 < len(valid) < 0.2 * len(declarations)
    left = (valid["valid_to"] - valid["declared_at"]).dt.days
    assert left.between(30, 90).sum() > 10
    expired = matched[matched["declared_at"] > matched["valid_to"]]
    assert len(expired) > 0


def test_a_ruled_kind_is_never_violated_by_its_holder(
    data: SyntheticData, truth: pd.DataFrame
) -> None:
    ruled_out = {"classification": "misclassification", "valuation": "undervaluation"}
    ruled_out["origin"] = "origin"
    declarations = data.declarations.assign(fraud_kind=truth["fraud_kind"].to_numpy())
    matched = declarations.merge(
        data.rulings, left_on=["importer_id", "hs_code"], right_on=["enterprise_id", "hs_code"]
    )
    violated = matched["fraud_kind"].to_numpy() == matched["kind"].map(ruled_out).to_numpy()
    assert not np.any(violated)
