"""The officers of the console: who may sign in, with which role, and their password hashes.

Officers are configuration, not data: a TOML file (``[console] officers_file`` in the
settings, or ``PORTSIFT_OFFICERS``) with one ``[[officer]]`` table each::

    [[officer]]
    id = "hk-0417"            # recorded with every outcome the officer enters
    name = "王芳"             # shown in the console
    role = "officer"          # or "supervisor" (also sees the supervisor view)
    password_hash = "$argon2id$v=19$m=65536,t=3,p=4$..."

Passwords are kept only as argon2id hashes (``argon2-cffi``, its default parameters);
``portsift console hash-password`` makes one without the password reaching the shell
history. A file that cannot be read, is not TOML, or has an officer with a missing or
bad field is refused when the service starts, naming the file, the officer's position
(1-based) and the field.
"""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: Environment variable naming the officers file (overrides ``[console] officers_file``).
OFFICERS_ENV: Final[str] = "PORTSIFT_OFFICERS"
#: The roles an officer may have.
ROLES: Final[tuple[str, ...]] = ("officer", "supervisor")
#: Officer ids: letters, digits, ``.``, ``_`` and ``-``, 1 to 64 of them.
_OFFICER_ID: Final[re.Pattern[str]] = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: Shortest password :func:`hash_password` accepts.
MIN_PASSWORD_LENGTH: Final[int] = 12

Role = Literal["officer", "supervisor"]


class OfficerConfigError(ValueError):
    """An officers file that cannot be used; the message names file, officer and field."""


@dataclass(frozen=True)
class Officer:
    """One officer who may sign in.

    Attributes:
        officer_id: The id recorded with every outcome the officer enters.
        name: The name shown in the console.
        role: ``officer`` or ``supervisor``.
        password_hash: The argon2 hash of the password.
    """

    officer_id: str
    name: str
    role: Role
    password_hash: str

    @property
    def is_supervisor(self) -> bool:
        """Whether the officer may open the supervisor view."""
        return self.role == "supervisor"


def _hasher() -> PasswordHasher:
    # argon2-cffi's defaults (argon2id, RFC 9106 low-memory profile); built on use so that
    # nothing happens at import.
    return PasswordHasher()


def hash_password(password: str) -> str:
    """Hash a password for the officers file.

    Args:
        password: The password, at least :data:`MIN_PASSWORD_LENGTH` characters.

    Returns:
        The argon2id hash (``$argon2id$...``).

    Raises:
        ValueError: When the password is too short.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a console password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher().hash(password)


def check_password(officer: Officer, password: str) -> bool:
    """Whether a password is the officer's (argon2 verification, constant in the hash).

    Args:
        officer: The officer.
        password: The password given at sign-in.

    Returns:
        ``True`` when it matches.
    """
    try:
        return bool(_hasher().verify(officer.password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


#: A hash verified when the officer id is unknown, so that an unknown id takes as long
#: to refuse as a wrong password (the time tells nothing about which ids exist).
_UNKNOWN_OFFICER_HASH: dict[str, str] = {}


def waste_a_verification(password: str) -> None:
    """Spend one argon2 verification, for a sign-in under an unknown officer id.

    Args:
        password: The password given.
    """
    if "hash" not in _UNKNOWN_OFFICER_HASH:
        _UNKNOWN_OFFICER_HASH["hash"] = _hasher().hash("not-an-officer-password")
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        _hasher().verify(_UNKNOWN_OFFICER_HASH["hash"], password)


def _field(entry: Mapping[str, Any], name: str, where: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise OfficerConfigError(f"{where}: field '{name}' must be a non-empty string")
    return value


def parse_officers(text: str, source: str) -> dict[str, Officer]:
    """Read the officers of a TOML text.

    Args:
        text: The file's text.
        source: The file's name, for the messages.

    Returns:
        The officers by id.

    Raises:
        OfficerConfigError: Not TOML, no officer, an unknown key, a missing or bad field,
            an id given twice, or a password hash that is not argon2.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise OfficerConfigError(f"{source}: not valid TOML: {err}") from err
    unknown = sorted(set(data) - {"officer"})
    if unknown:
        raise OfficerConfigError(f"{source}: unknown table(s) {unknown}; use [[officer]]")
    entries = data.get("officer")
    if not isinstance(entries, list) or not entries:
        raise OfficerConfigError(f"{source}: no [[officer]] entries")
    officers: dict[str, Officer] = {}
    for position, entry in enumerate(entries, start=1):
        where = f"{source}: officer {position}"
        extra = sorted(set(entry) - {"id", "name", "role", "password_hash"})
        if extra:
            raise OfficerConfigError(f"{where}: unknown field(s) {extra}")
        officer_id = _field(entry, "id", where)
        if not _OFFICER_ID.fullmatch(officer_id):
            raise OfficerConfigError(
                f"{where}: field 'id' {officer_id!r} must be 1-64 letters, digits, '.', '_' or '-'"
            )
        if officer_id in officers:
            raise OfficerConfigError(f"{where}: field 'id' {officer_id!r} is given twice")
        role = _field(entry, "role", where)
        if role not in ROLES:
            raise OfficerConfigError(f"{where}: field 'role' must be one of {ROLES}, got {role!r}")
        password_hash = _field(entry, "password_hash", where)
        if not password_hash.startswith("$argon2"):
            raise OfficerConfigError(
                f"{where}: field 'password_hash' is not an argon2 hash; make one with "
                "portsift console hash-password"
            )
        officers[officer_id] = Officer(
            officer_id=officer_id,
            name=_field(entry, "name", where),
            role=role,  # type: ignore[arg-type]
            password_hash=password_hash,
        )
    return officers


def load_officers(path: str | os.PathLike[str]) -> dict[str, Officer]:
    """Read the officers file.

    Args:
        path: The TOML file.

    Returns:
        The officers by id.

    Raises:
        OfficerConfigError: When the file cannot be read or is invalid.
    """
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise OfficerConfigError(f"{path}: cannot read the officers file: {err}") from err
    return parse_officers(text, str(path))


def officers_path(configured: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The officers file to read: ``PORTSIFT_OFFICERS``, else ``[console] officers_file``.

    Args:
        configured: ``[console] officers_file`` (empty: none).
        environ: The environment (default ``os.environ``).

    Returns:
        The path, or ``None`` when neither names one (the console then refuses every
        sign-in and says why).
    """
    environ = os.environ if environ is None else environ
    return environ.get(OFFICERS_ENV) or configured or None


__all__ = [
    "MIN_PASSWORD_LENGTH",
    "OFFICERS_ENV",
    "ROLES",
    "Officer",
    "OfficerConfigError",
    "check_password",
    "hash_password",
    "load_officers",
    "officers_path",
    "parse_officers",
    "waste_a_verification",
]
