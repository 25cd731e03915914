from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portsift.features.contract import (
    BACUDA_COLUMNS,
    BACUDA_DATE_FORMAT,
    COMMODITY_FIELDS,
    CREDIT_TIERS,
    DECLARATION_FIELDS,
    ENTERPRISE_FIELDS,
    LAB_RESULT_FIELDS,
    LAB_RESULTS,
    Field,
    field_names,
)
from portsift.synthetic.catalogue import FAMILIES
from portsift.synthetic.drift import DRIFT_HS4, DRIFT_ORIGIN, DRIFT_PERIOD_SHARE, DRIFT_TRADE_MODE
from portsift.synthetic.generator import (
    SyntheticData,
    generate_synthetic,
    generate_synthetic_with_truth,
    write_synthetic,
)
from portsift.synthetic.identities import IDENTITY_COLUMNS
from portsift.synthetic.layouts import to_bacuda

ROWS = 20_000
SEED = 11
TABLES = ("declarations", "enterprises", "lab_results", "commodities")
AEO = ("advanced", "certified")
LOW_TIERS = ("dishonest", "seriously_dishonest")
VALUATION_KINDS = ("undervaluation", "misclassification", "quantity")
TRACELESS_KINDS = ("origin", "compliance")
BULK_HEADINGS = tuple(f.hs4 for f in FAMILIES if f.bulk)


@pytest.fixture(scope="module")
def world() -> tuple[SyntheticData, pd.DataFrame]:
    return generate_synthetic_with_truth(ROWS, SEED, "2024-01-01", 730)


@pytest.fixture(scope="module")
def data(world: tuple[SyntheticData, pd.DataFrame]) -> SyntheticData:
    return world[0]


@pytest.fixture(scope="module")
def truth(world: tuple[SyntheticData, pd.DataFrame]) -> pd.DataFrame:
    return world[1]


@pytest.fixture(scope="module")
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


# ---------------------------------------------------------------------------------------
# Determinism and shape
# ---------------------------------------------------------------------------------------


def test_same_seed_gives_identical_frames(data: SyntheticData) -> None:
    again = generate_synthetic(ROWS, seed=SEED)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(data, name), getattr(again, name))


def test_different_seed_gives_different_frames(data: SyntheticData) -> None:
    other = generate_synthetic(ROWS, seed=SEED + 1)
    assert not other.declarations.equals(data.declarations)
    assert not other.enterprises.equals(data.enterprises)
    shared = ["hs_code", "declared_value", "importer_id"]
    assert (other.declarations[shared] != data.declarations[shared]).any(axis=None)


def test_declarations_have_every_contract_column_with_its_type(data: SyntheticData) -> None:
    declarations = data.declarations
    assert list(declarations.columns) == field_names(DECLARATION_FIELDS)
    assert len(declarations) == ROWS
    for field in DECLARATION_FIELDS:
        assert_kind(declarations[field.name], field)
        if field.kind == "number" and field.non_negative:
            assert (declarations[field.name].dropna() >= 0).all(), field.name
    assert pd.api.types.is_integer_dtype(declarations["inspected"])


@pytest.mark.parametrize(
    ("table", "fields"),
    [
        ("enterprises", ENTERPRISE_FIELDS),
        ("lab_results", LAB_RESULT_FIELDS),
        ("commodities", COMMODITY_FIELDS),
    ],
)
def test_reference_tables_follow_contract(
    data: SyntheticData, table: str, fields: tuple[Field, ...]
) -> None:
    frame = getattr(data, table)
    assert list(frame.columns) == field_names(fields)
    assert len(frame) > 0
    for field in fields:
        assert_kind(frame[field.name], field)


def test_categorical_values_are_those_of_the_contract(data: SyntheticData) -> None:
    assert set(data.enterprises["credit_tier"]) == set(CREDIT_TIERS)
    assert set(data.lab_results["lab_result"]) == set(LAB_RESULTS)
    assert data.commodities["hs_prefix"].str.fullmatch(r"\d{2,10}").all()
    assert data.commodities["hs_prefix"].is_unique
    modes = set(data.declarations["trade_mode"])
    assert {"0110", "1210", "9610", "0615"} <= modes
    assert set(data.declarations["transport_mode"]) <= {"2", "4", "5", "6"}
    assert data.declarations["customs_office"].nunique() >= 5


def test_ids_are_unique_well_formed_and_in_date_order(data: SyntheticData) -> None:
    declarations = data.declarations
    assert declarations["declaration_id"].is_unique
    assert declarations["declaration_id"].iloc[0] == "D00000001"
    assert declarations["declaration_id"].str.fullmatch(r"D\d{8}").all()
    assert declarations["declared_at"].is_monotonic_increasing
    assert declarations["importer_id"].str.fullmatch(r"IMP\d{5}").all()
    assert declarations["declarant_id"].str.fullmatch(r"BRK\d{4}").all()
    assert data.lab_results["lab_id"].str.fullmatch(r"LAB\d{2}").all()
    assert data.lab_results["declaration_id"].is_unique
    assert data.lab_results["declaration_id"].isin(declarations["declaration_id"]).all()
    assert not data.enterprises.duplicated(["enterprise_id", "tier_since"]).any()


def test_hs_codes_are_ten_digit_text_keeping_leading_zeros(data: SyntheticData) -> None:
    codes = data.declarations["hs_code"]
    assert codes.str.fullmatch(r"\d{10}").all()
    assert codes.str.startswith("03").any()
    assert {"2523", "3304", "8517", "8471", "2204", "6109"} <= set(codes.str[:4])
    assert 200 <= codes.str[:6].nunique() <= 600


def test_declarations_spread_over_the_period(data: SyntheticData) -> None:
    dates = data.declarations["declared_at"]
    assert dates.min() >= pd.Timestamp("2024-01-01")
    assert dates.max() <= pd.Timestamp("2024-01-01") + pd.Timedelta(days=729)
    assert (dates.max() - dates.min()).days > 700
    weekday = dates.dt.day_of_week
    assert (weekday >= 5).mean() < 0.15  # weekends are quiet
    year = dates.dt.year
    assert (year == 2025).sum() > 1.1 * (year == 2024).sum()  # trade grows


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="rows"):
        generate_synthetic(0)
    with pytest.raises(ValueError, match="days"):
        generate_synthetic(10, days=0)
    with pytest.raises(ValueError, match="start"):
        generate_synthetic(10, start="not a date")


# ---------------------------------------------------------------------------------------
# Values and labels
# ---------------------------------------------------------------------------------------


def test_declared_values_are_consistent(data: SyntheticData) -> None:
    d = data.declarations
    assert (d["declared_value"] >= d["fob_value"]).all()
    assert (d["net_weight"] <= d["gross_weight"]).all()
    expected_taxes = (d["declared_value"] * d["tax_rate"] / 100).round(2)
    np.testing.assert_allclose(d["total_taxes"], expected_taxes, atol=0.011)
    free = d["declared_value"] == 0
    assert 0 < free.sum() < 0.01 * len(d)
    transhipped = (d["origin_country"] != d["departure_country"]).mean()
    assert 0.01 < transhipped < 0.15


def test_labels_present_iff_inspected(data: SyntheticData) -> None:
    d = data.declarations
    inspected = d["inspected"] == 1
    assert d.loc[inspected, "illicit"].notna().all()
    assert d.loc[~inspected, "illicit"].isna().all()
    assert d.loc[inspected, "revenue"].notna().all()
    assert d.loc[~inspected, "revenue"].isna().all()


def test_revenue_is_zero_iff_not_illicit(data: SyntheticData) -> None:
    inspected = data.declarations[data.declarations["inspected"] == 1]
    illicit = inspected["illicit"] == 1
    assert illicit.any()
    assert (inspected.loc[illicit, "revenue"] > 0).all()
    assert (inspected.loc[~illicit, "revenue"] == 0).all()


def test_rates_are_within_the_brief(data: SyntheticData, truth: pd.DataFrame) -> None:
    d = data.declarations
    inspected = d["inspected"] == 1
    assert 0.10 <= inspected.mean() <= 0.15
    assert 0.04 <= truth["violation"].mean() <= 0.06
    assert 0.01 <= truth["random_inspection"].mean() <= 0.03
    # Labels reveal the truth of inspected rows, and targeting makes them a biased sample.
    assert (d.loc[inspected, "illicit"] == truth.loc[inspected, "violation"]).all()
    assert d.loc[inspected, "illicit"].mean() > 1.3 * truth["violation"].mean()


def test_inspection_rate_by_tier_in_force(data: SyntheticData, truth: pd.DataFrame) -> None:
    tiers = tier_in_force(data.declarations, data.enterprises)
    assert (tiers == truth["credit_tier"]).all()
    rates = data.declarations["inspected"].groupby(tiers).mean()
    assert 0.005 <= rates["advanced"] <= 0.035
    assert 0.03 <= rates["certified"] <= 0.075
    assert 0.09 <= rates["regular"] <= 0.15
    assert 0.38 <= rates["dishonest"] <= 0.62
    assert 0.6 <= rates["seriously_dishonest"] <= 0.95
    violation = truth["violation"].groupby(tiers).mean()
    assert violation[list(AEO)].max() < violation["regular"] / 3
    assert violation["dishonest"] > 2 * violation["regular"]


def test_tier_effect_in_labels_is_real_but_not_extreme(
    timed_100k: tuple[SyntheticData, float],
) -> None:
    generated, _ = timed_100k
    d = generated.declarations
    inspected = d[d["inspected"] == 1]
    tiers = tier_in_force(inspected, generated.enterprises)
    regular = inspected.loc[tiers == "regular", "illicit"].mean()
    aeo = inspected.loc[tiers.isin(AEO), "illicit"].mean()
    low = inspected.loc[tiers.isin(LOW_TIERS), "illicit"].mean()
    # Credit tiers are real policy and carry signal ...
    assert aeo < regular / 2
    assert low > 2 * regular
    # ... but an AEO firm does violate now and then, and most rows of a dishonest firm
    # are clean.
    assert aeo > regular / 8
    assert low < 3.6 * regular
    assert low < 0.35


# ---------------------------------------------------------------------------------------
# Enterprises
# ---------------------------------------------------------------------------------------


def test_aeo_firms_are_few_but_lodge_a_large_share(data: SyntheticData) -> None:
    d = data.declarations
    importers = d["importer_id"].unique()
    latest = data.enterprises.drop_duplicates("enterprise_id", keep="last")
    tier = latest.set_index("enterprise_id")["credit_tier"].reindex(importers).fillna("regular")
    assert 0.005 <= tier.isin(AEO).mean() <= 0.02
    share = tier_in_force(d, data.enterprises).isin(AEO).mean()
    assert 0.25 <= share <= 0.35
    assert 500 <= len(importers) <= 3000  # sub-linear in the rows


def test_register_tiers_and_histories(data: SyntheticData) -> None:
    d = data.declarations
    register = data.enterprises
    importers = pd.Series(d["importer_id"].unique())
    first_tier = register.drop_duplicates("enterprise_id", keep="first").set_index("enterprise_id")
    shares = (
        first_tier["credit_tier"].reindex(importers).fillna("regular").value_counts(normalize=True)
    )
    assert 0.01 <= shares.get("dishonest", 0) <= 0.04
    assert 0.001 <= shares.get("seriously_dishonest", 0) <= 0.01
    # Some firms change tier during the period: downgrades and upgrades.
    changes = register[register.duplicated("enterprise_id", keep="first")]
    assert len(changes) > 0
    assert changes["tier_since"].between(d["declared_at"].min(), d["declared_at"].max()).all()
    assert {"dishonest", "certified"} <= set(changes["credit_tier"])
    # The first tier holds from before the firm's first declaration.
    first_declared = d.groupby("importer_id")["declared_at"].min()
    registered = first_declared.index.intersection(first_tier.index)
    assert (first_tier.loc[registered, "tier_since"] <= first_declared[registered]).all()
    # Some importers are absent from the register, and brokers are in it.
    assert 0.02 <= 1 - importers.isin(register["enterprise_id"]).mean() <= 0.25
    assert d["declarant_id"].isin(register["enterprise_id"]).all()
    assert 50 <= d["declarant_id"].nunique() <= 400


def test_new_importers_appear_throughout_and_are_riskier(
    data: SyntheticData, truth: pd.DataFrame
) -> None:
    d = data.declarations
    first = d.groupby("importer_id")["declared_at"].transform("min")
    midpoint = d["declared_at"].min() + pd.Timedelta(days=365)
    late_entrants = d.loc[first > midpoint, "importer_id"].nunique()
    assert late_entrants > 0.1 * d["importer_id"].nunique()
    age = (d["declared_at"] - first).dt.days
    entered_late = first > d["declared_at"].min() + pd.Timedelta(days=60)
    young = truth["violation"][entered_late & (age < 90) & ~truth["drift_ring"]]
    old = truth["violation"][age > 365]
    assert young.mean() > 1.5 * old.mean()


# ---------------------------------------------------------------------------------------
# Fraud traces, lab reports, drift
# ---------------------------------------------------------------------------------------


def test_undervaluation_is_visible_in_unit_values(data: SyntheticData) -> None:
    d = data.declarations[data.declarations["declared_value"] > 0]
    unit_value = d["declared_value"] / d["quantity"]
    ratio = unit_value / unit_value.groupby(d["hs_code"]).transform("median")
    inspected = d["inspected"] == 1
    illicit = ratio[inspected & (d["illicit"] == 1)].median()
    licit = ratio[inspected & (d["illicit"] == 0)].median()
    assert illicit < 0.8 * licit
    # ... but honest prices vary too, so low unit values are no proof.
    assert (ratio[inspected & (d["illicit"] == 0)] < 0.5).mean() > 0.01


def test_each_fraud_kind_leaves_its_trace(data: SyntheticData, truth: pd.DataFrame) -> None:
    d = data.declarations
    kinds = truth["fraud_kind"]
    assert set(kinds) == {"", *VALUATION_KINDS, *TRACELESS_KINDS}
    assert (kinds[~truth["violation"]] == "").all()
    assert (kinds[truth["violation"]] != "").all()
    per_unit = d["gross_weight"] / d["quantity"]
    weight_ratio = per_unit / per_unit.groupby(d["hs_code"]).transform("median")
    assert weight_ratio[kinds == "quantity"].median() > 1.4
    # The most careful quantity fraudsters scale the gross weight too: no weight trace.
    scaled = d["gross_weight"] < truth["true_gross_weight"]
    assert 0.05 < scaled[kinds == "quantity"].mean() < 0.3
    assert (
        d.loc[kinds == "quantity", "quantity"] < truth.loc[kinds == "quantity", "true_quantity"]
    ).all()
    assert (
        d.loc[kinds == "undervaluation", "declared_value"]
        < truth.loc[kinds == "undervaluation", "true_value"]
    ).all()
    assert weight_ratio[kinds == ""].median() == pytest.approx(1.0, abs=0.05)
    swapped = kinds == "misclassification"
    assert (truth.loc[swapped, "true_hs_code"] != d.loc[swapped, "hs_code"]).all()
    assert (truth.loc[~swapped, "true_hs_code"] == d.loc[~swapped, "hs_code"]).all()
    assert (truth.loc[swapped, "true_hs_code"].str[:2] == d.loc[swapped, "hs_code"].str[:2]).all()


def test_traceless_kinds_leave_the_declared_fields_as_the_goods_are(
    data: SyntheticData, truth: pd.DataFrame
) -> None:
    d = data.declarations
    kinds = truth["fraud_kind"]
    violation = truth["violation"]
    traceless = kinds.isin(TRACELESS_KINDS)
    assert 0.22 <= traceless[violation].mean() <= 0.36
    assert {"origin", "compliance"} <= set(kinds[traceless])
    # Every declared field is that of the true goods ...
    rows = d[traceless]
    pd.testing.assert_series_equal(
        rows["hs_code"], truth.loc[traceless, "true_hs_code"], check_names=False
    )
    for field in ("value", "quantity", "net_weight", "gross_weight"):
        column = "declared_value" if field == "value" else field
        np.testing.assert_array_equal(rows[column], truth.loc[traceless, f"true_{field}"])
    # ... as for honest rows, and unlike every valuation fraud.
    honest = (~violation & (d["declared_value"] > 0)).to_numpy()
    np.testing.assert_array_equal(d.loc[honest, "declared_value"], truth.loc[honest, "true_value"])
    valuation = kinds.isin(VALUATION_KINDS)
    changed = (
        (d["hs_code"] != truth["true_hs_code"])
        | (d["declared_value"] < truth["true_value"])
        | (d["quantity"] < truth["true_quantity"])
    )
    assert changed[valuation].all()
    # So unit values and weights per unit of traceless rows look honest.
    priced = d["declared_value"] > 0
    unit_value = d["declared_value"] / d["quantity"]
    value_ratio = unit_value / unit_value[priced].groupby(d["hs_code"]).transform("median")
    per_unit = d["gross_weight"] / d["quantity"]
    weight_ratio = per_unit / per_unit.groupby(d["hs_code"]).transform("median")
    clean = priced & ~violation
    assert abs(value_ratio[traceless].median() - value_ratio[clean].median()) < 0.1
    assert abs(weight_ratio[traceless].median() - weight_ratio[clean].median()) < 0.05


def test_traceless_revenue_is_modest(data: SyntheticData, truth: pd.DataFrame) -> None:
    d = data.declarations
    caught = (d["inspected"] == 1) & truth["violation"]
    kinds = truth.loc[caught, "fraud_kind"]
    revenue = d.loc[caught, "revenue"]
    ratio = revenue / d.loc[caught, "declared_value"]
    traceless = kinds.isin(TRACELESS_KINDS)
    assert traceless.sum() > 20
    assert (revenue[traceless] > 0).all()
    # A few per cent of the value, so that revenue concentrates in the valuation frauds.
    assert ratio[traceless].median() < 0.06
    assert ratio[traceless].median() < 0.3 * ratio[kinds == "undervaluation"].median()
    assert revenue[traceless].sum() < 0.2 * revenue.sum()


def test_bulk_fraud_is_tempered_and_revenue_not_concentrated(
    data: SyntheticData, truth: pd.DataFrame, timed_100k: tuple[SyntheticData, float]
) -> None:
    generated, _ = timed_100k
    labelled = generated.declarations
    caught = labelled.loc[(labelled["inspected"] == 1) & (labelled["illicit"] == 1), "revenue"]
    top = caught.sort_values(ascending=False).iloc[: round(0.01 * len(caught))]
    assert 0.1 < top.sum() / caught.sum() < 0.4  # no handful of tankers holds the revenue
    d = data.declarations
    bulk = d["hs_code"].str[:4].isin(BULK_HEADINGS)
    undervalued = truth["fraud_kind"] == "undervaluation"
    factor = d["declared_value"] / truth["true_value"]
    assert (bulk & undervalued).sum() > 10
    assert (factor[bulk & undervalued] >= 0.849).all()
    assert truth.loc[bulk & truth["violation"], "fraud_kind"].isin(VALUATION_KINDS).all()
    # Away from bulk cargo some undervaluation is mild, lost in the honest spread.
    others = undervalued & ~bulk & ~truth["drift_ring"]
    assert 0.05 < (factor[others] > 0.7).mean() < 0.3
    assert (factor[others] < 0.5).mean() > 0.3


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


def test_drift_pattern_appears_only_late(data: SyntheticData, truth: pd.DataFrame) -> None:
    d = data.declarations
    pattern = (
        (d["hs_code"].str[:4] == DRIFT_HS4)
        & (d["origin_country"] == DRIFT_ORIGIN)
        & (d["trade_mode"] == DRIFT_TRADE_MODE)
    )
    assert (pattern == truth["drift_ring"]).all()
    start = d["declared_at"].min()
    drift_start = start + pd.Timedelta(days=round(730 * (1 - DRIFT_PERIOD_SHARE)))
    assert pattern.sum() >= 50
    assert (d.loc[pattern, "declared_at"] >= drift_start).all()
    late = d["declared_at"] >= drift_start
    assert 0.008 < pattern[late].mean() < 0.03  # visible, but no flood
    assert d.loc[pattern, "declarant_id"].nunique() == 1
    ring = d.loc[pattern, "importer_id"].unique()
    assert (d.loc[d["importer_id"].isin(ring), "declared_at"] >= drift_start).all()
    assert truth.loc[pattern, "violation"].mean() > 0.6
    assert truth.loc[pattern & truth["violation"], "fraud_kind"].eq("undervaluation").all()


def test_drift_ring_is_revealed_by_inspections(timed_100k: tuple[SyntheticData, float]) -> None:
    generated, _ = timed_100k
    d = generated.declarations
    pattern = (
        (d["hs_code"].str[:4] == DRIFT_HS4)
        & (d["origin_country"] == DRIFT_ORIGIN)
        & (d["trade_mode"] == DRIFT_TRADE_MODE)
    )
    revealed = d.loc[pattern & (d["inspected"] == 1), "illicit"]
    assert len(revealed) >= 20
    assert revealed.mean() > 0.5


# ---------------------------------------------------------------------------------------
# BACUDA layout and files
# ---------------------------------------------------------------------------------------


def test_to_bacuda_round_trips_values_and_dates(data: SyntheticData) -> None:
    declarations = data.declarations
    bacuda = to_bacuda(declarations)
    assert list(bacuda.columns) == list(BACUDA_COLUMNS)
    assert bacuda["sgd.date"].str.fullmatch(r"\d{2}-\d{2}-\d{2}").all()
    dates = pd.to_datetime(bacuda["sgd.date"], format=BACUDA_DATE_FORMAT)
    assert (dates.to_numpy() == declarations["declared_at"].to_numpy()).all()
    back = bacuda.drop(columns="sgd.date").rename(columns=BACUDA_COLUMNS)
    expected = declarations[back.columns]
    pd.testing.assert_frame_equal(back, expected.reset_index(drop=True))
    assert "net_weight" not in back.columns and "trade_mode" not in back.columns
    assert "declared_at" in declarations.columns  # the input is left as it was


def test_to_bacuda_rejects_missing_columns(data: SyntheticData) -> None:
    with pytest.raises(ValueError, match="hs_code"):
        to_bacuda(data.declarations.drop(columns="hs_code"))


def test_write_synthetic_writes_the_four_files(data: SyntheticData, tmp_path: Path) -> None:
    out_dir = tmp_path / "nested" / "out"
    paths = write_synthetic(data, out_dir)
    assert set(paths) == set(TABLES)
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(f"{t}.csv" for t in TABLES)
    for name, path in paths.items():
        assert path == out_dir / f"{name}.csv"
    read = pd.read_csv(paths["declarations"], dtype={"hs_code": str, "trade_mode": str})
    assert list(read.columns) == field_names(DECLARATION_FIELDS)
    assert (read["hs_code"] == data.declarations["hs_code"]).all()
    assert (read["trade_mode"] == data.declarations["trade_mode"]).all()
    np.testing.assert_allclose(read["declared_value"], data.declarations["declared_value"])
    assert read["illicit"].isna().sum() == data.declarations["illicit"].isna().sum()
    raw = pd.read_csv(paths["declarations"], dtype=str, keep_default_na=False)
    assert raw["declared_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert set(raw["illicit"]) == {"0", "1", ""}
    assert set(raw["inspected"]) == {"0", "1"}
    commodities = pd.read_csv(paths["commodities"], dtype={"hs_prefix": str})
    assert commodities["hs_prefix"].tolist() == data.commodities["hs_prefix"].tolist()


def test_write_synthetic_leaves_no_temp_file_on_error(
    data: SyntheticData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "declarations.csv").write_text("old\n", encoding="utf-8")
    original = pd.DataFrame.to_csv

    def failing(self: pd.DataFrame, *args: object, **kwargs: object) -> None:
        original(self.head(3), *args, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", failing)
    with pytest.raises(OSError, match="disk full"):
        write_synthetic(data, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["declarations.csv"]
    assert (tmp_path / "declarations.csv").read_text("utf-8") == "old\n"


# ---------------------------------------------------------------------------------------
# Speed
# ---------------------------------------------------------------------------------------


def test_generates_100k_rows_in_under_30_seconds(timed_100k: tuple[SyntheticData, float]) -> None:
    generated, seconds = timed_100k
    assert len(generated.declarations) == 100_000
    assert seconds < 30
    assert 2_000 <= generated.declarations["importer_id"].nunique() <= 5_000


# ---------------------------------------------------------------------------------------
# fraud="identity": fraud driven by recurring parties and their combinations
# ---------------------------------------------------------------------------------------

#: SHA-256 of the four CSV files of ``generate_synthetic(3_000, seed=11)`` as the
#: generator wrote them before the identity mode existed. The default mode must stay
#: byte-identical; change this only with a deliberate change of the default world.
DEFAULT_WORLD_DIGEST = "c1fcd6d7b450c2d584460103a9da04f1b536588eaa481b1e7614f49367d15610"
PATTERNS = ("importer_declarant", "importer_hs6", "declarant_origin", "seller_hs6")


@pytest.fixture(scope="module")
def identity_world() -> tuple[SyntheticData, pd.DataFrame]:
    return generate_synthetic_with_truth(ROWS, SEED, "2024-01-01", 730, "identity")


def test_default_mode_output_is_byte_identical(tmp_path: Path) -> None:
    import hashlib

    paths = write_synthetic(generate_synthetic(3_000, seed=11, fraud="default"), tmp_path)
    assert set(paths) == set(TABLES)
    digest = hashlib.sha256()
    for name in TABLES:
        digest.update(paths[name].read_bytes())
    assert digest.hexdigest() == DEFAULT_WORLD_DIGEST


def test_identity_mode_is_deterministic_and_adds_seller_and_courier(
    identity_world: tuple[SyntheticData, pd.DataFrame],
) -> None:
    data, _ = identity_world
    declarations = data.declarations
    assert list(declarations.columns) == [
        *field_names(DECLARATION_FIELDS),
        *IDENTITY_COLUMNS,
    ]
    for column in IDENTITY_COLUMNS:
        assert pd.api.types.is_string_dtype(declarations[column]), column
        assert declarations[column].notna().all(), column
    assert declarations["seller_id"].str.fullmatch(r"SEL\d{6}").all()
    assert declarations["courier_id"].str.fullmatch(r"CUR\d{3}").all()
    again = generate_synthetic(ROWS, seed=SEED, fraud="identity")
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(data, name), getattr(again, name))


def test_identity_mode_keeps_the_default_world_of_the_seed(
    identity_world: tuple[SyntheticData, pd.DataFrame], data: SyntheticData
) -> None:
    identity, default = identity_world[0].declarations, data.declarations
    for column in ("declaration_id", "declared_at", "importer_id", "customs_office", "trade_mode"):
        pd.testing.assert_series_equal(identity[column], default[column])
    # Accomplice brokers take over part of the collusive importers' trade, nothing else.
    rerouted = (identity["declarant_id"] != default["declarant_id"]).mean()
    assert 0.005 < rerouted < 0.05
    assert not identity["illicit"].equals(default["illicit"])


def test_identity_patterns_drive_the_fraud(
    identity_world: tuple[SyntheticData, pd.DataFrame],
) -> None:
    data, truth = identity_world
    pattern = truth["identity_pattern"]
    assert set(pattern.unique()) == {"", *PATTERNS}
    rate = truth.groupby(pattern)["violation"].mean()
    for name in PATTERNS:
        assert rate[name] > 0.2, name  # fraudulent with high probability
        assert rate[name] > 10 * rate[""], name
    assert (pattern[truth["violation"]] != "").mean() > 0.6
    assert 0.035 < truth["violation"].mean() < 0.065
    # The labels reveal it: over a quarter of the inspected pattern rows are violations.
    d = data.declarations
    inspected = d["inspected"] == 1
    assert d.loc[inspected & (pattern != "").to_numpy(), "illicit"].mean() > 0.25


def test_collusion_lives_in_the_pair_not_in_the_parties(
    identity_world: tuple[SyntheticData, pd.DataFrame],
) -> None:
    data, truth = identity_world
    d = data.declarations
    collusive = truth["identity_pattern"] == "importer_declarant"
    importers = d.loc[collusive, "importer_id"].unique()
    brokers = d.loc[collusive, "declarant_id"].unique()
    same_importer = d["importer_id"].isin(importers) & (truth["identity_pattern"] == "")
    same_broker = d["declarant_id"].isin(brokers) & (truth["identity_pattern"] == "")
    pair_rate = truth.loc[collusive, "violation"].mean()
    assert pair_rate > 4 * truth.loc[same_importer, "violation"].mean()
    assert pair_rate > 4 * truth.loc[same_broker, "violation"].mean()


def test_most_parties_and_pairs_recur_only_a_few_times(
    identity_world: tuple[SyntheticData, pd.DataFrame],
) -> None:
    d = identity_world[0].declarations
    per_seller = d["seller_id"].value_counts()
    assert per_seller.median() <= 5
    assert (per_seller <= 3).mean() > 0.4
    assert per_seller.max() > 50  # and a few big ones
    per_pair = d.groupby(["importer_id", "declarant_id"]).size()
    assert (per_pair <= 3).mean() > 0.5
    assert 5 <= d["courier_id"].nunique() <= 100


def test_unknown_fraud_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="fraud"):
        generate_synthetic(200, seed=1, fraud="ring")


def test_identity_mode_writes_the_schema_that_reads_its_columns(
    identity_world: tuple[SyntheticData, pd.DataFrame], tmp_path: Path
) -> None:
    from portsift.features.loading import load_declarations
    from portsift.features.schema_file import read_schema_file

    paths = write_synthetic(identity_world[0], tmp_path)
    assert set(paths) == {*TABLES, "schema"}
    schema = read_schema_file(paths["schema"])
    assert schema.categorical == IDENTITY_COLUMNS
    loaded = load_declarations(paths["declarations"], schema_path=paths["schema"])
    assert loaded.extra_categorical == IDENTITY_COLUMNS
    assert (
        loaded.frame["seller_id"].tolist() == identity_world[0].declarations["seller_id"].tolist()
    )


def test_cli_generate_fraud_identity(tmp_path: Path) -> None:
    from portsift.cli import main

    out = tmp_path / "data"
    assert (
        main(["generate", "--out", str(out), "--rows", "500", "--fraud", "identity", "--quiet"])
        == 0
    )
    assert (out / "schema.toml").exists()
    assert "seller_id" in pd.read_csv(out / "declarations.csv", nrows=1).columns
    bacuda = ["generate", "--out", str(out), "--fraud", "identity", "--layout", "bacuda", "--quiet"]
    assert main(bacuda) != 0
