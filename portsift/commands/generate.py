"""``portsift generate``: write a synthetic data set.

The parser lives here, without heavy imports, so that ``portsift --help`` stays fast; the
work is in :mod:`portsift.commands.generate_impl`.
"""

from __future__ import annotations

import argparse
from typing import Any

from portsift.commands import options


def add_parser(subparsers: Any) -> None:
    """Add the ``generate`` subcommand.

    Args:
        subparsers: The ``add_subparsers()`` object of the ``portsift`` parser.
    """
    generate = subparsers.add_parser("generate", help="write a synthetic data set")
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
    generate.add_argument(
        "--duty-free-share",
        type=float,
        default=0.0,
        metavar="S",
        help="share of the food and cosmetics importers that are offshore duty-free "
        "operators: their general-trade declarations of those goods become trade mode 1741 "
        "(duty-free goods, measure 14's conditional release); default 0, the plain world",
    )
    options.add_common(generate)
    generate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``portsift generate`` with parsed ``args`` and return the exit status.

    Args:
        args: The parsed command line.

    Returns:
        The exit status.
    """
    # Imported here, not at the top: building the parser (``portsift --help``, every other
    # command) must not pay for this command's libraries.
    from portsift.commands.generate_impl import run_generate

    return run_generate(args)
