"""Bearer-token authentication of the scoring API: named credentials with scopes.

Every credential has a **name** (recorded in the audit store with each decision and
outcome it sends) and **scopes**: ``score`` (``/score``, ``/score_batch``), ``feedback``
(``/feedback``: writes the inspection outcomes the model learns from) and ``metrics``
(``/metrics``). Credentials are configured in either or both of two places:

* ``PORTSIFT_API_TOKENS``: comma-separated items, each ``NAME SCOPES TOKEN``
  (whitespace-separated; ``SCOPES`` joined by ``+``, e.g.
  ``console score+feedback s3cr3t...``) or, the older form, a plain ``TOKEN`` alone;
* ``PORTSIFT_API_TOKEN_FILE``: a file with one ``NAME SCOPES sha256:<64 hex digits>`` line
  per credential (or, the older form, ``sha256:<hex>`` alone), blank lines and ``#``
  comments allowed, so that the server's disk never holds a usable token. Build a line
  with :func:`hash_token`, without the token reaching the shell history::

      python -c "import getpass, portsift.serving.auth as a; print('console score+feedback',
          a.hash_token(getpass.getpass()))" >>tokens

  and a new random token with ``python -c "import secrets; print(secrets.token_urlsafe(32))"``.

A token in the older forms (no name, no scopes) may only **score**, under the name
``token-<first 8 hex digits of its SHA-256>`` (stable, and not enough to guess the token):
a client token issued before scopes existed can no longer write training labels.

Only SHA-256 digests are kept in memory. A request's ``Authorization: Bearer <token>``
is hashed and its digest compared with :func:`hmac.compare_digest` against *every*
configured digest, without stopping at the first match, so the time taken tells nothing
about which token matched or how much of it was right. Tokens must be at least 16
printable ASCII characters without spaces; names are 1-64 letters, digits, ``.``, ``_``
or ``-``; a shorter or empty token, a bad name, an unknown scope, a name given twice or
one token given two names is refused when the configuration is read, never silently
accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Self

#: Environment variable with comma-separated plain tokens.
TOKENS_ENV: Final[str] = "PORTSIFT_API_TOKENS"
#: Environment variable naming a file of ``sha256:<hex>`` token digests.
TOKEN_FILE_ENV: Final[str] = "PORTSIFT_API_TOKEN_FILE"
#: Shortest token accepted.
MIN_TOKEN_LENGTH: Final[int] = 16
#: Prefix of a digest line in the token file.
DIGEST_PREFIX: Final[str] = "sha256:"

#: May decide declarations (``/score``, ``/score_batch``).
SCORE: Final[str] = "score"
#: May record inspection outcomes (``/feedback``).
FEEDBACK: Final[str] = "feedback"
#: May read the Prometheus metrics (``/metrics``).
METRICS: Final[str] = "metrics"
#: Every scope a credential can hold.
SCOPES: Final[frozenset[str]] = frozenset({SCORE, FEEDBACK, METRICS})
#: The scope each path needs; any other path but the health checks needs a credential.
PATH_SCOPES: Final[Mapping[str, str]] = {
    "/score": SCORE,
    "/score_batch": SCORE,
    "/feedback": FEEDBACK,
    "/metrics": METRICS,
}
#: Name of the credential of a server started with ``--insecure-dev`` (every scope).
INSECURE_NAME: Final[str] = "insecure-dev"

# Printable ASCII except space: what can travel in an Authorization header as one token.
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")
_DIGEST = re.compile(r"sha256:([0-9a-fA-F]{64})")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +(\S+)")


class TokenConfigError(ValueError):
    """The token configuration is unusable (empty, short or malformed tokens, bad file)."""


@dataclass(frozen=True)
class Credential:
    """Who a request comes from: the credential's name and what it may do.

    Attributes:
        name: The name configured for the token (recorded in the audit store).
        scopes: The scopes it holds (:data:`SCOPES`).
    """

    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """Whether the credential holds ``scope``."""
        return scope in self.scopes


#: The credential of every request to a server started with ``--insecure-dev``.
INSECURE_CREDENTIAL: Final[Credential] = Credential(INSECURE_NAME, SCOPES)


def legacy_name(digest: bytes) -> str:
    """The name of a token configured without one: ``token-`` and 8 hex digits of its digest."""
    return "token-" + digest.hex()[:8]


def parse_scopes(text: str, where: str) -> frozenset[str]:
    """The scopes of a configuration item (``score+feedback``).

    Raises:
        TokenConfigError: On an empty or unknown scope.
    """
    scopes = text.split("+")
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise TokenConfigError(
            f"{where}: unknown scope {unknown[0]!r}; scopes are "
            f"{', '.join(sorted(SCOPES))}, joined by '+'"
        )
    return frozenset(scopes)


def check_name(name: str, where: str) -> str:
    """Check a credential name (1-64 letters, digits, ``.``, ``_``, ``-``).

    Raises:
        TokenConfigError: When it is not one.
    """
    if not _NAME.fullmatch(name):
        raise TokenConfigError(
            f"{where}: credential name {name[:64]!r} must be 1-64 letters, digits, '.', '_' or '-'"
        )
    return name


def check_token(token: str, where: str = "token") -> None:
    """Check that a plain token is acceptable as an API credential.

    Args:
        token: The token.
        where: Where it came from, for the message (the token itself is never shown).

    Raises:
        TokenConfigError: When it is empty, shorter than 16 characters, or holds spaces
            or characters outside printable ASCII.
    """
    if not token:
        raise TokenConfigError(f"{where} is empty")
    if not _TOKEN_CHARS.fullmatch(token):
        raise TokenConfigError(
            f"{where} holds spaces, control or non-ASCII characters; use printable ASCII "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenConfigError(
            f"{where} is {len(token)} characters long; at least {MIN_TOKEN_LENGTH} are required"
        )


def hash_token(token: str) -> str:
    """The token-file line for a plain token: ``sha256:`` and its hex SHA-256 digest.

    Args:
        token: The plain token (checked like a configured one).

    Returns:
        ``"sha256:<64 hex digits>"``.

    Raises:
        TokenConfigError: When the token is not acceptable (see :func:`check_token`).
    """
    check_token(token)
    return DIGEST_PREFIX + hashlib.sha256(token.encode("ascii")).hexdigest()


class TokenVerifier:
    """Checks ``Authorization`` headers against configured bearer tokens.

    Build it with :meth:`from_env`, :meth:`from_tokens`, :meth:`from_digest_lines` or
    :meth:`from_file`. A verifier with no tokens (:attr:`is_configured` false) accepts
    nothing.
    """

    def __init__(self, entries: Iterable[tuple[bytes, Credential]] = ()) -> None:
        """Hold SHA-256 digests of the accepted tokens and the credential of each.

        Args:
            entries: ``(32-byte SHA-256 digest, credential)`` pairs; a pair given twice is
                kept once.

        Raises:
            TokenConfigError: When a digest is not 32 bytes, one token has two different
                credentials, or two tokens share a name.
        """
        by_digest: dict[bytes, Credential] = {}
        names: dict[str, bytes] = {}
        for digest, credential in entries:
            if not isinstance(digest, bytes) or len(digest) != hashlib.sha256().digest_size:
                raise TokenConfigError("a token digest must be 32 bytes of SHA-256")
            known = by_digest.get(digest)
            if known is not None and known != credential:
                raise TokenConfigError(
                    f"one token is configured as {known.name!r} and as {credential.name!r}"
                )
            if names.setdefault(credential.name, digest) != digest:
                raise TokenConfigError(f"the credential name {credential.name!r} is given twice")
            by_digest[digest] = credential
        self._digests: tuple[bytes, ...] = tuple(by_digest)
        self._credentials: tuple[Credential, ...] = tuple(by_digest.values())

    # ------------------------------------------------------------------ building

    @classmethod
    def from_tokens(cls, tokens: Iterable[str], *, where: str = "token") -> Self:
        """A verifier accepting these plain tokens, each with the ``score`` scope only.

        Args:
            tokens: The tokens.
            where: Their origin, for error messages.

        Returns:
            The verifier.

        Raises:
            TokenConfigError: On an unacceptable token (see :func:`check_token`).
        """
        return cls(_legacy(token, f"{where} #{n}") for n, token in enumerate(tokens, start=1))

    @classmethod
    def from_items(cls, items: Iterable[str], *, where: str = "token") -> Self:
        """A verifier for configuration items: ``NAME SCOPES TOKEN`` or a plain ``TOKEN``.

        Args:
            items: The items (surrounding spaces ignored).
            where: Their origin, for error messages (the token itself is never shown).

        Returns:
            The verifier.

        Raises:
            TokenConfigError: On a malformed item, name, scope or token.
        """
        entries = []
        for number, item in enumerate(items, start=1):
            label = f"{where} #{number}"
            fields = item.split()
            if len(fields) <= 1:
                entries.append(_legacy(item.strip(), label))
                continue
            if len(fields) != 3:
                raise TokenConfigError(
                    f"{label} holds spaces: an item is a token, or 'NAME SCOPES TOKEN' "
                    "(e.g. 'console score+feedback <token>')"
                )
            name, scopes, token = fields
            credential = Credential(check_name(name, label), parse_scopes(scopes, label))
            check_token(token, label)
            entries.append((hashlib.sha256(token.encode("ascii")).digest(), credential))
        return cls(entries)

    @classmethod
    def from_digest_lines(cls, lines: Iterable[str], *, where: str = "token file") -> Self:
        """A verifier accepting the tokens whose ``sha256:<hex>`` digests are listed.

        Args:
            lines: Lines of a token file: ``NAME SCOPES sha256:<hex>`` or ``sha256:<hex>``
                alone (the ``score`` scope only), blank, or ``#`` comments (also after a
                digest).
            where: Their origin, for error messages.

        Returns:
            The verifier.

        Raises:
            TokenConfigError: On a line that is not a digest line, or when there is none.
        """
        entries = []
        for number, line in enumerate(lines, start=1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            label = f"{where}, line {number}"
            match = _DIGEST.fullmatch(fields[-1])
            if match is None or len(fields) not in (1, 3):
                # The line is not echoed: it may be a plain token written there by mistake.
                raise TokenConfigError(
                    f"{label}: expected 'sha256:' and 64 hex digits, after a name and scopes "
                    "('console score+feedback sha256:...'); build digests with "
                    "portsift.serving.auth.hash_token (plain tokens do not belong here)"
                )
            digest = bytes.fromhex(match.group(1))
            if len(fields) == 1:
                credential = Credential(legacy_name(digest), frozenset({SCORE}))
            else:
                credential = Credential(
                    check_name(fields[0], label), parse_scopes(fields[1], label)
                )
            entries.append((digest, credential))
        if not entries:
            raise TokenConfigError(f"{where} lists no token digests")
        return cls(entries)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Self:
        """A verifier accepting the tokens whose digests a token file lists.

        Args:
            path: The file (see :meth:`from_digest_lines` for its format).

        Returns:
            The verifier.

        Raises:
            TokenConfigError: When the file cannot be read or is malformed.
        """
        try:
            content = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise TokenConfigError(
                f"cannot read the token file {os.fspath(path)!r}: {err}"
            ) from err
        return cls.from_digest_lines(content.splitlines(), where=f"token file {os.fspath(path)!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """A verifier for ``PORTSIFT_API_TOKENS`` and ``PORTSIFT_API_TOKEN_FILE``.

        Both may be set; the credentials of both are accepted (names must not clash).
        Neither set gives a verifier that is not configured (the server then refuses to
        start unless told ``--insecure-dev``). A variable that is set must hold something
        usable: ``PORTSIFT_API_TOKENS=""`` or ``"a,,b"`` is an error, not "no tokens".

        Args:
            environ: The environment to read (default ``os.environ``).

        Returns:
            The verifier.

        Raises:
            TokenConfigError: On an empty, short or malformed item, or a bad file.
        """
        environ = os.environ if environ is None else environ
        entries: list[tuple[bytes, Credential]] = []
        plain = environ.get(TOKENS_ENV)
        if plain is not None:
            if not plain.strip():
                raise TokenConfigError(f"{TOKENS_ENV} is set but empty")
            entries.extend(
                cls.from_items(plain.split(","), where=f"token in {TOKENS_ENV}")._entries
            )
        file = environ.get(TOKEN_FILE_ENV)
        if file is not None:
            if not file.strip():
                raise TokenConfigError(f"{TOKEN_FILE_ENV} is set but empty")
            entries.extend(cls.from_file(file.strip())._entries)
        return cls(entries)

    # ----------------------------------------------------------------- checking

    @property
    def _entries(self) -> list[tuple[bytes, Credential]]:
        return list(zip(self._digests, self._credentials, strict=True))

    @property
    def is_configured(self) -> bool:
        """Whether at least one token is accepted."""
        return bool(self._digests)

    @property
    def credentials(self) -> tuple[Credential, ...]:
        """The configured credentials (names and scopes; never the tokens)."""
        return self._credentials

    def __len__(self) -> int:
        return len(self._digests)

    def __repr__(self) -> str:
        return f"TokenVerifier({len(self._digests)} token digest(s))"

    def identify(self, authorization_header: str | None) -> Credential | None:
        """The credential an ``Authorization`` header carries, if its token is accepted.

        The scheme is matched case-insensitively (``Bearer``/``bearer``); anything else
        (missing header, ``Basic ...``, ``Bearer`` without a token, a token with spaces
        or non-ASCII characters) is refused before any comparison. A well-formed token is
        hashed and compared with every configured digest in constant time.

        Args:
            authorization_header: The header's value, or ``None`` when absent.

        Returns:
            The matching credential, or ``None``.
        """
        token = bearer_token(authorization_header)
        if token is None:
            return None
        presented = hashlib.sha256(token.encode("ascii")).digest()
        found: Credential | None = None
        for digest, credential in zip(self._digests, self._credentials, strict=True):
            # Every digest is compared, whichever one matches: no early exit.
            if hmac.compare_digest(presented, digest):
                found = credential
        return found

    def verify(self, authorization_header: str | None) -> bool:
        """Whether an ``Authorization`` header carries an accepted bearer token.

        Args:
            authorization_header: The header's value, or ``None`` when absent.

        Returns:
            True when the token is one of the configured ones (see :meth:`identify`).
        """
        return self.identify(authorization_header) is not None


def _legacy(token: str, where: str) -> tuple[bytes, Credential]:
    check_token(token, where)
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return digest, Credential(legacy_name(digest), frozenset({SCORE}))


def bearer_token(authorization_header: str | None) -> str | None:
    """The token of a ``Bearer`` ``Authorization`` header, if it is well formed.

    Args:
        authorization_header: The header's value, or ``None``.

    Returns:
        The token (printable ASCII, no spaces), or ``None`` for anything else.
    """
    if not authorization_header:
        return None
    match = _BEARER.fullmatch(authorization_header.strip())
    if match is None:
        return None
    token = match.group(1)
    return token if _TOKEN_CHARS.fullmatch(token) else None


__all__ = [
    "DIGEST_PREFIX",
    "FEEDBACK",
    "INSECURE_CREDENTIAL",
    "METRICS",
    "MIN_TOKEN_LENGTH",
    "PATH_SCOPES",
    "SCOPES",
    "SCORE",
    "TOKENS_ENV",
    "TOKEN_FILE_ENV",
    "Credential",
    "TokenConfigError",
    "TokenVerifier",
    "bearer_token",
    "check_name",
    "check_token",
    "hash_token",
    "legacy_name",
    "parse_scopes",
]
