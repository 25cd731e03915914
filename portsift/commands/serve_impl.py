"""``portsift serve``: check everything, then replace this process by ``bentoml serve``.

BentoML is started through :mod:`portsift.serving.launch`, which gives the server a
Prometheus directory of its own and removes it at exit.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from portsift.commands.helpers import CliError, say
from portsift.commands.steps import load_model_bundle
from portsift.serving.auth import TokenConfigError, TokenVerifier
from portsift.serving.registers import LOADERS, REGISTER_ENV
from portsift.store.model_store import ModelUriError, resolve_model_uri


def run_serve(args: argparse.Namespace) -> int:
    """``portsift serve``: start the BentoML scoring API (replaces this process).

    Args:
        args: The parsed command line.

    Returns:
        The exit status (not reached: the process is replaced).
    """
    command, env = serve_command(args)
    model = args.model_uri or args.model_dir
    say(args, f"portsift serve: http://{args.host}:{args.port} (model {model})")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)
    return 0  # not reached


def _check_console(args: argparse.Namespace, env: dict[str, str]) -> None:
    """Check the console's officers file now (a bad one would stop every worker).

    Sets ``PORTSIFT_OFFICERS`` from ``--officers``; refuses several workers without a
    shared session secret (each would sign sessions with one of its own).

    Args:
        args: The parsed command line (``officers``, ``config``).
        env: The server's environment, changed in place.

    Raises:
        CliError: The officers file is unreadable or invalid (file, officer and field
            named), or ``--workers`` > 1 without ``PORTSIFT_CONSOLE_SECRET``.
    """
    from portsift.serving.console.officers import (
        OFFICERS_ENV,
        OfficerConfigError,
        load_officers,
        officers_path,
    )
    from portsift.serving.console.sessions import SECRET_ENV
    from portsift.settings import load_settings

    if args.officers:
        env[OFFICERS_ENV] = str(Path(args.officers).resolve())
    path = officers_path(load_settings(args.config).console.officers_file, env)
    if path is None:
        print(
            f"portsift serve: note: no officers file ({OFFICERS_ENV} or --officers): nobody "
            "can sign in to /console",
            file=sys.stderr,
        )
        return
    try:
        officers = load_officers(path)
    except OfficerConfigError as err:
        raise CliError(str(err)) from err
    workers = int(env.get("PORTSIFT_WORKERS", "1") or 1)
    if workers > 1 and not env.get(SECRET_ENV):
        raise CliError(
            f"--workers {workers} with the console needs {SECRET_ENV} (one session secret "
            "shared by the workers, at least 32 characters)"
        )
    say(args, f"portsift serve: console at /console for {len(officers)} officer(s) of {path}")


def serve_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The ``bentoml serve`` command line and environment of ``portsift serve``.

    Checks everything that can be checked before starting: the bundle (and its real-time
    policy thresholds), the register files (with the loaders of ``portsift score``), and
    the tokens; without any token configured
    the server is refused unless ``--insecure-dev``.

    Args:
        args: The parsed command line.

    Returns:
        The command line to execute and its environment.

    Raises:
        CliError: Something cannot be served (bundle, tokens, ``--workers``).
        InputError: A register file is missing or invalid (exit status 2).
    """
    model_dir = _serve_model_dir(args)
    bundle = load_model_bundle(model_dir)
    if not bundle.metadata.get("policy_thresholds"):
        raise CliError(
            f"{args.model_uri or model_dir}: the bundle has no real-time policy thresholds; "
            "retrain it with this version of portsift"
        )
    files = _register_files(args)
    for kind, path in files.items():
        # The worker's loaders, before anything starts: a bad file exits 2 here.
        LOADERS[kind](path)
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
    _check_console(args, env)
    env["PORTSIFT_MODEL_DIR"] = str(Path(model_dir).resolve())
    for kind, name in REGISTER_ENV.items():
        if kind in files:
            env[name] = str(Path(files[kind]).resolve())
        else:
            env.pop(name, None)
    if args.config:
        env["PORTSIFT_CONFIG"] = str(Path(args.config).resolve())
    # One worker (set in the service), LightGBM and BLAS one thread each.
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("BENTOML_DO_NOT_TRACK", "true")
    # The repository (or site-packages) root: this file is portsift/commands/serve_impl.py.
    project = Path(__file__).resolve().parents[2]
    command = [
        sys.executable,
        "-m",
        # bentoml serve, with a Prometheus directory of this server's own (serving.launch).
        "portsift.serving.launch",
        "portsift.serving.service:Portsift",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--working-dir",
        str(project),
    ]
    return command, env


def _serve_model_dir(args: argparse.Namespace) -> str:
    """The bundle directory to serve: ``--model-dir``, or ``--model-uri`` fetched and verified."""
    if not args.model_uri:
        return str(args.model_dir)

    try:
        resolved = resolve_model_uri(args.model_uri, args.model_cache)
    except ModelUriError as exc:
        raise CliError(str(exc)) from exc
    how = "downloaded to" if resolved.downloaded else "cached in"
    say(
        args,
        f"portsift serve: {args.model_uri} is registry version {resolved.registry_version}, "
        f"model {resolved.model_version} ({how} {resolved.path})",
    )
    return str(resolved.path)


def _register_files(args: argparse.Namespace) -> dict[str, str]:
    """Register kind -> the file given for it on the command line."""
    given = {kind: getattr(args, kind, None) for kind in REGISTER_ENV}
    return {kind: str(path) for kind, path in given.items() if path}
