"""``portsift monitor``: drift of recent declarations against the training window."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from portsift.commands.helpers import EXIT_DRIFT, CliError, notify, say
from portsift.commands.progress import Progress
from portsift.commands.steps import (
    Inputs,
    engine_session,
    model_and_inputs,
    run_settings,
)
from portsift.features import loading
from portsift.features.parts import part_sources
from portsift.features.writing import write_rejected, write_text_atomic
from portsift.monitoring.drift import Thresholds, monitor_declarations, random_marker
from portsift.monitoring.report import render_dashboard
from portsift.store import tracking


def run_monitor(args: argparse.Namespace) -> int:
    """``portsift monitor``: drift of recent declarations against the training window.

    Args:
        args: The parsed command line.

    Returns:
        The exit status (3: a drift threshold was crossed).
    """
    settings = run_settings(args)
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
    with Progress(stages, args.quiet) as progress, engine_session(args) as client:
        bundle, inputs = model_and_inputs(args, progress, client=client)
        progress.stage("monitoring")
        thresholds = Thresholds(
            psi_warn=m.psi_warn,
            psi_alert=m.psi_alert,
            share_floor=m.share_floor,
            no_alert_features=tuple(m.no_alert_features),
            weekly_min_rows=m.weekly_min_rows,
        )
        common: dict[str, Any] = {
            "bins": m.bins,
            "thresholds": thresholds,
            "label_confidence": m.label_confidence,
            "label_min_rows": m.label_min_rows,
            "point_in_time": m.point_in_time_features,
            "since": since,
        }
        try:
            if client is None:
                marker = read_random_marker(args, inputs)
                result = monitor_declarations(
                    bundle,
                    inputs.declarations.frame,
                    inputs.registers,
                    random_mask=None if marker is None else marker[1],
                    marker_column=None if marker is None else marker[0],
                    **common,
                )
            else:
                from portsift.monitoring.dask_drift import monitor_dask

                marked = read_random_ids(args, inputs, client)
                result = monitor_dask(
                    bundle,
                    inputs.declarations.frame,
                    inputs.registers,
                    client,
                    random_ids=None if marked is None else marked[1],
                    marker_column=None if marked is None else marked[0],
                    **common,
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
            notify(args, f"{len(inputs.rejected)} invalid rows set aside in {rejected}")
        run_id = None
        if not args.no_mlflow:
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
        notify(args, note)
    say(
        args,
        f"model {bundle.model_version}: recent {result.recent_from} .. {result.recent_to} "
        f"({len(result.recent_scores):,} declarations) vs training window "
        f"{result.reference.window_from} .. {result.reference.window_to} "
        f"({result.reference.score.rows:,}; reference {result.reference_source})",
    )
    top = result.psi.head(10)
    say(args, "highest PSI:")
    for row in top.itertuples():
        flag = "" if row.alerting else " (not alerting)"
        say(args, f"  {row.variable:<34} {row.psi:8.3f}  {row.status}{flag}")
    if result.labels is not None:
        lab = result.labels
        say(
            args,
            f"violation rate ({lab.sample} sample): training {lab.reference_rate:.1%} "
            f"(n={lab.reference_n}), recent {lab.recent_rate:.1%} (n={lab.recent_n})",
        )
    say(args, f"dashboard written to {args.out}")
    if args.json:
        say(args, f"summary written to {args.json}")
    if run_id is not None:
        say(args, f"MLflow run {run_id} (experiment {m.experiment_name})")
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


def read_random_marker(args: argparse.Namespace, inputs: Inputs) -> tuple[str, Any] | None:
    """The random-inspection marker column of the declarations file, aligned to its valid rows.

    Args:
        args: The parsed command line (its ``declarations``).
        inputs: What :func:`portsift.commands.steps.read_inputs` read from it.

    Returns:
        The marker column's name and a boolean mask over the kept rows, or None without one.

    Raises:
        CliError: The marker column is malformed.
    """
    rejected = inputs.declarations.rejected
    columns: set[str] = set()
    masks = []
    # Part by part (one file is its own only part): rows and rejected rows are per part.
    parts = part_sources(args.declarations)
    for part in parts:
        raw = loading.read_table(part)
        try:
            found = random_marker(raw, part)
        except ValueError as exc:
            raise CliError(str(exc)) from exc
        if found is None:
            continue
        column, mask = found
        columns.add(column)
        if len(rejected):  # --skip-invalid: keep the marks of the rows that were kept
            keep = np.ones(len(raw), dtype=bool)
            mine = rejected["source_file"].astype(str).to_numpy() == part
            keep[rejected["row"].to_numpy(dtype="int64")[mine] - 1] = False
            mask = mask[keep]
        masks.append(mask)
    if not masks:
        return None
    if len(columns) > 1 or len(masks) < len(parts):
        raise CliError(
            f"{args.declarations}: the parts mark random inspections differently "
            f"({', '.join(sorted(columns))} in some parts only); give every part the same column"
        )
    return columns.pop(), np.concatenate(masks)


def _marked_ids(
    part: str, id_column: str, rejected_rows: np.ndarray
) -> tuple[str | None, list[str]] | ValueError:
    """On a worker: the marker column of one part and the ids it marks (of the kept rows)."""
    raw = loading.read_table(part)
    try:
        found = random_marker(raw, part)
    except ValueError as exc:
        return exc
    if found is None:
        return None, []
    column, mask = found
    mask = mask.copy()
    mask[rejected_rows - 1] = False
    ids = raw[id_column].astype("str").str.strip()
    return column, ids[mask].tolist()


def read_random_ids(
    args: argparse.Namespace, inputs: Inputs, client: Any
) -> tuple[str, list[str]] | None:
    """The declaration ids inspected at random, read where the input is.

    Args:
        args: The parsed command line (its ``declarations``).
        inputs: What :func:`portsift.commands.steps.read_inputs` read.
        client: The Dask client the declarations were read on, or None (pandas).

    Returns:
        The marker column and the ids it marks, or None when the file has no marker.

    Raises:
        CliError: The marker column is malformed or differs between parts.
    """
    if client is None:
        marker = read_random_marker(args, inputs)
        if marker is None:
            return None
        frame = inputs.declarations.frame
        return marker[0], frame.loc[marker[1], "declaration_id"].astype(str).tolist()
    parts = part_sources(args.declarations)
    rejected = inputs.declarations.rejected
    id_column = inputs.declarations.columns.get("declaration_id", "declaration_id")
    sources = rejected["source_file"].astype(str).to_numpy() if len(rejected) else np.array([])
    rows = rejected["row"].to_numpy(dtype="int64") if len(rejected) else np.array([], "int64")
    # Each part is read on a worker; only the marked ids (a small share) come back.
    found = client.gather(
        [client.submit(_marked_ids, part, id_column, rows[sources == part]) for part in parts]
    )
    for result in found:
        if isinstance(result, ValueError):
            raise CliError(str(result))
    columns = {column for column, _ in found}
    if columns == {None}:
        return None
    if len(columns - {None}) > 1:
        raise CliError(
            f"{args.declarations}: the parts mark random inspections differently "
            f"({', '.join(sorted(str(c) for c in columns))}); give every part the same column"
        )
    if None in columns:
        raise CliError(
            f"{args.declarations}: some parts have no random-inspection column "
            f"({', '.join(sorted(str(c) for c in columns if c))} in the others); "
            "give every part the same column"
        )
    return str(columns.pop()), [i for _, ids in found for i in ids]
