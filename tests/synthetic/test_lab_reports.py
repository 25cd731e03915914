"""Third-party lab reports: which goods carry them and how they move the risk."""

from __future__ import annotations

import pandas as pd

from portsift.synthetic.generator import SyntheticData
from tests.synthetic.conftest import listed_codes


def test_lab_reports_cover_acceptance_listed_goods(data: SyntheticData) -> None:
    d = data.declarations
    labs = data.lab_results.merge(d[["declaration_id", "declared_at", "hs_code"]])
    listed = listed_codes(d["hs_code"], data.commodities) == 1
    covered = d["declaration_id"].isin(labs["declaration_id"])
    assert 0.75 <= covered[listed].mean() <= 0.95
    # Reports follow the true goods, so only misclassified rows carry one off the list.
    assert covered[~listed].mean() < 0.01
    assert (labs["issued_at"] < labs["declared_at"]).all()
    expired = (labs["declared_at"] - labs["issued_at"]).dt.days > 365
    assert 0.02 <= expired.mean() <= 0.09
    assert 0.7 <= labs["lab_accredited"].mean() <= 0.97
    assert 0.005 <= (labs["lab_result"] == "fail").mean() <= 0.06
    assert labs["lab_id"].nunique() >= 8


def test_lab_reports_move_the_true_risk(data: SyntheticData, truth: pd.DataFrame) -> None:
    d = data.declarations
    labs = data.lab_results.merge(d[["declaration_id", "declared_at"]])
    valid = (labs["declared_at"] - labs["issued_at"]).dt.days <= 365
    accredited_pass = valid & (labs["lab_accredited"] == 1) & (labs["lab_result"] == "pass")
    trusted = d["declaration_id"].isin(labs.loc[accredited_pass, "declaration_id"])
    failed = d["declaration_id"].isin(labs.loc[labs["lab_result"] == "fail", "declaration_id"])
    listed = listed_codes(d["hs_code"], data.commodities) == 1
    missing = listed & ~d["declaration_id"].isin(labs["declaration_id"])
    violation = truth["violation"]
    assert violation[trusted].mean() < violation[missing].mean() / 4
    assert violation[failed].mean() > 3 * violation[missing].mean()


def test_lab_reports_move_the_revealed_risk(timed_100k: tuple[SyntheticData, float]) -> None:
    generated, _ = timed_100k
    d = generated.declarations
    labs = generated.lab_results.merge(d[["declaration_id", "declared_at"]])
    valid = (labs["declared_at"] - labs["issued_at"]).dt.days <= 365
    trusted = labs.loc[
        valid & (labs["lab_accredited"] == 1) & (labs["lab_result"] == "pass"), "declaration_id"
    ]
    failed = labs.loc[labs["lab_result"] == "fail", "declaration_id"]
    listed = listed_codes(d["hs_code"], generated.commodities) == 1
    missing = listed & ~d["declaration_id"].isin(labs["declaration_id"])
    inspected = d[d["inspected"] == 1]
    rate_trusted = inspected.loc[inspected["declaration_id"].isin(trusted), "illicit"].mean()
    rate_failed = inspected.loc[inspected["declaration_id"].isin(failed), "illicit"].mean()
    rate_missing = inspected.loc[missing[inspected.index], "illicit"].mean()
    assert rate_trusted < rate_missing / 4
    assert rate_failed > max(0.4, 1.5 * rate_missing)
