"""Steps shared by the command implementations: settings, inputs, bundle, explanations."""

from __future__ import annotations

import argparse
import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from portsift.commands.helpers import CliError, notify, say
from portsift.features import loading
from portsift.features.parts import load_parts
from portsift.features.pipeline import Registers
from portsift.features.writing import write_rejected
from portsift.models.bundle import load_bundle
from portsift.models.scoring import ranking_weight
from portsift.settings import load_settings
from portsift.training.evaluate import format_table
from portsift.training.feedback import FeedbackSourceError, describe_url, read_feedback


@dataclass(frozen=True)
class Inputs:
    """Declarations and registers read for one command."""

    declarations: Any  # LoadedTable
    registers: Any  # Registers
    notes: list[str]
    rejected: Any  # DataFrame of rows set aside


def run_settings(args: argparse.Namespace) -> Any:
    """The settings of ``--config``, with ``--objective`` (if given) in force.

    Args:
        args: The parsed command line.

    Returns:
        The ``Settings``.
    """
    settings = load_settings(args.config)
    objective = getattr(args, "objective", None)
    if objective is not None:
        selection = settings.selection.model_copy(update={"objective": objective})
        settings = settings.model_copy(update={"selection": selection})
    return settings


def ranking_revenue_weight(settings: Any, bundle: Any) -> float:
    """The ranking's revenue weight: the objective in force, read against the bundle.

    Args:
        settings: The run's settings.
        bundle: The loaded bundle.

    Returns:
        The weight of the stake in ``priority = risk x stake^weight``.
    """
    return ranking_weight(bundle.metadata, settings.selection.objective)


@contextlib.contextmanager
def engine_session(args: argparse.Namespace) -> Iterator[Any]:
    """The Dask client of ``--engine dask`` for the block, or None for pandas.

    Args:
        args: The parsed command line (``--engine``, ``--scheduler``, ``--dask-workers``).

    Yields:
        A ``distributed.Client`` (the local cluster of the run, or ``--scheduler``'s), or None.

    Raises:
        CliError: ``--dask-workers`` is below 1.
    """
    if getattr(args, "engine", "pandas") != "dask":
        yield None
        return
    # Imported here: the pandas engine does not pay for Dask.
    from portsift.training.scale import ClusterConfig, dask_client

    if args.dask_workers < 1:
        raise CliError(f"--dask-workers must be at least 1, got {args.dask_workers}")
    config = ClusterConfig(scheduler=args.scheduler, n_workers=args.dask_workers)
    with dask_client(config) as client:
        yield client


def read_inputs(
    args: argparse.Namespace, *, require_labels: bool = True, client: Any = None
) -> Inputs:
    """Read ``--declarations`` and the register files given.

    Each may be one file, a directory of parts or a glob (:mod:`portsift.features.parts`).
    With ``client`` (``--engine dask``) the declarations are read and validated on its
    workers (:func:`portsift.features.dask_loading.load_parts_dask`) and ``declarations.frame``
    is a ``dask.dataframe``; the registers, which every partition needs whole, are read
    here in either case.

    Args:
        args: The parsed command line.
        require_labels: Whether the declarations must carry labels.
        client: A ``distributed.Client`` to read the declarations on, or None.

    Returns:
        The tables read, their notes and the rows set aside.
    """
    skip = args.skip_invalid
    options: dict[str, Any] = {
        "schema_path": args.schema,
        "skip_invalid": skip,
        "require_labels": require_labels,
        # The bounds of --config, which the loader's default (PORTSIFT_CONFIG) does not see.
        "bounds": load_settings(getattr(args, "config", None)).input_bounds.as_mapping(),
    }
    key = loading.UNIQUE_KEYS["declarations"]
    if client is not None:
        from portsift.features.dask_loading import load_parts_dask

        declarations = load_parts_dask(
            args.declarations, loading.load_declarations, key, client, **options
        )
    else:
        declarations = load_parts(
            args.declarations,
            functools.partial(loading.load_declarations, **options),
            key,
            skip_invalid=skip,
        )
    tables: dict[str, Any] = {}
    for name, path, load in (
        ("enterprises", args.enterprises, loading.load_enterprises),
        ("lab_results", args.lab_results, loading.load_lab_results),
        ("commodities", args.commodities, loading.load_commodities),
        ("disclosures", getattr(args, "disclosures", None), loading.load_disclosures),
        ("rulings", getattr(args, "rulings", None), loading.load_rulings),
    ):
        read = functools.partial(load, skip_invalid=skip)
        key_of = loading.UNIQUE_KEYS.get(name)
        tables[name] = load_parts(path, read, key_of, skip_invalid=skip) if path else None
    loaded = [declarations, *(t for t in tables.values() if t is not None)]
    notes = [note for table in loaded for note in table.notes]
    rejected_parts = [t.rejected for t in loaded if len(t.rejected)]
    rejected = pd.concat(rejected_parts, ignore_index=True) if rejected_parts else pd.DataFrame()
    registers = Registers(
        **{name: table.frame if table else None for name, table in tables.items()}
    )
    return Inputs(declarations=declarations, registers=registers, notes=notes, rejected=rejected)


def set_aside(args: argparse.Namespace, inputs: Inputs, output: str | Path) -> None:
    """Print the inputs' notes and write their rejected rows next to ``output``.

    Args:
        args: The parsed command line.
        inputs: What :func:`read_inputs` read.
        output: The command's output file or directory.
    """
    for note in inputs.notes:
        notify(args, note)
    path = write_rejected(inputs.rejected, output)
    if path is not None:
        notify(args, f"{len(inputs.rejected)} invalid rows set aside in {path}")


def inspection_rate(args: argparse.Namespace, settings: Any) -> float:
    """The inspection rate of this run: ``--rate`` or the configured default.

    Args:
        args: The parsed command line.
        settings: The run's settings.

    Returns:
        The rate, in (0, 1].

    Raises:
        CliError: ``--rate`` is outside (0, 1].
    """
    rate = args.rate if args.rate is not None else settings.selection.default_rate
    if not 0 < rate <= 1:
        raise CliError(f"--rate must be in (0, 1], got {rate}")
    return float(rate)


def load_model_bundle(model_dir: str) -> Any:
    """Load the model bundle of ``model_dir``.

    Args:
        model_dir: The bundle directory.

    Returns:
        The ``ModelBundle``.
    """
    return load_bundle(model_dir)


def check_schema_matches(bundle: Any, declarations: Any, source: str) -> None:
    """Refuse declarations that lack the schema features the bundle was trained with.

    Args:
        bundle: The loaded bundle.
        declarations: The loaded declarations table.
        source: The declarations file, for the message.

    Raises:
        CliError: Some schema features are missing.
    """
    params = bundle.pipeline.to_dict()["params"]
    missing = [
        c
        for c in (*params["extra_categorical"], *params["extra_numeric"])
        if c not in declarations.frame.columns
    ]
    if missing:
        raise CliError(
            f"{source}: the model was trained with schema features "
            f"{', '.join(missing)} that this file lacks; pass the same --schema as at training"
        )


def read_feedback_option(args: argparse.Namespace) -> tuple[Any, str | None]:
    """The inspection outcomes of ``--feedback-from`` and the URL to show, or ``(None, None)``.

    Args:
        args: The parsed command line.

    Returns:
        The outcomes and the store's URL (without a password), or ``(None, None)``.

    Raises:
        CliError: The store cannot be read.
    """
    sources = _feedback_sources(args)
    if not args.feedback_from:
        if sources is not None:
            raise CliError("--feedback-sources needs --feedback-from")
        return None, None

    try:
        outcomes = read_feedback(args.feedback_from, sources=sources)
    except FeedbackSourceError as exc:
        raise CliError(f"--feedback-from: {exc}") from exc
    shown = describe_url(args.feedback_from)
    if sources is not None:
        shown += f" (outcomes from {', '.join(sources)})"
    return outcomes, shown


def _feedback_sources(args: argparse.Namespace) -> list[str] | None:
    """The credential names of ``--feedback-sources``, checked, or ``None``."""
    from portsift.serving.auth import TokenConfigError, check_name

    text = getattr(args, "feedback_sources", None)
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    try:
        return [check_name(name, "--feedback-sources") for name in names]
    except TokenConfigError as exc:
        raise CliError(str(exc)) from exc


def explain_mode(args: argparse.Namespace) -> Any:
    """The ``explain_rows`` of ``--explain``: True (all), False (none) or "selected".

    Args:
        args: The parsed command line.

    Returns:
        The mode.
    """
    mode = getattr(args, "explain", "selected")
    return {"all": True, "none": False}.get(mode, "selected")


def explain_ids(args: argparse.Namespace) -> list[str] | None:
    """The declaration ids of ``--explain-ids``, or None without it.

    Args:
        args: The parsed command line.

    Returns:
        The ids, one per non-empty line of the file.

    Raises:
        CliError: The file cannot be read.
    """
    path = getattr(args, "explain_ids", None)
    if not path:
        return None
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CliError(f"--explain-ids: cannot read {path}: {exc}") from exc
    return [line.strip() for line in lines if line.strip()]


def model_and_inputs(
    args: argparse.Namespace, progress: Any, *, client: Any = None
) -> tuple[Any, Inputs]:
    """Load ``--model-dir`` and read unlabelled inputs that match its schema.

    Args:
        args: The parsed command line.
        progress: The command's progress display (stages "loading model", "reading input").
        client: A Dask client to read the declarations on (``--engine dask``), or None.

    Returns:
        ``(bundle, inputs)``; the loader's notes are said on stderr.
    """
    progress.stage("loading model")
    bundle = load_model_bundle(args.model_dir)
    progress.stage("reading input")
    inputs = read_inputs(args, require_labels=False, client=client)
    for note in inputs.notes:
        notify(args, note)
    check_schema_matches(bundle, inputs.declarations, args.declarations)
    return bundle, inputs


def report_trained(args: argparse.Namespace, result: Any, settings: Any) -> None:
    """Say where a trained bundle went and, with a hold-out, its evaluation table.

    Args:
        args: The parsed command line.
        result: The training result (pandas or Dask).
        settings: The run's settings (the evaluation's percents).
    """
    say(args, f"model {result.model_version} written to {result.model_dir}")
    if result.evaluation is not None:
        facts = result.evaluation.facts
        say(
            args,
            f"hold-out from {facts['from']} to {facts['to']}: {facts['labelled_rows']:,} "
            f"inspected declarations, {facts['violations']:,} violations",
        )
        say(args, format_table(result.evaluation, tuple(settings.evaluation.percents)))


def report_training(
    args: argparse.Namespace, result: Any, settings: Any, feedback_source: str | None
) -> None:
    """Say what a training run did (either engine): notes, feedback, bundle, MLflow run.

    Args:
        args: The parsed command line.
        result: The training result (``notes``, ``feedback``, ``registration``, ...).
        settings: The run's settings.
        feedback_source: Where ``--feedback-from`` read (shown), or None.
    """
    for note in result.notes:
        notify(args, note)
    if result.feedback is not None:
        counts = result.feedback
        say(
            args,
            f"feedback from {feedback_source}: labels of {counts.labels_from_feedback:,} "
            f"declarations taken from it ({counts.changed:,} differ from the file); "
            f"{counts.unmatched:,} of its {counts.feedback_rows:,} outcomes matched no "
            f"declaration of {args.declarations}",
        )
    report_trained(args, result, settings)
    if result.registration is not None:
        reg = result.registration
        say(
            args,
            f"MLflow run {reg.run_id}: {reg.model_name} v{reg.version} -> {reg.alias} "
            f"({reg.reason})",
        )
