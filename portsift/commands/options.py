"""Option groups shared by several commands (inputs, settings, engine, objective, feedback)."""

from __future__ import annotations

import argparse


def add_common(parser: argparse.ArgumentParser) -> None:
    """Add ``--quiet`` and ``--config``.

    Args:
        parser: The subcommand's parser.
    """
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    parser.add_argument("--config", help="settings TOML overriding the packaged defaults")


def add_inputs(parser: argparse.ArgumentParser, *, schema: bool = True) -> None:
    """Add ``--declarations``, the registers, ``--schema`` and ``--skip-invalid``.

    The registers: ``--enterprises``, ``--lab-results``, ``--commodities``, and the
    optional ``--disclosures`` and ``--rulings``.

    Args:
        parser: The subcommand's parser.
        schema: Whether to add ``--schema``.
    """
    parser.add_argument("--declarations", required=True, help="declarations CSV or Parquet")
    parser.add_argument("--enterprises", help="enterprise credit register")
    parser.add_argument("--lab-results", dest="lab_results", help="third-party lab results")
    parser.add_argument("--commodities", help="commodity catalogue")
    parser.add_argument(
        "--disclosures", help="voluntary disclosures (主动披露, measure 22); optional"
    )
    parser.add_argument("--rulings", help="advance rulings (预裁定, measure 12); optional")
    if schema:
        parser.add_argument("--schema", help="TOML schema file mapping another layout")
    parser.add_argument(
        "--skip-invalid",
        dest="skip_invalid",
        action="store_true",
        help="set invalid rows aside into <output>.rejected.csv instead of failing",
    )


def add_engine(parser: argparse.ArgumentParser) -> None:
    """Add ``--engine``, ``--scheduler`` and ``--dask-workers``.

    Args:
        parser: The subcommand's parser.
    """
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


def add_objective(parser: argparse.ArgumentParser) -> None:
    """Add ``--objective``.

    Args:
        parser: The subcommand's parser.
    """
    parser.add_argument(
        "--objective",
        choices=["hits", "revenue", "blend"],
        help="what the ranking maximises: hits (risk alone), revenue (expected revenue) or "
        "blend (the revenue weight chosen at training); default [selection] objective",
    )


def add_feedback(parser: argparse.ArgumentParser) -> None:
    """Add ``--feedback-from URL`` and ``--feedback-sources NAME[,NAME...]``.

    Args:
        parser: The subcommand's parser.
    """
    parser.add_argument(
        "--feedback-from",
        dest="feedback_from",
        metavar="URL",
        help="audit store (SQLAlchemy URL, as PORTSIFT_AUDIT_URL) whose inspection outcomes "
        "from POST /feedback replace the file's labels of the declarations they name",
    )
    parser.add_argument(
        "--feedback-sources",
        dest="feedback_sources",
        metavar="NAME[,NAME...]",
        help="with --feedback-from: only the outcomes sent by these API credentials count "
        "(default: every credential's)",
    )
