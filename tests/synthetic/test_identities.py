"""fraud="identity": fraud driven by recurring parties and their combinations."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from portsift.features.contract import (
    DECLARATION_FIELDS,
    field_names,
)
from portsift.synthetic.generator import (
    SyntheticData,
    generate_synthetic,
    write_synthetic,
)
from portsift.synthetic.identities import IDENTITY_COLUMNS
from tests.synthetic.conftest import ROWS, SEED, TABLES

PATTERNS = ("importer_declarant", "importer_hs6", "declarant_origin", "seller_hs6")


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


def test_identity_mode_writes_the_schema_that_reads_its_columns(
    identity_world: tuple[SyntheticData, pd.DataFrame], tmp_path: Path
) -> None:
    from portsift.features.loading import load_declarations
    from portsift.features.schema_file import read_schema_file

    paths = write_synthetic(identity_world[0], tmp_path)
    assert set(paths) == {*TABLES, "disclosures", "rulings", "schema"}
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
