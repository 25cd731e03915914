"""The classifier's shape chosen at training: validation precision within the SHAP budget."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from portsift.features.pipeline import Registers
from portsift.models.budget import budget_count, select_top
from portsift.models.risk_model import feature_matrix, time_split
from portsift.settings import Settings, ShapeSettings, load_settings
from portsift.synthetic.generator import SyntheticData
from portsift.training.model_search import ShapeTrial, choose, fit_best_shape
from portsift.training.train import split_by_time, training_data

WEAK = ShapeSettings(n_estimators=3, num_leaves=2, max_depth=1, learning_rate=0.05)
USUAL = ShapeSettings(n_estimators=400, num_leaves=15, max_depth=4, learning_rate=0.05)
LARGER = ShapeSettings(n_estimators=300, num_leaves=31, max_depth=5, learning_rate=0.05)


def _trial(shape: ShapeSettings, precision: float, speed: float) -> ShapeTrial:
    return ShapeTrial(shape, 100, precision, 0.8, speed, speed >= 1500, 1.0)


def test_the_default_stays_within_one_standard_error_of_the_best() -> None:
    # 100 top rows: one standard error at 0.80 is 4 points.
    trials = [_trial(USUAL, 0.77, 3000), _trial(LARGER, 0.80, 2000), _trial(WEAK, 0.5, 9000)]
    chosen, reason = choose(trials, top_rows=100)
    assert chosen == 0 and "the default" in reason


def test_a_clearly_better_shape_wins_and_the_fastest_within_the_margin_is_taken() -> None:
    faster = ShapeSettings(n_estimators=800, num_leaves=7, max_depth=3, learning_rate=0.05)
    trials = [_trial(USUAL, 0.70, 3000), _trial(LARGER, 0.80, 2000), _trial(faster, 0.78, 6000)]
    chosen, reason = choose(trials, top_rows=100)
    assert chosen == 2 and "more than one standard error" in reason
    # With the faster one out of the margin, the best is taken.
    trials[2] = _trial(faster, 0.74, 6000)
    assert choose(trials, top_rows=100)[0] == 1


def test_a_shape_over_the_explanation_budget_is_never_chosen() -> None:
    trials = [_trial(USUAL, 0.60, 3000), _trial(LARGER, 0.95, 600)]
    assert choose(trials, top_rows=100)[0] == 0
    nobody = [_trial(USUAL, 0.60, 900), _trial(LARGER, 0.95, 600)]
    chosen, reason = choose(nobody, top_rows=100)
    assert chosen == 0 and "no shape keeps the explanation budget" in reason


def _settings(tmp_path: Path, default: ShapeSettings, shapes: list[ShapeSettings], budget: float):
    def table(shape: ShapeSettings) -> str:
        return (
            f"{{ n_estimators = {shape.n_estimators}, num_leaves = {shape.num_leaves}, "
            f"max_depth = {shape.max_depth}, learning_rate = {shape.learning_rate} }}"
        )

    config = tmp_path / "search.toml"
    config.write_text(
        f"[model]\nn_estimators = {default.n_estimators}\nnum_leaves = {default.num_leaves}\n"
        f"max_depth = {default.max_depth}\nlearning_rate = {default.learning_rate}\n"
        f"[model_search]\nshapes = [{', '.join(table(s) for s in shapes)}]\n"
        f"min_shap_rows_per_second = {budget}\n",
        "utf-8",
    )
    return load_settings(config)


@pytest.fixture(scope="module")
def history(synthetic: SyntheticData, registers: Registers):
    from portsift.training.train import fit

    shipped = load_settings()
    # One pipeline for every search below, fitted once without a search.
    settings = shipped.model_copy(
        update={"model_search": shipped.model_search.model_copy(update={"shapes": ()})}
    )
    ordered = synthetic.declarations.sort_values("declared_at", kind="stable")
    rows, _, _ = split_by_time(ordered, settings.training.holdout_fraction)
    fitted = fit(rows, registers, settings)
    return fitted.pipeline, training_data(rows, fitted.features)


def _validation_precision(model, data, settings: Settings) -> float:
    _, valid = time_split(data, settings.training.validation_fraction)
    features = data.features.iloc[valid]
    risk = model.calibrate(model.raw_score(feature_matrix(features, model.risk_features)))
    top = select_top(risk, settings.model_search.percent / 100)
    return float(data.illicit.to_numpy(dtype="float64")[valid][top].mean())


def test_the_search_replaces_a_weak_default_and_keeps_what_it_measured(
    history, tmp_path: Path
) -> None:
    """Mutation tried: keeping trials[0] whatever the precision trains the 3-stump model."""
    pipeline, data = history
    settings = _settings(tmp_path, WEAK, [USUAL, LARGER], budget=0)
    model, choice = fit_best_shape(settings, pipeline, data)
    assert [t.shape for t in choice.trials] == [WEAK, USUAL, LARGER]
    assert choice.chosen != 0
    winner = choice.winner
    assert winner.precision > choice.trials[0].precision
    # The fitted model is the measured one: same shape, same trees, same validation precision.
    assert model.classifier_params["num_leaves"] == winner.shape.num_leaves
    assert model.n_estimators == winner.shape.n_estimators
    assert model.metadata()["best_iteration"] == winner.trees_kept
    assert _validation_precision(model, data, settings) == pytest.approx(winner.precision)
    # The trials fit the classifier alone; the model kept has its revenue part.
    assert model.regressor_ is not None
    _, valid = time_split(data, settings.training.validation_fraction)
    assert choice.validation_rows == len(valid)
    recorded = choice.to_dict()
    assert recorded["chosen"]["label"] == winner.shape.label
    assert recorded["chosen"]["shap_rows_per_second"] > 0
    assert len(recorded["trials"]) == 3


def test_the_budget_excludes_every_shape_slower_than_it(history, tmp_path: Path) -> None:
    pipeline, data = history
    settings = _settings(tmp_path, USUAL, [WEAK, LARGER], budget=1e12)
    model, choice = fit_best_shape(settings, pipeline, data)
    assert not any(t.eligible for t in choice.trials)
    fastest = max(choice.trials, key=lambda t: t.shap_rows_per_second)
    assert choice.winner == fastest and "no shape keeps" in choice.reason
    assert model.classifier_params["num_leaves"] == fastest.shape.num_leaves


def test_an_empty_search_trains_the_default_and_still_measures_it(history, tmp_path: Path) -> None:
    pipeline, data = history
    settings = _settings(tmp_path, USUAL, [], budget=1500)
    _, choice = fit_best_shape(settings, pipeline, data)
    assert len(choice.trials) == 1 and choice.winner.shape == USUAL
    assert "no search" in choice.reason
    assert math.isfinite(choice.winner.precision)
    assert choice.winner.shap_rows_per_second > 0
    top = budget_count(choice.validation_rows, settings.model_search.percent / 100)
    assert top > 0 and np.isfinite(choice.winner.auc)
