"""The ``portsift`` command: thin wrappers over the library, I/O at the edges.

Every subcommand exits 2 with one clear message on bad input and never leaves a
half-written output file behind.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_BAD_INPUT = 2
#: ``portsift monitor``: a drift threshold was crossed (distinct from bad input).
EXIT_DRIFT = 3


class CliError(Exception):
    """A user error with a message; exits 2."""


@dataclass(frozen=True)
class Inputs:
    """Declarations and registers read for one command."""

    declarations: Any  # LoadedTable
    registers: Any  # Registers
    notes: list[str]
    rejected: Any  # DataFrame of rows set aside


class Progress(AbstractContextManager["Progress"]):
    """One progress bar over the stages of a command (silent with ``--quiet``)."""

    def __init__(self, stages: Sequence[str], quiet: bool) -> None:
        self.stages = list(stages)
        self.quiet = quiet
        self._bar: Any = None
        self._started = False

    def __enter__(self) -> Progress:
        if not self.quiet:
            from tqdm import tqdm

            self._bar = tqdm(
                total=len(self.stages),
                file=sys.stderr,
                unit="stage",
                leave=False,
                disable=None,
                bar_format="{desc:<28} {bar} {n_fmt}/{total_fmt} [{elapsed}]",
            )
        return self

    def stage(self, name: str) -> None:
        """Mark the start of a stage."""
        if self._bar is not None:
            if self._started:
                self._bar.update(1)
            self._bar.set_description_str(name)
        self._started = True

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.update(self._bar.total - self._bar.n)
            self._bar.close()


def _say(args: argparse.Namespace, text: str = "") -> None:
    if not args.quiet:
        print(text)


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"note: {text}", file=sys.stderr)


# -- shared steps ------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> Any:
    from portsift.settings import load_settings

    settings = load_settings(args.config)
    objective = getattr(args, "objective", None)
    if objective is not None:
        selection = settings.selection.model_copy(update={"objective": objective})
        settings = settings.model_copy(update={"selection": selection})
    return settings


def _revenue_weight(settings: Any, bundle: Any) -> float:
    """The ranking's revenue weight: the objective in force, read against the bundle."""
    from portsift.models.scoring import ranking_weight

    return ranking_weight(bundle.metadata, settings.selection.objective)


def _read_inputs(args: argparse.Namespace, *, require_labels: bool = True) -> Inputs:
    import pandas as pd

    from portsift.features import loading
    from portsift.features.pipeline import Registers

    skip = args.skip_invalid
    declarations = loading.load_declarations(
        args.declarations, schema_path=args.schema, skip_invalid=skip, require_labels=require_labels
    )
    tables: dict[str, Any] = {}
    for name, path, load in (
        ("enterprises", args.enterprises, loading.load_enterprises),
        ("lab_results", args.lab_results, loading.load_lab_results),
        ("commodities", args.commodities, loading.load_commodities),
    ):
        tables[name] = load(path, skip_invalid=skip) if path else None
    loaded = [declarations, *(t for t in tables.values() if t is not None)]
    notes = [note for table in loaded for note in table.notes]
    rejected_parts = [t.rejected for t in loaded if len(t.rejected)]
    rejected = pd.concat(rejected_parts, ignore_index=True) if rejected_parts else pd.DataFrame()
    registers = Registers(
        enterprises=tables["enterprises"].frame if tables["enterprises"] else None,
        lab_results=tables["lab_results"].frame if tables["lab_results"] else None,
        commodities=tables["commodities"].frame if tables["commodities"] else None,
    )
    return Inputs(declarations=declarations, registers=registers, notes=notes, rejected=rejected)


def _set_aside(args: argparse.Namespace, inputs: Inputs, output: str | Path) -> None:
    from portsift.features.writing import write_rejected

    for note in inputs.notes:
        _note(args, note)
    path = write_rejected(inputs.rejected, output)
    if path is not None:
        _note(args, f"{len(inputs.rejected)} invalid rows set aside in {path}")


def _rate(args: argparse.Namespace, settings: Any) -> float:
    """The inspection rate of this run: ``--rate`` or the configured default."""
    rate = args.rate if args.rate is not None else settings.selection.default_rate
    if not 0 < rate <= 1:
        raise CliError(f"--rate must be in (0, 1], got {rate}")
    return float(rate)


def _load_bundle(model_dir: str) -> Any:
    from portsift.models.bundle import load_bundle

    return load_bundle(model_dir)


def _check_schema_matches(bundle: Any, declarations: Any, source: str) -> None:
    params = bundle.pipeline.to_dict()["params"]
    missing = [
        c
        for c in (*params["extra_categorical"], *params["extra_numeric"])
        if c not in declarations.frame
    ]
    if missing:
        raise CliError(
            f"{source}: the model was trained with schema features "
            f"{', '.join(missing)} that this file lacks; pass the same --schema as at training"
        )


# -- subcommands -------------------------------------------------------------------


def cmd_generate(args: argparse.Namespace) -> int:
    """``portsift generate``: write a synthetic data set."""
    from portsift.features.writing import write_table_atomic
    from portsift.synthetic.generator import generate_synthetic, write_synthetic
    from portsift.synthetic.layouts import to_bacuda

    if args.rows < 100:
        raise CliError(f"--rows must be at least 100, got {args.rows}")
    if args.fraud == "identity" and args.layout == "bacuda":
        raise CliError(
            "--fraud identity writes seller and courier columns that --layout bacuda lacks"
        )
    with Progress(["generating", "writing"], args.quiet) as progress:
        progress.stage("generating")
        data = generate_synthetic(rows=args.rows, seed=args.seed, fraud=args.fraud)
        progress.stage("writing")
        paths = write_synthetic(data, args.out)
        if args.layout == "bacuda":
            paths["declarations"] = write_table_atomic(
                to_bacuda(data.declarations), Path(args.out) / "declarations.csv"
            )
    d = data.declarations
    _say(
        args,
        f"wrote {len(d):,} declarations ({args.layout} layout), {len(data.enterprises):,} "
        f"register rows, {len(data.lab_results):,} lab reports and "
        f"{len(data.commodities):,} catalogue rows to {args.out}",
    )
    _say(
        args,
        f"inspected {d['inspected'].mean():.1%}, violations among inspected "
        f"{d['illicit'].mean():.1%}, {d['declared_at'].min().date()} .. "
        f"{d['declared_at'].max().date()}",
    )
    if "schema" in paths:
        _say(args, f"identity columns: train and score with --schema {paths['schema']}")
    return 0


def _read_feedback(args: argparse.Namespace) -> tuple[Any, str | None]:
    """The inspection outcomes of ``--feedback-from`` and the URL to show, or ``(None, None)``."""
    if not args.feedback_from:
        return None, None
    from portsift.training.feedback import FeedbackSourceError, describe_url, read_feedback

    try:
        return read_feedback(args.feedback_from), describe_url(args.feedback_from)
    except FeedbackSourceError as exc:
        raise CliError(f"--feedback-from: {exc}") from exc


def _add_engine(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=["pandas", "dask"],
        default="pandas",
        help="pandas (one process) or dask (partitions on a Dask cluster)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler to use (default: start a local cluster for the run)",
    )
    parser.add_argument(
        "--dask-workers",
        dest="dask_workers",
        type=int,
        default=2,
        help="workers of the local Dask cluster (one thread each; default 2)",
    )


def _explain_mode(args: argparse.Namespace) -> Any:
    mode = getattr(args, "explain", "selected")
    return {"all": True, "none": False}.get(mode, "selected")


def _explain_ids(args: argparse.Namespace) -> list[str] | None:
    path = getattr(args, "explain_ids", None)
    if not path:
        return None
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CliError(f"--explain-ids: cannot read {path}: {exc}") from exc
    return [line.strip() for line in lines if line.strip()]


def _cluster(args: argparse.Namespace) -> Any:
    from portsift.training.scale import ClusterConfig

    if args.dask_workers < 1:
        raise CliError(f"--dask-workers must be at least 1, got {args.dask_workers}")
    return ClusterConfig(scheduler=args.scheduler, n_workers=args.dask_workers)


def _cmd_train_dask(args: argparse.Namespace) -> int:
    """``portsift train --engine dask``: the same bundle, trained on a Dask cluster."""
    from portsift.training.evaluate import format_table
    from portsift.training.scale import dask_client, partitioned, train_dask

    if getattr(args, "feedback_from", None):
        raise CliError("--feedback-from is not supported with --engine dask")
    settings = _settings(args)
    stages = ["reading input", "features and models", "hold-out evaluation", "bundle"]
    with Progress(stages, args.quiet) as progress:
        progress.stage("reading input")
        inputs = _read_inputs(args)
        _set_aside(args, inputs, args.model_dir)
        declarations = inputs.declarations
        with dask_client(_cluster(args)) as client:
            try:
                result = train_dask(
                    partitioned(declarations.frame, client=client),
                    inputs.registers,
                    settings,
                    args.model_dir,
                    client,
                    extra_categorical=declarations.extra_categorical,
                    extra_numeric=declarations.extra_numeric,
                    stage=progress.stage,
                )
            except ValueError as exc:
                raise CliError(f"{args.declarations}: {exc}") from exc
    for note in result.notes:
        _note(args, note)
    _say(args, f"model {result.model_version} written to {result.model_dir}")
    if result.evaluation is not None:
        facts = result.evaluation.facts
        _say(
            args,
            f"hold-out from {facts['from']} to {facts['to']}: {facts['labelled_rows']:,} "
            f"inspected declarations, {facts['violations']:,} violations",
        )
        _say(args, format_table(result.evaluation, tuple(settings.evaluation.percents)))
    return 0


def _cmd_score_dask(args: argparse.Namespace) -> int:
    """``portsift score --engine dask``: the same decisions, computed on a Dask cluster."""
    from portsift.models.policy import SelectionPolicy
    from portsift.models.scoring import POLICY_OUTPUT_COLUMNS, SCORE_COLUMNS
    from portsift.training.scale import dask_client, partitioned, score_dask, write_scores

    settings = _settings(args)
    rate = _rate(args, settings)
    policy = SelectionPolicy(settings.selection, rate=rate)
    with Progress(["loading model", "reading input", "scoring", "writing"], args.quiet) as progress:
        progress.stage("loading model")
        bundle = _load_bundle(args.model_dir)
        progress.stage("reading input")
        inputs = _read_inputs(args, require_labels=False)
        _check_schema_matches(bundle, inputs.declarations, args.declarations)
        progress.stage("scoring")
        with dask_client(_cluster(args)) as client:
            scored = score_dask(
                bundle,
                partitioned(inputs.declarations.frame, client=client),
                inputs.registers,
                client,
                rate=rate,
                revenue_weight=_revenue_weight(settings, bundle),
                policy=policy,
                lang=args.lang,
                explain_rows=_explain_mode(args),
                explain_ids=_explain_ids(args),
            )
        progress.stage("writing")
        output = scored.decisions[[*SCORE_COLUMNS, *POLICY_OUTPUT_COLUMNS]]
        write_scores(output, args.out)
        _set_aside(args, inputs, args.out)
    selected = int(output["selected"].sum())
    _say(
        args,
        f"scored {len(output):,} declarations with model {bundle.model_version} on Dask: "
        f"{selected:,} selected ({selected / max(len(output), 1):.1%}); written to {args.out}",
    )
    _report_policy(args, scored, output, policy, _revenue_weight(settings, bundle))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """``portsift train``: fit, evaluate on the time hold-out, save, record in MLflow."""
    from portsift.training.evaluate import format_table
    from portsift.training.train import train

    if getattr(args, "engine", "pandas") == "dask":
        return _cmd_train_dask(args)
    settings = _settings(args)
    stages = ["reading input", "features and models", "bundle", "hold-out evaluation", "MLflow run"]
    with Progress(stages, args.quiet) as progress:
        progress.stage("reading input")
        feedback, source = _read_feedback(args)  # first: a bad store fails before any output
        inputs = _read_inputs(args)
        _set_aside(args, inputs, args.model_dir)
        declarations = inputs.declarations
        try:
            result = train(
                declarations.frame,
                inputs.registers,
                settings,
                args.model_dir,
                extra_categorical=declarations.extra_categorical,
                extra_numeric=declarations.extra_numeric,
                track=not args.no_mlflow,
                stage=progress.stage,
                feedback=feedback,
                feedback_source=source,
            )
        except ValueError as exc:
            raise CliError(f"{args.declarations}: {exc}") from exc
    for note in result.notes:
        _note(args, note)
    if result.feedback is not None:
        counts = result.feedback
        _say(
            args,
            f"feedback from {source}: labels of {counts.labels_from_feedback:,} declarations "
            f"taken from it ({counts.changed:,} differ from the file); "
            f"{counts.unmatched:,} of its {counts.feedback_rows:,} outcomes matched no "
            f"declaration of {args.declarations}",
        )
    _say(args, f"model {result.model_version} written to {result.model_dir}")
    if result.evaluation is not None:
        facts = result.evaluation.facts
        _say(
            args,
            f"hold-out from {facts['from']} to {facts['to']}: {facts['labelled_rows']:,} "
            f"inspected declarations, {facts['violations']:,} violations",
        )
        _say(args, format_table(result.evaluation, tuple(settings.evaluation.percents)))
    if result.registration is not None:
        reg = result.registration
        _say(
            args,
            f"MLflow run {reg.run_id}: {reg.model_name} v{reg.version} -> {reg.alias} "
            f"({reg.reason})",
        )
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    """``portsift retrain``: a challenger on the latest window against the champion."""
    import tempfile

    from portsift.features.writing import write_text_atomic
    from portsift.training.comparison import format_comparison
    from portsift.training.retrain import RetrainError, fetch_champion, retrain

    settings = _settings(args)
    stages = [
        "reading input",
        "champion",
        "champion on the hold-out",
        "features and models",
        "hold-out evaluation",
        "bundle",
        "challenger on the hold-out",
        "MLflow run",
    ]
    # The champion is fetched into a directory of this run only (serve keeps a cache).
    with (
        Progress(stages, args.quiet) as progress,
        tempfile.TemporaryDirectory(prefix="portsift-champion-") as cache,
    ):
        progress.stage("reading input")
        feedback, source = _read_feedback(args)  # first: a bad store fails before any output
        inputs = _read_inputs(args)
        declarations = inputs.declarations
        marker = _random_marker(args, inputs)
        progress.stage("champion")
        try:
            champion = fetch_champion(settings.training.registered_model_name, Path(cache))
        except RetrainError as exc:
            raise CliError(str(exc)) from exc
        if champion is not None:
            _check_schema_matches(champion.bundle, declarations, args.declarations)
        _set_aside(args, inputs, args.model_dir)
        frame = declarations.frame
        random_ids = None if marker is None else frame.loc[marker[1], "declaration_id"]
        try:
            result = retrain(
                frame,
                inputs.registers,
                settings,
                args.model_dir,
                champion=champion,
                window_days=args.window_days,
                holdout_days=args.holdout_days,
                feedback=feedback,
                feedback_source=source,
                random_ids=None if random_ids is None else random_ids.astype(str).tolist(),
                extra_categorical=declarations.extra_categorical,
                extra_numeric=declarations.extra_numeric,
                stage=progress.stage,
            )
        except ValueError as exc:
            raise CliError(f"{args.declarations}: {exc}") from exc
        if args.json:
            write_text_atomic(json.dumps(result.comparison, indent=2, default=str), args.json)
    for note in result.notes:
        _note(args, note)
    if result.training.feedback is not None:
        counts = result.training.feedback
        _say(
            args,
            f"feedback from {source}: labels of {counts.labels_from_feedback:,} declarations "
            f"taken from it ({counts.changed:,} differ from the file); "
            f"{counts.unmatched:,} of its {counts.feedback_rows:,} outcomes matched no "
            f"declaration of {args.declarations}",
        )
    if champion is None:
        _say(args, "no champion registered yet: the challenger becomes the champion")
    else:
        _say(
            args,
            f"champion {champion.uri}: version {champion.registry_version}, model "
            f"{champion.bundle.model_version}",
        )
    challenger, reg = result.challenger, result.registration
    _say(
        args,
        f"challenger model {challenger.model_version} (trained {challenger.trained_from} .. "
        f"{challenger.trained_to}) written to {result.training.model_dir}",
    )
    _say(args, format_comparison(challenger, result.champion))
    _say(args, f"MLflow run {reg.run_id}: {reg.model_name} v{reg.version} -> {reg.alias}")
    if result.promoted:
        _say(args, f"promoted: v{reg.version} is the champion now ({reg.reason})")
    else:
        _say(
            args,
            f"not promoted: v{reg.version} stays challenger, the champion stays "
            f"v{reg.champion_version_before} ({reg.reason})",
        )
    if args.json:
        _say(args, f"comparison written to {args.json}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """``portsift score``: score declarations and select under the budget."""
    from portsift.features.writing import write_table_atomic
    from portsift.models.policy import SelectionPolicy
    from portsift.models.scoring import POLICY_OUTPUT_COLUMNS, SCORE_COLUMNS, score_declarations

    if getattr(args, "engine", "pandas") == "dask":
        return _cmd_score_dask(args)
    settings = _settings(args)
    rate = _rate(args, settings)
    policy = SelectionPolicy(settings.selection, rate=rate)
    with Progress(["loading model", "reading input", "scoring", "writing"], args.quiet) as progress:
        progress.stage("loading model")
        bundle = _load_bundle(args.model_dir)
        progress.stage("reading input")
        inputs = _read_inputs(args, require_labels=False)
        _check_schema_matches(bundle, inputs.declarations, args.declarations)
        progress.stage("scoring")
        scored = score_declarations(
            bundle,
            inputs.declarations.frame,
            inputs.registers,
            rate=rate,
            revenue_weight=_revenue_weight(settings, bundle),
            policy=policy,
            lang=args.lang,
            explain_rows=_explain_mode(args),
            explain_ids=_explain_ids(args),
        )
        progress.stage("writing")
        # The contract's columns first, then the policy's deadlines and flags.
        output = scored.decisions[[*SCORE_COLUMNS, *POLICY_OUTPUT_COLUMNS]]
        write_table_atomic(output, args.out)
        _set_aside(args, inputs, args.out)
    selected = int(output["selected"].sum())
    lanes = output["lane"].value_counts().to_dict()
    _say(
        args,
        f"scored {len(output):,} declarations with model {bundle.model_version}: "
        f"{selected:,} selected ({selected / max(len(output), 1):.1%}); lanes {lanes}; "
        f"written to {args.out}",
    )
    _report_policy(args, scored, output, policy, _revenue_weight(settings, bundle))
    return 0


def _report_policy(
    args: argparse.Namespace, scored: Any, output: Any, policy: Any, revenue_weight: float
) -> None:
    """What ``score`` says about the selection: reasons, objective, budget, rules."""
    facts = scored.policy_facts
    if facts is not None:
        reasons = output["selection_reason"].value_counts().drop("", errors="ignore").to_dict()
        _say(args, f"policy {policy.version}: selections by reason {reasons}")
        if facts.rule_hits > facts.budget:
            _note(
                args,
                f"officer rules select {facts.rule_hits:,}, more than the budget of "
                f"{facts.budget:,}: all rule hits are selected",
            )
        if facts.floor_excess > 0:
            _note(args, facts.floor_message())
        if not facts.constraints_met:
            _note(args, "the credit-tier rate rules cannot all be met in this batch")
    objective = policy.settings.objective
    _say(args, f"ranking objective {objective}: priority = risk x stake^{revenue_weight:g}")
    if bool(scored.decisions["revenue_estimated"].iloc[0]) if len(output) else False:
        _note(args, "expected_revenue is an estimate (the model had no revenue label)")


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``portsift evaluate``: evaluate a bundle on declarations after its training window."""
    import pandas as pd

    from portsift.features.writing import write_text_atomic
    from portsift.training.evaluate import format_table
    from portsift.training.train import evaluate_bundle_on

    settings = _settings(args)
    with Progress(["loading model", "reading input", "evaluating"], args.quiet) as progress:
        progress.stage("loading model")
        bundle = _load_bundle(args.model_dir)
        progress.stage("reading input")
        inputs = _read_inputs(args)
        for note in inputs.notes:
            _note(args, note)
        _check_schema_matches(bundle, inputs.declarations, args.declarations)
        frame = inputs.declarations.frame
        trained_to = pd.Timestamp(bundle.metadata["trained_to"])
        after = frame[frame["declared_at"].dt.normalize() > trained_to]
        if len(after) == 0:
            raise CliError(
                f"{args.declarations}: no declarations lodged after the model's training "
                f"window (which ends {trained_to.date()}); evaluating on them would be in-sample"
            )
        progress.stage("evaluating")
        try:
            evaluation = evaluate_bundle_on(args.model_dir, after, inputs.registers, settings)
        except ValueError as exc:
            raise CliError(f"{args.declarations}: {exc}") from exc
    facts = evaluation.facts
    _say(
        args,
        f"model {bundle.model_version}, evaluated on declarations lodged after its training "
        f"window: {facts['from']} .. {facts['to']}, {facts['labelled_rows']:,} inspected, "
        f"{facts['violations']:,} violations",
    )
    _say(args, format_table(evaluation, tuple(settings.evaluation.percents)))
    _say(args)
    _say(args, "by credit tier:")
    _say(args, evaluation.by_tier.to_string(float_format=lambda v: f"{v:.3f}"))
    if evaluation.policy is not None:
        from portsift.training.evaluate import format_policy

        _say(args)
        _say(args, format_policy(evaluation.policy))
    if args.json:
        write_text_atomic(json.dumps(evaluation.to_dict(), indent=2, default=str), args.json)
        _say(args, f"evaluation written to {args.json}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``portsift report``: one declaration's officer report, or a day's batch report."""
    from portsift.features.writing import write_rejected
    from portsift.models.policy import SelectionPolicy
    from portsift.reports.batch import parse_date, write_batch_report
    from portsift.reports.officer import check_output, write_declaration_report
    from portsift.reports.render import RenderError, find_chromium

    settings = _settings(args)
    rate = _rate(args, settings)
    if not args.timeout > 0:
        raise CliError(f"--timeout must be positive, got {args.timeout}")
    if args.batch and not args.date:
        raise CliError("--batch needs --date YYYY-MM-DD (the day whose declarations to report)")
    if args.date and not args.batch:
        raise CliError("--date goes with --batch; a declaration report takes only --id")
    kind = check_output(args.out)
    day = parse_date(args.date) if args.batch else None
    if kind == "pdf":
        try:  # fail before the scoring, not after it
            find_chromium()
        except RenderError as exc:
            raise CliError(f"{args.out}: {exc}") from exc
    stages = ["loading model", "reading input", "scoring", "writing report"]
    with Progress(stages, args.quiet) as progress:
        progress.stage("loading model")
        bundle = _load_bundle(args.model_dir)
        progress.stage("reading input")
        inputs = _read_inputs(args, require_labels=False)
        for note in inputs.notes:
            _note(args, note)
        _check_schema_matches(bundle, inputs.declarations, args.declarations)
        progress.stage("scoring")
        common = {
            "lang": args.lang,
            "out": args.out,
            "rate": rate,
            "revenue_weight": _revenue_weight(settings, bundle),
            "source": Path(args.declarations).name,
            "timeout": args.timeout,
            "policy": SelectionPolicy(settings.selection, rate=rate),
        }
        try:
            if day is not None:
                path = write_batch_report(
                    bundle,
                    inputs.declarations.frame,
                    inputs.registers,
                    date=day,
                    **common,
                )
            else:
                path = write_declaration_report(
                    bundle,
                    inputs.declarations.frame,
                    inputs.registers,
                    declaration_id=args.id,
                    **common,
                )
        except RenderError as exc:
            raise CliError(f"{args.out}: {exc}") from exc
        rejected = write_rejected(inputs.rejected, args.out)
        if rejected is not None:
            _note(args, f"{len(inputs.rejected)} invalid rows set aside in {rejected}")
    what = f"batch report for {day.date()}" if day is not None else f"report for {args.id}"
    _say(args, f"{what} ({kind.upper()}, {args.lang}) written to {path}")
    return 0


def _serve_model_dir(args: argparse.Namespace) -> str:
    """The bundle directory to serve: ``--model-dir``, or ``--model-uri`` fetched and verified."""
    if not args.model_uri:
        return str(args.model_dir)
    from portsift.store.model_store import ModelUriError, resolve_model_uri

    try:
        resolved = resolve_model_uri(args.model_uri, args.model_cache)
    except ModelUriError as exc:
        raise CliError(str(exc)) from exc
    how = "downloaded to" if resolved.downloaded else "cached in"
    _say(
        args,
        f"portsift serve: {args.model_uri} is registry version {resolved.registry_version}, "
        f"model {resolved.model_version} ({how} {resolved.path})",
    )
    return str(resolved.path)


def _random_marker(args: argparse.Namespace, inputs: Inputs) -> tuple[str, Any] | None:
    """The random-inspection marker column of the declarations file, aligned to its valid rows."""
    import numpy as np

    from portsift.features import loading
    from portsift.monitoring.drift import random_marker

    raw = loading.read_table(args.declarations)
    try:
        found = random_marker(raw, args.declarations)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if found is None:
        return None
    column, mask = found
    rejected = inputs.declarations.rejected
    if len(rejected):  # --skip-invalid: keep the marks of the rows that were kept
        keep = np.ones(len(raw), dtype=bool)
        keep[rejected["row"].to_numpy(dtype="int64") - 1] = False
        mask = mask[keep]
    return column, mask


def cmd_monitor(args: argparse.Namespace) -> int:
    """``portsift monitor``: drift of recent declarations against the training window."""
    import tempfile

    import pandas as pd

    from portsift.features.writing import write_rejected, write_text_atomic
    from portsift.monitoring.drift import Thresholds, monitor_declarations
    from portsift.monitoring.report import render_dashboard

    settings = _settings(args)
    m = settings.monitoring
    if Path(args.out).suffix.lower() not in (".html", ".htm"):
        raise CliError(f"{args.out}: the dashboard is HTML; name it F.html")
    if args.json and Path(args.json).resolve() == Path(args.out).resolve():
        raise CliError(f"{args.json}: --json and --out name the same file")
    since = None
    if args.since:
        since = pd.to_datetime(args.since, errors="coerce", format="%Y-%m-%d")
        if pd.isna(since):
            raise CliError(f"--since {args.since!r} is not a date; use YYYY-MM-DD")
    stages = ["loading model", "reading input", "monitoring", "writing dashboard"]
    with Progress(stages, args.quiet) as progress:
        progress.stage("loading model")
        bundle = _load_bundle(args.model_dir)
        progress.stage("reading input")
        inputs = _read_inputs(args, require_labels=False)
        for note in inputs.notes:
            _note(args, note)
        _check_schema_matches(bundle, inputs.declarations, args.declarations)
        marker = _random_marker(args, inputs)
        progress.stage("monitoring")
        thresholds = Thresholds(
            psi_warn=m.psi_warn,
            psi_alert=m.psi_alert,
            share_floor=m.share_floor,
            no_alert_features=tuple(m.no_alert_features),
            weekly_min_rows=m.weekly_min_rows,
        )
        try:
            result = monitor_declarations(
                bundle,
                inputs.declarations.frame,
                inputs.registers,
                bins=m.bins,
                thresholds=thresholds,
                label_confidence=m.label_confidence,
                label_min_rows=m.label_min_rows,
                point_in_time=m.point_in_time_features,
                since=since,
                random_mask=None if marker is None else marker[1],
                marker_column=None if marker is None else marker[0],
            )
        except ValueError as exc:
            raise CliError(f"{args.declarations}: {exc}") from exc
        progress.stage("writing dashboard")
        html = render_dashboard(
            result, model_version=bundle.model_version, source=Path(args.declarations).name
        )
        summary = json.dumps(
            {"model_version": bundle.model_version, **result.to_dict()}, indent=2, default=str
        )
        write_text_atomic(html, args.out)
        if args.json:
            write_text_atomic(summary, args.json)
        rejected = write_rejected(inputs.rejected, args.out)
        if rejected is not None:
            _note(args, f"{len(inputs.rejected)} invalid rows set aside in {rejected}")
        run_id = None
        if not args.no_mlflow:
            from portsift.store import tracking

            with tempfile.TemporaryDirectory(prefix="portsift-monitor-") as scratch:
                summary_path = Path(scratch) / "monitor.json"
                summary_path.write_text(summary, encoding="utf-8")
                run_id = tracking.record_monitoring_run(
                    experiment_name=m.experiment_name,
                    params={
                        "model_version": bundle.model_version,
                        "reference_from": result.reference.window_from,
                        "reference_to": result.reference.window_to,
                        "reference_source": result.reference_source,
                        "recent_from": result.recent_from,
                        "recent_to": result.recent_to,
                        "recent_rows": len(result.recent_scores),
                        "psi_warn": m.psi_warn,
                        "psi_alert": m.psi_alert,
                        "bins": m.bins,
                        "label_sample": "none" if result.labels is None else result.labels.sample,
                    },
                    metrics=_monitor_metrics(result),
                    artifacts={"dashboard.html": Path(args.out), "monitor.json": summary_path},
                    tags={
                        "portsift.model_version": bundle.model_version,
                        "portsift.drift": "alert" if result.alerts else "ok",
                    },
                )
    for note in result.notes:
        _note(args, note)
    _say(
        args,
        f"model {bundle.model_version}: recent {result.recent_from} .. {result.recent_to} "
        f"({len(result.recent_scores):,} declarations) vs training window "
        f"{result.reference.window_from} .. {result.reference.window_to} "
        f"({result.reference.score.rows:,}; reference {result.reference_source})",
    )
    top = result.psi.head(10)
    _say(args, "highest PSI:")
    for row in top.itertuples():
        flag = "" if row.alerting else " (not alerting)"
        _say(args, f"  {row.variable:<34} {row.psi:8.3f}  {row.status}{flag}")
    if result.labels is not None:
        lab = result.labels
        _say(
            args,
            f"violation rate ({lab.sample} sample): training {lab.reference_rate:.1%} "
            f"(n={lab.reference_n}), recent {lab.recent_rate:.1%} (n={lab.recent_n})",
        )
    _say(args, f"dashboard written to {args.out}")
    if args.json:
        _say(args, f"summary written to {args.json}")
    if run_id is not None:
        _say(args, f"MLflow run {run_id} (experiment {m.experiment_name})")
    if result.alerts:
        # Always printed, even with --quiet: this is what a scheduler's log must show.
        for line in result.alerts:
            print(f"portsift monitor: drift alert: {line}", file=sys.stderr)
        return EXIT_DRIFT
    return 0


def _monitor_metrics(result: Any) -> dict[str, float]:
    """MLflow metrics of a monitoring run: every PSI, the label rates, the verdict."""
    metrics = {f"psi.{row.variable}": float(row.psi) for row in result.psi.itertuples()}
    metrics["alerts"] = float(len(result.alerts))
    metrics["recent_rows"] = float(len(result.recent_scores))
    if result.labels is not None:
        metrics["label.reference_rate"] = result.labels.reference_rate
        metrics["label.recent_rate"] = result.labels.recent_rate
        metrics["label.recent_n"] = float(result.labels.recent_n)
    return metrics


def _simulation_history(args: argparse.Namespace, inputs: Inputs) -> Any:
    """The fully labelled history of ``simulate --declarations``, with its markers.

    The optional columns ``historic_inspected`` (the historic selection, the warm-up's
    labels) and ``drift_ring`` (fraud-ring membership) are read from the file as 0/1
    flags, on the rows the loader kept.
    """
    import numpy as np

    from portsift.features import loading
    from portsift.features.validation import format_rows, parse_flag, row_numbers
    from portsift.training import simulation

    raw = loading.read_table(args.declarations)
    kept = np.ones(len(raw), dtype=bool)
    rejected = inputs.rejected
    if len(rejected):
        mine = rejected[rejected["source_file"] == str(args.declarations)]
        kept[mine["row"].to_numpy(dtype="int64") - 1] = False
    markers: dict[str, Any] = {}
    for column in ("historic_inspected", "drift_ring"):
        if column not in raw:
            continue
        parsed = parse_flag(raw[column], required=True)
        bad = np.zeros(len(raw), dtype=bool)
        for _reason, mask in parsed.problems:
            bad |= mask
        bad &= kept
        if bad.any():
            raise CliError(
                f"{args.declarations}: column '{column}' must be 0/1 on every row; "
                f"{format_rows(row_numbers(bad))} are not"
            )
        markers[column] = parsed.values.to_numpy()[kept] == 1
    try:
        return simulation.history_from_frame(
            inputs.declarations.frame,
            historic=markers.get("historic_inspected"),
            ring=markers.get("drift_ring"),
            source=str(args.declarations),
        )
    except simulation.SimulationError as exc:
        raise CliError(str(exc)) from exc


def cmd_simulate(args: argparse.Namespace) -> int:
    """``portsift simulate``: replay the selection feedback loop week by week."""
    from portsift.features.pipeline import Registers
    from portsift.synthetic.generator import generate_synthetic_with_truth
    from portsift.training import simulation

    settings = _settings(args)
    strategies = None
    if args.strategies is not None:
        strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if args.synthetic is not None and args.synthetic < 1000:
        raise CliError(f"--synthetic must be at least 1000 rows, got {args.synthetic}")
    source = args.declarations or f"synthetic data ({args.synthetic} rows)"
    with Progress(["reading input"], args.quiet) as progress:
        progress.stage("reading input")
        if args.synthetic is not None:
            # The generated world of `portsift generate --rows N --seed S`, with the
            # ground truth of every row that the written files cannot carry.
            data, truth = generate_synthetic_with_truth(
                rows=args.synthetic, seed=args.synthetic_seed
            )
            history = simulation.history_from_synthetic(data, truth)
            registers = Registers(data.enterprises, data.lab_results, data.commodities)
        else:
            inputs = _read_inputs(args)
            # The loader calls the marker columns unused; simulate reads them itself.
            unused = f"{args.declarations}: columns not used: "
            markers = {"historic_inspected", "drift_ring"}
            notes = [
                n
                for n in inputs.notes
                if not (n.startswith(unused) and set(n[len(unused) :].split(", ")) <= markers)
            ]
            inputs = Inputs(inputs.declarations, inputs.registers, notes, inputs.rejected)
            _set_aside(args, inputs, args.out)
            history = _simulation_history(args, inputs)
            registers = inputs.registers
    weeks = simulation.week_numbers(history.declarations["declared_at"])
    try:
        plan = simulation.SimulationPlan.build(
            settings,
            int(weeks.max()) + 1,
            rate=args.rate,
            weeks=args.weeks,
            warmup_weeks=args.warmup_weeks,
            retrain_every=args.retrain_every,
            strategies=strategies,
            seed=args.seed,
        )
    except simulation.SimulationError as exc:
        raise CliError(f"{source}: {exc}") from exc
    stages = [
        "warm-up model",
        *(
            f"week {j + 1}/{plan.weeks}: {name}"
            for j in range(plan.weeks)
            for name in plan.strategies
        ),
        "writing report",
    ]
    with Progress(stages, args.quiet) as progress:
        try:
            result = simulation.simulate(history, registers, settings, plan, stage=progress.stage)
        except simulation.SimulationError as exc:
            raise CliError(f"{source}: {exc}") from exc
        progress.stage("writing report")
        paths = simulation.write_report(result, args.out)
    for note in result.notes:
        _note(args, note)
    _say(args, simulation.format_summary(result))
    _say(
        args,
        f"replayed in {result.seconds:.0f} s; wrote "
        + ", ".join(str(path) for path in paths.values()),
    )
    return 0


def serve_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The ``bentoml serve`` command line and environment of ``portsift serve``.

    Checks everything that can be checked before starting: the bundle (and its real-time
    policy thresholds), the register files, and the tokens; without any token configured
    the server is refused unless ``--insecure-dev``.
    """
    import os

    from portsift.features import loading
    from portsift.serving.auth import TokenConfigError, TokenVerifier

    model_dir = _serve_model_dir(args)
    bundle = _load_bundle(model_dir)
    if not bundle.metadata.get("policy_thresholds"):
        raise CliError(
            f"{args.model_uri or model_dir}: the bundle has no real-time policy thresholds; "
            "retrain it with this version of portsift"
        )
    for path, load in (
        (args.enterprises, loading.load_enterprises),
        (args.commodities, loading.load_commodities),
    ):
        if path:
            load(path)
    try:
        verifier = TokenVerifier.from_env()
    except TokenConfigError as err:
        raise CliError(str(err)) from err
    env = dict(os.environ)
    if not verifier.is_configured:
        if not args.insecure_dev:
            raise CliError(
                "no API token configured: set PORTSIFT_API_TOKENS (comma-separated) or "
                "PORTSIFT_API_TOKEN_FILE; --insecure-dev serves without tokens (local demo only)"
            )
        print(
            "portsift serve: WARNING: --insecure-dev: no API token configured, the API "
            "answers anyone who can reach it; never use this outside a local demo",
            file=sys.stderr,
        )
    if args.insecure_dev:
        env["PORTSIFT_INSECURE_DEV"] = "1"
    if args.workers is not None:
        if args.workers < 1:
            raise CliError(f"--workers must be at least 1, got {args.workers}")
        env["PORTSIFT_WORKERS"] = str(args.workers)
    env["PORTSIFT_MODEL_DIR"] = str(Path(model_dir).resolve())
    for name, path in (
        ("PORTSIFT_ENTERPRISES", args.enterprises),
        ("PORTSIFT_COMMODITIES", args.commodities),
    ):
        if path:
            env[name] = str(Path(path).resolve())
        else:
            env.pop(name, None)
    if args.config:
        env["PORTSIFT_CONFIG"] = str(Path(args.config).resolve())
    # One worker (set in the service), LightGBM and BLAS one thread each.
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("BENTOML_DO_NOT_TRACK", "true")
    project = Path(__file__).resolve().parent.parent
    command = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "portsift.serving.service:Portsift",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--working-dir",
        str(project),
    ]
    return command, env


def cmd_serve(args: argparse.Namespace) -> int:
    """``portsift serve``: start the BentoML scoring API (replaces this process)."""
    import os

    command, env = serve_command(args)
    model = args.model_uri or args.model_dir
    _say(args, f"portsift serve: http://{args.host}:{args.port} (model {model})")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)
    return 0  # not reached


# -- parser ------------------------------------------------------------------------


def _add_objective(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--objective",
        choices=["hits", "revenue", "blend"],
        help="what the ranking maximises: hits (risk alone), revenue (expected revenue) or "
        "blend (the revenue weight chosen at training); default [selection] objective",
    )


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    parser.add_argument("--config", help="settings TOML overriding the packaged defaults")


def _add_inputs(parser: argparse.ArgumentParser, *, schema: bool = True) -> None:
    parser.add_argument("--declarations", required=True, help="declarations CSV or Parquet")
    parser.add_argument("--enterprises", help="enterprise credit register")
    parser.add_argument("--lab-results", dest="lab_results", help="third-party lab results")
    parser.add_argument("--commodities", help="commodity catalogue")
    if schema:
        parser.add_argument("--schema", help="TOML schema file mapping another layout")
    parser.add_argument(
        "--skip-invalid",
        dest="skip_invalid",
        action="store_true",
        help="set invalid rows aside into <output>.rejected.csv instead of failing",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``portsift``."""
    parser = argparse.ArgumentParser(
        prog="portsift", description="Customs risk scoring and inspection selection."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write a synthetic data set")
    generate.add_argument("--out", required=True, help="output directory")
    generate.add_argument("--rows", type=int, default=100_000)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument(
        "--layout",
        choices=["canonical", "bacuda"],
        default="canonical",
        help="layout of declarations.csv",
    )
    generate.add_argument(
        "--fraud",
        choices=["default", "identity"],
        default="default",
        help="what drives the fraud: the default world, or recurring identities and their "
        "pairs (adds seller_id and courier_id, and schema.toml to read them)",
    )
    _add_common(generate)
    generate.set_defaults(handler=cmd_generate)

    train = commands.add_parser("train", help="train a model bundle and record the run")
    _add_inputs(train)
    train.add_argument("--model-dir", dest="model_dir", required=True)
    train.add_argument(
        "--no-mlflow",
        dest="no_mlflow",
        action="store_true",
        help="do not record the run in MLflow",
    )
    train.add_argument(
        "--feedback-from",
        dest="feedback_from",
        metavar="URL",
        help="audit store (SQLAlchemy URL, as PORTSIFT_AUDIT_URL) whose inspection outcomes "
        "from POST /feedback replace the file's labels of the declarations they name",
    )
    _add_engine(train)
    _add_objective(train)
    _add_common(train)
    train.set_defaults(handler=cmd_train)

    retrain = commands.add_parser(
        "retrain",
        help="train a challenger on the latest window and promote it if it beats the champion",
        description="Train a challenger on the latest window of --declarations (the last "
        "--window-days before a recent hold-out; default all of it), with the outcomes of "
        "--feedback-from merged in, and evaluate it and the registered champion "
        "(models:/<registered_model_name>@champion in MLFLOW_TRACKING_URI) on the same "
        "hold-out rows, after both models' training windows. The challenger takes the "
        "champion alias only with a strictly higher P@5% there, else it is registered as "
        "challenger. Exit status 0 either way, 2 on bad input.",
    )
    _add_inputs(retrain)
    retrain.add_argument("--model-dir", dest="model_dir", required=True)
    retrain.add_argument(
        "--feedback-from",
        dest="feedback_from",
        metavar="URL",
        help="audit store (SQLAlchemy URL, as PORTSIFT_AUDIT_URL) whose inspection outcomes "
        "replace the file's labels of the declarations they name",
    )
    retrain.add_argument(
        "--window-days",
        dest="window_days",
        type=int,
        metavar="N",
        help="train on the last N days before the hold-out (default: everything before it)",
    )
    retrain.add_argument(
        "--holdout-days",
        dest="holdout_days",
        type=int,
        metavar="N",
        help="hold out the last N days of the file (default: [training] holdout_fraction)",
    )
    retrain.add_argument("--json", help="also write the comparison (comparison.json) here")
    _add_common(retrain)
    retrain.set_defaults(handler=cmd_retrain)

    score = commands.add_parser("score", help="score declarations and select inspections")
    score.add_argument("--model-dir", dest="model_dir", required=True)
    _add_inputs(score)
    score.add_argument("--rate", type=float, help="share of declarations to inspect")
    score.add_argument("--out", required=True, help="output CSV or Parquet")
    score.add_argument("--lang", choices=["en", "zh"], default="en", help="language of reasons")
    score.add_argument(
        "--explain",
        choices=["selected", "all", "none"],
        default="selected",
        help="rows that get SHAP reasons: selected ones (and --explain-ids), all, or none",
    )
    score.add_argument(
        "--explain-ids",
        dest="explain_ids",
        metavar="FILE",
        help="declaration ids (one a line) also explained with --explain selected",
    )
    _add_engine(score)
    _add_objective(score)
    _add_common(score)
    score.set_defaults(handler=cmd_score)

    evaluate = commands.add_parser("evaluate", help="evaluate a model against baselines")
    evaluate.add_argument("--model-dir", dest="model_dir", required=True)
    _add_inputs(evaluate)
    evaluate.add_argument("--json", help="also write the table as JSON")
    _add_objective(evaluate)
    _add_common(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)

    report = commands.add_parser(
        "report",
        help="write an officer explanation report (one declaration, or a day's batch)",
        description="One declaration's explanation report (--id), or the daily batch "
        "report of the declarations lodged on a day (--batch --date D), as HTML or PDF "
        "(by the suffix of --out; PDF needs headless Chromium).",
    )
    report.add_argument("--model-dir", dest="model_dir", required=True)
    _add_inputs(report)
    which = report.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", help="declaration id to report on")
    which.add_argument(
        "--batch", action="store_true", help="daily batch report of the day given by --date"
    )
    report.add_argument("--date", help="day of the batch report, YYYY-MM-DD")
    report.add_argument("--lang", choices=["zh", "en"], default="zh", help="report language")
    report.add_argument(
        "--rate", type=float, help="inspection rate of the batch (default from the settings)"
    )
    report.add_argument("--out", required=True, help="F.html or F.pdf")
    report.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds the browser may take to print a PDF (default 120)",
    )
    _add_objective(report)
    _add_common(report)
    report.set_defaults(handler=cmd_report)

    simulate = commands.add_parser(
        "simulate",
        help="replay the selection feedback loop week by week and compare strategies",
        description="Replay a fully labelled history week by week (WCO BACUDA simulation): "
        "a warm-up model learns from the historic labels, then each week every strategy "
        "scores and selects under the same budget and only its selections reveal their "
        "labels. Every row of --declarations must carry its true illicit (and revenue); "
        "optional 0/1 columns historic_inspected (the warm-up's labels) and drift_ring "
        "(fraud-ring membership). --synthetic N replays the generated world of "
        "`portsift generate --rows N` with its ground truth instead.",
    )
    source = simulate.add_mutually_exclusive_group(required=True)
    source.add_argument("--declarations", help="fully labelled declarations CSV or Parquet")
    source.add_argument(
        "--synthetic", type=int, help="replay N generated declarations with their ground truth"
    )
    simulate.add_argument(
        "--synthetic-seed",
        dest="synthetic_seed",
        type=int,
        default=0,
        help="seed of the generated world (as generate --seed; default 0)",
    )
    simulate.add_argument("--enterprises", help="enterprise credit register")
    simulate.add_argument("--lab-results", dest="lab_results", help="third-party lab results")
    simulate.add_argument("--commodities", help="commodity catalogue")
    simulate.add_argument("--schema", help="TOML schema file mapping another layout")
    simulate.add_argument(
        "--skip-invalid",
        dest="skip_invalid",
        action="store_true",
        help="set invalid rows aside into OUT.rejected.csv instead of failing",
    )
    simulate.add_argument("--rate", type=float, help="share of each week to inspect")
    simulate.add_argument("--weeks", type=int, help="weeks to replay (default [simulation])")
    simulate.add_argument(
        "--warmup-weeks",
        dest="warmup_weeks",
        type=int,
        help="weeks of historic labels to warm up on (default: all before the replay)",
    )
    simulate.add_argument(
        "--retrain-every", dest="retrain_every", type=int, help="weeks between refits"
    )
    simulate.add_argument(
        "--strategies",
        help="comma-separated: exploit, policy, uncertainty, bandit, policy_ipw",
    )
    simulate.add_argument("--seed", type=int, help="seed of the run's random draws")
    simulate.add_argument("--out", required=True, help="output directory")
    _add_common(simulate)
    simulate.set_defaults(handler=cmd_simulate)

    monitor = commands.add_parser(
        "monitor",
        help="drift of recent declarations against the model's training window",
        description="Population stability (PSI) of every model feature and of the risk "
        "score, and the violation rate of the random inspection sample, of the "
        "declarations lodged after the model's training window (or from --since on) "
        "against that window. Writes an HTML dashboard and records an MLflow run. Exit "
        "status 0: nothing crossed an alert threshold; 3: a threshold was crossed (the "
        "alerts are printed); 2: bad input.",
    )
    monitor.add_argument("--model-dir", dest="model_dir", required=True)
    _add_inputs(monitor)
    monitor.add_argument("--since", help="first day of the recent window, YYYY-MM-DD")
    monitor.add_argument("--out", required=True, help="dashboard F.html")
    monitor.add_argument("--json", help="also write the results as JSON")
    monitor.add_argument(
        "--no-mlflow",
        dest="no_mlflow",
        action="store_true",
        help="do not record the run in MLflow",
    )
    _add_common(monitor)
    monitor.set_defaults(handler=cmd_monitor)

    serve = commands.add_parser(
        "serve",
        help="start the real-time scoring API (BentoML)",
        description="Serve POST /score, /score_batch and /feedback with BentoML. Tokens "
        "come from PORTSIFT_API_TOKENS or PORTSIFT_API_TOKEN_FILE; the audit store from "
        "PORTSIFT_AUDIT_URL (default sqlite:///portsift-audit.db).",
    )
    model = serve.add_mutually_exclusive_group(required=True)
    model.add_argument("--model-dir", dest="model_dir", help="the model bundle directory")
    model.add_argument(
        "--model-uri",
        dest="model_uri",
        metavar="URI",
        help="a bundle registered in MLflow (MLFLOW_TRACKING_URI), e.g. "
        "models:/portsift-risk@champion or models:/portsift-risk/3; fetched into the "
        "model cache and verified before serving",
    )
    serve.add_argument(
        "--model-cache",
        dest="model_cache",
        metavar="DIR",
        help="where --model-uri bundles are kept (default PORTSIFT_MODEL_CACHE, else "
        "~/.cache/portsift/models)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default PORTSIFT_WORKERS, else 1); one per core serves the "
        "most clients, each runs LightGBM on one thread",
    )
    serve.add_argument("--enterprises", help="newer enterprise credit register")
    serve.add_argument("--commodities", help="newer commodity catalogue")
    serve.add_argument(
        "--insecure-dev",
        dest="insecure_dev",
        action="store_true",
        help="serve without any API token (local demo only; prints a warning)",
    )
    _add_common(serve)
    serve.set_defaults(handler=cmd_serve)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    from portsift.features.validation import InputError
    from portsift.models.bundle import BundleError
    from portsift.settings import SettingsError

    return (CliError, InputError, BundleError, SettingsError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``portsift`` with ``argv`` and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    errors = _user_errors()
    try:
        return handler(args)
    except errors as exc:
        print(f"portsift {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
