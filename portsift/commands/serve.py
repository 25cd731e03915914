"""``portsift serve``: the real-time scoring API (BentoML).

The parser lives here, without heavy imports, so that ``portsift --help`` stays fast; the
work is in :mod:`portsift.commands.serve_impl`.
"""

from __future__ import annotations

import argparse
from typing import Any

from portsift.commands import options


def add_parser(subparsers: Any) -> None:
    """Add the ``serve`` subcommand.

    Args:
        subparsers: The ``add_subparsers()`` object of the ``portsift`` parser.
    """
    serve = subparsers.add_parser(
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
    serve.add_argument(
        "--officers",
        help="the officer console's officers TOML file (default PORTSIFT_OFFICERS, else "
        "[console] officers_file); the console is at /console (docs/console.md)",
    )
    serve.add_argument(
        "--enterprises", help="newer enterprise credit register (read again when it changes)"
    )
    serve.add_argument(
        "--commodities", help="newer commodity catalogue (read again when it changes)"
    )
    serve.add_argument(
        "--disclosures",
        help="register of voluntary disclosures (measure 22; read again when it changes)",
    )
    serve.add_argument(
        "--rulings", help="register of advance rulings (measure 12; read again when it changes)"
    )
    serve.add_argument(
        "--insecure-dev",
        dest="insecure_dev",
        action="store_true",
        help="serve without any API token (local demo only; prints a warning)",
    )
    options.add_common(serve)
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``portsift serve`` with parsed ``args`` and return the exit status.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    # Imported here, not at the top: building the parser (``portsift --help``, every other
    # command) must not pay for this command's libraries.
    from portsift.commands.serve_impl import run_serve

    return run_serve(args)
