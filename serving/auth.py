"""Bearer-token authentication of the scoring API.

Tokens are configured in either or both of two places:

* ``PORTSIFT_API_TOKENS``: comma-separated plain tokens (surrounding spaces ignored);
* ``PORTSIFT_API_TOKEN_FILE``: a file with one ``sha256:<64 hex digits>`` line per token,
  blank lines and ``#`` comments allowed, so that the server's disk never holds a usable
  token. Build a line with :func:`hash_token`, without the token reaching the shell
  history::

      python -c "import getpass, serving.auth as a; print(a.hash_token(getpass.getpass()))" >>tokens

  and a new random token with ``python -c "import secrets; print(secrets.token_urlsafe(32))"``.

Only SHA-256 digests are kept in memory. A request's ``Authorization: Bearer <token>``
is hashed and its digest compared with :func:`hmac.compare_digest` against *every*
configured digest, without stopping at the first match, so the time taken tells nothing
about which token matched or how much of it was right. Tokens must be at least 16
printable ASCII characters without spaces; a shorter or empty one is refused when the
configuration is read, never silently accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
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

# Printable ASCII except space: what can travel in an Authorization header as one token.
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")
_DIGEST_LINE = re.compile(r"sha256:([0-9a-fA-F]{64})")
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +(\S+)")


class TokenConfigError(ValueError):
    """The token configuration is unusable (empty, short or malformed tokens, bad file)."""


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

    Build it with :meth:`from_env`, :meth:`from_tokens` or :meth:`from_file`. A verifier
    with no tokens (:attr:`is_configured` false) accepts nothing.
    """

    def __init__(self, digests: Iterable[bytes] = ()) -> None:
        """Hold SHA-256 digests of the accepted tokens.

        Args:
            digests: 32-byte SHA-256 digests (duplicates are kept once).

        Raises:
            TokenConfigError: When a digest is not 32 bytes.
        """
        unique = tuple(dict.fromkeys(digests))
        for digest in unique:
            if not isinstance(digest, bytes) or len(digest) != hashlib.sha256().digest_size:
                raise TokenConfigError("a token digest must be 32 bytes of SHA-256")
        self._digests: tuple[bytes, ...] = unique

    # ------------------------------------------------------------------ building

    @classmethod
    def from_tokens(cls, tokens: Iterable[str], *, where: str = "token") -> Self:
        """A verifier accepting these plain tokens.

        Args:
            tokens: The tokens.
            where: Their origin, for error messages.

        Returns:
            The verifier.

        Raises:
            TokenConfigError: On an unacceptable token (see :func:`check_token`).
        """
        digests = []
        for number, token in enumerate(tokens, start=1):
            check_token(token, f"{where} #{number}")
            digests.append(hashlib.sha256(token.encode("ascii")).digest())
        return cls(digests)

    @classmethod
    def from_digest_lines(cls, lines: Iterable[str], *, where: str = "token file") -> Self:
        """A verifier accepting the tokens whose ``sha256:<hex>`` digests are listed.

        Args:
            lines: Lines of a token file: ``sha256:<hex>``, blank, or ``#`` comments
                (also after a digest).
            where: Their origin, for error messages.

        Returns:
            The verifier.

        Raises:
            TokenConfigError: On a line that is not a digest, or when there is none.
        """
        digests = []
        for number, line in enumerate(lines, start=1):
            content = line.split("#", 1)[0].strip()
            if not content:
                continue
            match = _DIGEST_LINE.fullmatch(content)
            if match is None:
                # The line is not echoed: it may be a plain token written there by mistake.
                raise TokenConfigError(
                    f"{where}, line {number}: expected 'sha256:' and 64 hex digits "
                    "(build lines with serving.auth.hash_token; plain tokens do not belong here)"
                )
            digests.append(bytes.fromhex(match.group(1)))
        if not digests:
            raise TokenConfigError(f"{where} lists no token digests")
        return cls(digests)

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

        Both may be set; the tokens of both are accepted. Neither set gives a verifier
        that is not configured (the server then refuses to start unless told
        ``--insecure-dev``). A variable that is set must hold something usable:
        ``PORTSIFT_API_TOKENS=""`` or ``"a,,b"`` is an error, not "no tokens".

        Args:
            environ: The environment to read (default ``os.environ``).

        Returns:
            The verifier.

        Raises:
            TokenConfigError: On an empty, short or malformed token, or a bad file.
        """
        environ = os.environ if environ is None else environ
        digests: list[bytes] = []
        plain = environ.get(TOKENS_ENV)
        if plain is not None:
            if not plain.strip():
                raise TokenConfigError(f"{TOKENS_ENV} is set but empty")
            tokens = [token.strip() for token in plain.split(",")]
            digests.extend(cls.from_tokens(tokens, where=f"token in {TOKENS_ENV}")._digests)
        file = environ.get(TOKEN_FILE_ENV)
        if file is not None:
            if not file.strip():
                raise TokenConfigError(f"{TOKEN_FILE_ENV} is set but empty")
            digests.extend(cls.from_file(file.strip())._digests)
        return cls(digests)

    # ----------------------------------------------------------------- checking

    @property
    def is_configured(self) -> bool:
        """Whether at least one token is accepted."""
        return bool(self._digests)

    def __len__(self) -> int:
        return len(self._digests)

    def __repr__(self) -> str:
        return f"TokenVerifier({len(self._digests)} token digest(s))"

    def verify(self, authorization_header: str | None) -> bool:
        """Whether an ``Authorization`` header carries an accepted bearer token.

        The scheme is matched case-insensitively (``Bearer``/``bearer``); anything else
        (missing header, ``Basic ...``, ``Bearer`` without a token, a token with spaces
        or non-ASCII characters) is refused before any comparison. A well-formed token is
        hashed and compared with every configured digest in constant time.

        Args:
            authorization_header: The header's value, or ``None`` when absent.

        Returns:
            True when the token is one of the configured ones.
        """
        token = bearer_token(authorization_header)
        if token is None:
            return False
        presented = hashlib.sha256(token.encode("ascii")).digest()
        matched = False
        for digest in self._digests:
            # Bitwise "or": every digest is compared, whichever one matches.
            matched |= hmac.compare_digest(presented, digest)
        return matched


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
    "MIN_TOKEN_LENGTH",
    "TOKENS_ENV",
    "TOKEN_FILE_ENV",
    "TokenConfigError",
    "TokenVerifier",
    "bearer_token",
    "check_token",
    "hash_token",
]
