"""``portsift console hash-password`` and ``add-officer``: officers for ``/console``."""

from __future__ import annotations

import argparse
import getpass
import json
import secrets
import sys
from pathlib import Path

from portsift.commands.helpers import CliError, say
from portsift.features.writing import write_text_atomic
from portsift.serving.console.officers import (
    MIN_PASSWORD_LENGTH,
    OfficerConfigError,
    hash_password,
    parse_officers,
)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("console password: ")
    if getpass.getpass("again: ") != first:
        raise CliError("the two passwords differ; nothing was written")
    return first


def _hash(password: str) -> str:
    try:
        return hash_password(password)
    except ValueError as err:
        raise CliError(str(err)) from err


def run_hash_password(args: argparse.Namespace) -> int:
    """Print the argon2 hash of a password read from the terminal or stdin.

    Args:
        args: The parsed command line.

    Returns:
        The exit status (0).

    Raises:
        CliError: The password is too short, or the two typed differ.
    """
    print(_hash(_read_password(args)))
    return 0


def officer_entry(officer_id: str, name: str, role: str, password_hash: str) -> str:
    """One ``[[officer]]`` table of the officers file (values as TOML basic strings).

    Args:
        officer_id: The id.
        name: The name shown.
        role: ``officer`` or ``supervisor``.
        password_hash: The argon2 hash.

    Returns:
        The TOML text.
    """
    # A JSON string is a valid TOML basic string (same escapes for what they share).
    values = {"id": officer_id, "name": name, "role": role, "password_hash": password_hash}
    lines = [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in values.items()]
    return "[[officer]]\n" + "\n".join(lines) + "\n"


def run_add_officer(args: argparse.Namespace) -> int:
    """Append an officer to the officers file; print a new random password once.

    Args:
        args: The parsed command line.

    Returns:
        The exit status (0).

    Raises:
        CliError: The file is unreadable or invalid, the id is taken or bad, the
            password too short (the file is left as it was).
    """
    path = Path(args.officers)
    try:
        existing = path.read_text("utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as err:
        raise CliError(f"{path}: cannot read the officers file: {err}") from err
    if existing.strip():
        try:
            known = parse_officers(existing, str(path))
        except OfficerConfigError as err:
            raise CliError(str(err)) from err
        if args.officer_id in known:
            raise CliError(f"{path}: officer {args.officer_id!r} is already in the file")
    made = not args.password_stdin
    password = secrets.token_urlsafe(12) if made else _read_password(args)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CliError(f"a console password needs at least {MIN_PASSWORD_LENGTH} characters")
    separator = "\n" if existing.strip() and not existing.endswith("\n\n") else ""
    text = (
        existing + separator + officer_entry(args.officer_id, args.name, args.role, _hash(password))
    )
    try:
        parse_officers(text, str(path))  # the file as it will be: refused before writing
    except OfficerConfigError as err:
        raise CliError(str(err)) from err
    write_text_atomic(text, path)
    say(args, f"added {args.role} {args.officer_id!r} ({args.name}) to {path}")
    if made:
        # Printed even with --quiet: it is the only time anyone sees it.
        print(f"password of {args.officer_id} (shown once, not kept): {password}")
    return 0
