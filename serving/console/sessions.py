"""Console sessions: a signed cookie, its CSRF token, and the throttle on failed sign-ins.

A session is a cookie ``portsift_console`` holding ``officer id, expiry, nonce`` signed
with HMAC-SHA256 under the console's secret (``PORTSIFT_CONSOLE_SECRET``; without one a
random secret per process, which signs everyone out at a restart and does not work with
more than one worker). The cookie is ``HttpOnly``, ``SameSite=Strict``, ``Secure`` when
the console is reached over HTTPS, and expires after ``[console] session_minutes``; the
signature and the expiry are checked on every request, and signing out revokes the
nonce in this process.

The CSRF token of a session is an HMAC of its nonce under the same secret (so it needs
no storage and changes with every sign-in); every form carries it and every ``POST``
without it, or with another session's, is refused. The sign-in form, before any session,
carries the HMAC of a random nonce held in a ``SameSite=Strict`` cookie of its own.

Failed sign-ins are counted per officer id and per client address in a sliding window:
each failure is answered only after ``failed_login_delay_s`` and logged, and after
``max_failed_logins`` within ``failed_login_window_s`` further attempts are refused
(HTTP 429) until the window has passed. The counts live in the worker's memory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

#: Name of the session cookie.
SESSION_COOKIE: Final[str] = "portsift_console"
#: Name of the cookie the sign-in form's CSRF token is tied to (before any session).
LOGIN_COOKIE: Final[str] = "portsift_console_login"
#: How long a sign-in form stays valid, in seconds.
LOGIN_FORM_S: Final[int] = 900
#: Environment variable holding the secret that signs sessions (shared by the workers).
SECRET_ENV: Final[str] = "PORTSIFT_CONSOLE_SECRET"
#: Shortest secret accepted.
MIN_SECRET_LENGTH: Final[int] = 32


@dataclass(frozen=True)
class Session:
    """A signed-in officer's session.

    Attributes:
        officer_id: The officer.
        expires_at: When it ends (seconds since the epoch).
        nonce: Random, per sign-in; the CSRF token derives from it.
    """

    officer_id: str
    expires_at: float
    nonce: str


class SessionSigner:
    """Issues and checks session cookies and CSRF tokens under one secret.

    Args:
        secret: The signing secret (at least :data:`MIN_SECRET_LENGTH` characters).
        lifetime_s: How long a session lasts, in seconds.

    Raises:
        ValueError: When the secret is too short.
    """

    def __init__(self, secret: str, lifetime_s: float) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"{SECRET_ENV} must be at least {MIN_SECRET_LENGTH} characters long")
        self._key = hashlib.sha256(b"portsift-console-session:" + secret.encode()).digest()
        self._csrf_key = hashlib.sha256(b"portsift-console-csrf:" + secret.encode()).digest()
        self.lifetime_s = lifetime_s
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    @classmethod
    def random(cls, lifetime_s: float) -> SessionSigner:
        """A signer with a fresh random secret (one process; sessions end at a restart).

        Args:
            lifetime_s: How long a session lasts, in seconds.

        Returns:
            The signer.
        """
        return cls(secrets.token_urlsafe(48), lifetime_s)

    def issue(self, officer_id: str, now: float | None = None) -> tuple[Session, str]:
        """Start a session.

        Args:
            officer_id: The officer who signed in.
            now: The time (default the clock).

        Returns:
            The session and its cookie value.
        """
        moment = time.time() if now is None else now
        session = Session(officer_id, moment + self.lifetime_s, secrets.token_urlsafe(18))
        payload = json.dumps(
            {"o": session.officer_id, "e": session.expires_at, "n": session.nonce},
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return session, f"{body}.{self._sign(body)}"

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie holds, if its signature is right and it has not ended.

        Args:
            cookie: The cookie's value.
            now: The time (default the clock).

        Returns:
            The session, or ``None`` (no cookie, forged, expired or signed out).
        """
        if not cookie or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        if not hmac.compare_digest(self._sign(body), signature):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(str(data["o"]), float(data["e"]), str(data["n"]))
        except (ValueError, KeyError, TypeError):
            return None
        moment = time.time() if now is None else now
        if session.expires_at <= moment:
            return None
        with self._lock:
            if session.nonce in self._revoked:
                return None
        return session

    def revoke(self, session: Session) -> None:
        """Sign a session out (in this process) before it expires.

        Args:
            session: The session.
        """
        now = time.time()
        with self._lock:
            # Forget revocations of sessions that have expired anyway.
            for nonce in [n for n, ends in self._revoked.items() if ends <= now]:
                del self._revoked[nonce]
            self._revoked[session.nonce] = session.expires_at

    def csrf_token(self, session: Session) -> str:
        """The CSRF token every form of this session carries.

        Args:
            session: The session.

        Returns:
            The token.
        """
        return hmac.new(self._csrf_key, session.nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        """Whether a form's token is this session's.

        Args:
            session: The session.
            token: The token the form sent.

        Returns:
            ``True`` when it matches.
        """
        return bool(token) and hmac.compare_digest(self.csrf_token(session), str(token))

    def login_token(self) -> tuple[str, str]:
        """A fresh sign-in nonce (for its cookie) and the CSRF token of the sign-in form.

        There is no session yet to tie the form to, so the form is tied to a cookie
        (``SameSite=Strict``: another site's page cannot send it): a sign-in posted from
        elsewhere, to put a victim in the attacker's session, is refused.

        Returns:
            The nonce and the form's token.
        """
        nonce = secrets.token_urlsafe(18)
        return nonce, self._login_token(nonce)

    def login_ok(self, nonce: str | None, token: str | None) -> bool:
        """Whether a sign-in form's token belongs to the nonce of its cookie.

        Args:
            nonce: The sign-in cookie's value.
            token: The token the form sent.

        Returns:
            ``True`` when they match.
        """
        if not nonce or not token:
            return False
        return hmac.compare_digest(self._login_token(nonce), str(token))

    def _login_token(self, nonce: str) -> str:
        message = b"login:" + nonce.encode()
        return hmac.new(self._csrf_key, message, hashlib.sha256).hexdigest()

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class LoginThrottle:
    """Failed sign-ins per key (officer id, client address) in a sliding window.

    Args:
        max_failures: Failures within the window after which a key is refused.
        window_s: The window, in seconds.
    """

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, keys: Iterable[str], now: float | None = None) -> float:
        """Seconds until any of these keys may try again (0: now).

        Args:
            keys: The keys of the attempt.
            now: The time (default the clock).

        Returns:
            The wait in seconds.
        """
        moment = time.monotonic() if now is None else now
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._trimmed(key, moment)
                if len(times) >= self.max_failures:
                    wait = max(wait, times[0] + self.window_s - moment)
        return wait

    def failed(self, keys: Iterable[str], now: float | None = None) -> int:
        """Count a failed sign-in against each key.

        Args:
            keys: The keys of the attempt.
            now: The time (default the clock).

        Returns:
            The most failures any of the keys now has within the window.
        """
        moment = time.monotonic() if now is None else now
        most = 0
        with self._lock:
            for key in keys:
                times = self._trimmed(key, moment)
                times.append(moment)
                most = max(most, len(times))
        return most

    def succeeded(self, key: str) -> None:
        """Forget the failures of a key (the officer signed in).

        Args:
            key: The officer's key.
        """
        with self._lock:
            self._failures.pop(key, None)

    def _trimmed(self, key: str, moment: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= moment - self.window_s:
            times.popleft()
        return times


__all__ = [
    "LOGIN_COOKIE",
    "LOGIN_FORM_S",
    "MIN_SECRET_LENGTH",
    "SECRET_ENV",
    "SESSION_COOKIE",
    "LoginThrottle",
    "Session",
    "SessionSigner",
]
