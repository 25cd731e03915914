"""The officer console: a Starlette app the BentoML service mounts at ``/console``.

Server-rendered pages (:mod:`~portsift.serving.console.pages`), no JavaScript: sign in,
the inspection queue, one declaration with its explanation and the outcome form, and
for supervisors the day's figures. Every page but the sign-in needs a session cookie
(:mod:`~portsift.serving.console.sessions`); without one a page redirects to the
sign-in and an action is refused (403). The API's bearer tokens open nothing here, and
the session cookie opens nothing of the API (the service's token check covers every
path but ``/console`` and health). Outcomes go through
:func:`portsift.serving.feedback.record_outcome`, as ``POST /feedback`` does, with the
officer's id.

The app is built without touching anything; what it serves comes from a
:class:`ConsoleBackend` that a callable gives on the first request (in the service:
the worker's, built after BentoML forked it).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from portsift.reports import i18n
from portsift.reports.measures import text as measure_text
from portsift.serving.console import days, forms, pages, supervisor
from portsift.serving.console.officers import (
    Officer,
    OfficerConfigError,
    check_password,
    load_officers,
    officers_path,
    waste_a_verification,
)
from portsift.serving.console.sessions import (
    LOGIN_COOKIE,
    LOGIN_FORM_S,
    SECRET_ENV,
    SESSION_COOKIE,
    LoginThrottle,
    Session,
    SessionSigner,
)
from portsift.serving.feedback import FeedbackError, record_outcome
from portsift.settings import Settings
from portsift.store.audit import AuditError, AuditStore

logger = logging.getLogger("portsift.console")

#: Cookie holding the chosen language (not a secret).
LANG_COOKIE = "portsift_console_lang"
#: The credential name outcomes from the console are recorded under.
CONSOLE_CREDENTIAL = "console"
#: Headers of every console answer: no caching of officer pages, no framing, no scripts.
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


@dataclass
class ConsoleBackend:
    """What the console serves from: the audit store, the officers, sessions, settings.

    Attributes:
        audit: The audit store (the service's).
        officers: The officers by id (empty: nobody can sign in).
        settings: The settings (``[console]``, ``[selection.credit]``, ``[feedback]``).
        signer: Issues and checks session cookies and CSRF tokens.
        throttle: Counts failed sign-ins.
        feature_labels: Feature to input-field label of the served bundle's pipeline.
        problem: Why nobody can sign in, when the officers are not configured.
        clock: The time now (UTC): the queue's time left and the supervisor's "today"
            (the office's day of ``[console] timezone``).
    """

    audit: AuditStore
    officers: dict[str, Officer]
    settings: Settings
    signer: SessionSigner
    throttle: LoginThrottle
    feature_labels: dict[str, str] = field(default_factory=dict)
    problem: str | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @classmethod
    def configure(
        cls, audit: AuditStore, settings: Settings, feature_labels: dict[str, str]
    ) -> ConsoleBackend:
        """Build the backend from the settings and the environment.

        Reads the officers file (``PORTSIFT_OFFICERS`` or ``[console] officers_file``) and
        the session secret (``PORTSIFT_CONSOLE_SECRET``, else a random one per process).

        Args:
            audit: The audit store.
            settings: The settings.
            feature_labels: The served pipeline's feature labels.

        Returns:
            The backend.

        Raises:
            OfficerConfigError: An officers file that is named but invalid.
            ValueError: A session secret that is too short.
        """
        console = settings.console
        path = officers_path(console.officers_file)
        officers = load_officers(path) if path else {}
        secret = os.environ.get(SECRET_ENV)
        lifetime = console.session_minutes * 60.0
        if secret:
            signer = SessionSigner(secret, lifetime)
        else:
            logger.warning(
                "console: no %s; sessions are signed with a random secret of this worker "
                "(they end at a restart and need a single worker)",
                SECRET_ENV,
            )
            signer = SessionSigner.random(lifetime)
        return cls(
            audit=audit,
            officers=officers,
            settings=settings,
            signer=signer,
            throttle=LoginThrottle(console.max_failed_logins, console.failed_login_window_s),
            feature_labels=feature_labels,
            problem=None if path else "no officers file (PORTSIFT_OFFICERS)",
        )


def _lang(request: Request) -> i18n.Lang:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return "en" if wanted == "en" else "zh"


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    lang = _lang(request)
    here = request.url.path
    other: i18n.Lang = "en" if lang == "zh" else "zh"
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    switch = f"{here}?{urlencode({**query, 'lang': other})}"
    html = pages.render(template, lang, base=_base(request), switch=switch, **context)
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if request.query_params.get("lang") in i18n.LANGS:
        response.set_cookie(LANG_COOKIE, lang, samesite="strict", httponly=True, path="/")
    return response


class _Console:
    """The console's request handlers around one (lazily built) backend."""

    def __init__(self, backend: Callable[[], ConsoleBackend]) -> None:
        self._make_backend = backend
        self._backend: ConsoleBackend | None = None

    @property
    def backend(self) -> ConsoleBackend:
        if self._backend is None:
            self._backend = self._make_backend()
        return self._backend

    # ------------------------------------------------------------ sessions

    def _session(self, request: Request) -> tuple[Session, Officer] | None:
        backend = self.backend
        session = backend.signer.read(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        officer = backend.officers.get(session.officer_id)
        return None if officer is None else (session, officer)

    def _to_sign_in(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = urlencode({"next": target})
        return RedirectResponse(f"{_base(request)}/login?{query}", 303, headers=SECURITY_HEADERS)

    async def _form(self, request: Request, session: Session) -> dict[str, Any] | Response:
        form = await request.form()
        if not self.backend.signer.csrf_ok(session, str(form.get("csrf") or "")):
            logger.warning("console: form without its CSRF token refused (%s)", request.url.path)
            return _page(request, "message.html.j2", 403, message_key="stale_form", message="")
        return {k: v for k, v in form.items() if isinstance(v, str)}

    @property
    def _zone(self) -> ZoneInfo:
        """The office's time zone (``[console] timezone``)."""
        return days.zone(self.backend.settings.console.timezone)

    def _common(self, session: Session, officer: Officer) -> dict[str, Any]:
        office_zone = self._zone
        return {
            "officer": officer,
            "csrf": self.backend.signer.csrf_token(session),
            # Times on the pages: on the office's clock, labelled with the zone's name.
            "local": lambda instant, pattern="%Y-%m-%d %H:%M": days.local_text(
                instant, office_zone, pattern
            ),
            "zone_name": office_zone.key,
        }

    # ------------------------------------------------------------ sign-in

    def _login_form(
        self, request: Request, status: int, *, target: str, error: tuple[str, int] | None
    ) -> Response:
        """The sign-in page with a fresh CSRF token, tied to a cookie set with it."""
        nonce, token = self.backend.signer.login_token()
        response = _page(
            request, "login.html.j2", status, next=target, error=error,
            problem=self.backend.problem, csrf=token,
        )  # fmt: skip
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=LOGIN_FORM_S,
            path=_base(request) or "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def login_page(self, request: Request) -> Response:
        """``GET /login``: the sign-in form."""
        return self._login_form(
            request, 200, target=request.query_params.get("next", ""), error=None
        )

    async def login(self, request: Request) -> Response:
        """``POST /login``: check the password (throttled), start the session."""
        backend = self.backend
        form = await request.form()
        officer_id = str(form.get("officer_id") or "")[:64]
        password = str(form.get("password") or "")
        target = str(form.get("next") or "")
        client = request.client.host if request.client else "unknown"
        if not backend.signer.login_ok(request.cookies.get(LOGIN_COOKIE), form.get("csrf")):
            logger.warning("console: sign-in form without its CSRF token refused (%s)", client)
            return self._login_form(request, 403, target=target, error=("stale_form", 0))
        keys = (f"officer:{officer_id}", f"client:{client}")
        wait = backend.throttle.retry_after(keys)
        if wait > 0:
            logger.warning("console: sign-in of %r from %s refused: throttled", officer_id, client)
            response = self._login_form(
                request, 429, target=target, error=("throttled", math.ceil(wait / 60))
            )
            response.headers["retry-after"] = str(math.ceil(wait))
            return response
        officer = backend.officers.get(officer_id)
        # argon2 is slow on purpose: off the event loop. An unknown id costs the same.
        if officer is None:
            await asyncio.to_thread(waste_a_verification, password)
            good = False
        else:
            good = await asyncio.to_thread(check_password, officer, password)
        if not good or officer is None:
            failures = backend.throttle.failed(keys)
            logger.warning(
                "console: failed sign-in of %r from %s (%d within %d s)",
                officer_id, client, failures, backend.settings.console.failed_login_window_s,
            )  # fmt: skip
            await asyncio.sleep(backend.settings.console.failed_login_delay_s)
            return self._login_form(request, 401, target=target, error=("bad_login", 0))
        backend.throttle.succeeded(f"officer:{officer_id}")
        _, cookie = backend.signer.issue(officer.officer_id)
        logger.info("console: %s signed in from %s", officer.officer_id, client)
        base = _base(request)
        # Only a path of the console itself: no open redirect.
        destination = target if target.startswith(f"{base}/") and "//" not in target else ""
        response = RedirectResponse(destination or f"{base}/queue", 303, headers=SECURITY_HEADERS)
        response.delete_cookie(LOGIN_COOKIE, path=base or "/")
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=int(backend.signer.lifetime_s),
            path=base or "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(self, request: Request) -> Response:
        """``POST /logout``: end the session."""
        found = self._session(request)
        if found is None:
            return self._to_sign_in(request)
        form = await self._form(request, found[0])
        if isinstance(form, Response):
            return form
        self.backend.signer.revoke(found[0])
        response = RedirectResponse(f"{_base(request)}/login", 303, headers=SECURITY_HEADERS)
        response.delete_cookie(SESSION_COOKIE, path=_base(request) or "/")
        return response

    # ------------------------------------------------------------ pages

    async def home(self, request: Request) -> Response:
        """``GET /``: the queue."""
        return RedirectResponse(f"{_base(request)}/queue", 303, headers=SECURITY_HEADERS)

    async def queue(self, request: Request) -> Response:
        """``GET /queue``: the selected declarations awaiting an outcome, in deadline order."""
        found = self._session(request)
        if found is None:
            return self._to_sign_in(request)
        session, officer = found
        lang = _lang(request)
        try:
            wanted, number, day = forms.queue_filter(request.query_params, self._zone)
        except forms.FormError as err:
            return _page(request, "message.html.j2", 400, message_key="bad_form",
                         message=str(err), **self._common(session, officer))  # fmt: skip
        size = self.backend.settings.console.page_size
        audit = self.backend.audit
        result = await asyncio.to_thread(
            audit.inspection_queue, wanted, limit=size, offset=(number - 1) * size
        )
        offices, tiers = await asyncio.to_thread(audit.queue_options)
        now = self.backend.clock()
        rows = []
        for entry in result.entries:  # one page (at most [console] page_size)
            left, overdue = pages.time_left(entry.deadline, now, lang)
            rows.append(
                {
                    "entry": entry,
                    "left": left,
                    "overdue": overdue,
                    "lane_name": i18n.lane_name(entry.lane, lang),
                    "tier_name": i18n.tier_name(entry.credit_tier, lang),
                    "reason_name": i18n.reason_name(entry.selection_reason, lang),
                }
            )
        query = {k: v for k, v in request.query_params.items() if k not in ("page", "lang")}
        return _page(
            request,
            "queue.html.j2",
            rows=rows,
            page=result,
            number=number,
            pages=max(1, math.ceil(result.total / size)),
            wanted=wanted,
            day=day,
            query=query,
            offices=offices,
            tiers=tiers,
            lanes=forms.LANES,
            lane_names={lane: i18n.lane_name(lane, lang) for lane in forms.LANES},
            first=(number - 1) * size,
            recorded=request.query_params.get("recorded"),
            **self._common(session, officer),
        )

    async def declaration(self, request: Request) -> Response:
        """``GET /declaration/{id}``: the decision, its explanation and the outcome form."""
        found = self._session(request)
        if found is None:
            return self._to_sign_in(request)
        return await self._declaration_page(request, *found, error=None)

    async def _declaration_page(
        self, request: Request, session: Session, officer: Officer, *, error: str | None,
        status: int = 200,
    ) -> Response:  # fmt: skip
        lang = _lang(request)
        declaration_id = request.path_params["declaration_id"]
        audit = self.backend.audit
        stored = (await asyncio.to_thread(audit.latest_decisions, [declaration_id])).get(
            declaration_id
        )
        if stored is None:
            return _page(request, "message.html.j2", 404, message_key="unknown_declaration",
                         message="", declaration_id=declaration_id,
                         **self._common(session, officer))  # fmt: skip
        outcomes = await asyncio.to_thread(audit.outcomes_of, declaration_id)
        history, totals = [], None
        if stored.importer_id is not None:
            history, totals = await asyncio.to_thread(
                audit.importer_history, stored.importer_id, exclude=declaration_id
            )
        decision = stored.decision
        return _page(
            request,
            "declaration.html.j2",
            status,
            declaration_id=declaration_id,
            facts=pages.decision_facts(
                stored, self.backend.settings.selection.credit, lang, self._zone
            ),
            report=pages.explanation(
                decision, self.backend.feature_labels, lang, self.backend.settings.selection.rulings
            ),
            # Measures 22, 12, 8 and 14, in the officer report's words.
            measures=pages.measure_blocks(decision, self.backend.settings.selection.rulings, lang),
            measures_title=measure_text(lang)["heading"],
            outcomes=outcomes,
            importer_id=stored.importer_id,
            history=history,
            history_totals=totals,
            lane_names={lane: i18n.lane_name(lane, lang) for lane in forms.LANES},
            error=error,
            **self._common(session, officer),
        )

    async def record(self, request: Request) -> Response:
        """``POST /declaration/{id}/outcome``: record the outcome as ``/feedback`` does."""
        found = self._session(request)
        if found is None:
            return Response("sign in first", 403, headers=SECURITY_HEADERS)
        session, officer = found
        form = await self._form(request, session)
        if isinstance(form, Response):
            return form
        declaration_id = request.path_params["declaration_id"]
        feedback = self.backend.settings.feedback
        try:
            record = forms.outcome_record(declaration_id, form)
            receipt = await asyncio.to_thread(
                record_outcome,
                self.backend.audit,
                record,
                credential=CONSOLE_CREDENTIAL,
                request_id=None,
                max_revenue_to_declared_value=feedback.max_revenue_to_declared_value,
                revenue_always_plausible=feedback.revenue_always_plausible,
                officer_id=officer.officer_id,
                source=CONSOLE_CREDENTIAL,
            )
        except (forms.FormError, FeedbackError) as err:
            status = getattr(err, "status", 400)
            return await self._declaration_page(
                request, session, officer, error=str(err), status=400 if status == 422 else status
            )
        logger.info(
            "console: %s recorded %s for %s (feedback %s)",
            officer.officer_id, receipt["kind"], declaration_id, receipt["feedback_id"],
        )  # fmt: skip
        query = urlencode({"recorded": declaration_id})
        return RedirectResponse(f"{_base(request)}/queue?{query}", 303, headers=SECURITY_HEADERS)

    async def supervisor_view(self, request: Request) -> Response:
        """``GET /supervisor``: today's rates per tier, hits, the random sample, drift."""
        found = self._session(request)
        if found is None:
            return self._to_sign_in(request)
        session, officer = found
        if not officer.is_supervisor:
            return _page(request, "message.html.j2", 403, message_key="forbidden", message="",
                         **self._common(session, officer))  # fmt: skip
        lang = _lang(request)
        now = self.backend.clock()
        settings = self.backend.settings
        office_zone = self._zone
        decided = await asyncio.to_thread(
            supervisor.todays_decisions, self.backend.audit, now, office_zone
        )
        rule_set = supervisor.rule_set_today(settings.selection.credit, now, office_zone)
        rates, all_met = supervisor.tier_rates(decided, rule_set, lang)
        return _page(
            request,
            "supervisor.html.j2",
            day=days.local_date(now, office_zone).isoformat(),
            rule_set=rule_set.source_zh if lang == "zh" else rule_set.source,
            rates=rates,
            all_met=all_met,
            figures=supervisor.outcome_figures(decided),
            drift=supervisor.drift_status(settings.console.monitor_json),
            **self._common(session, officer),
        )


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    """503 when the audit store cannot be read or written (the officer retries)."""
    logger.error("console: the audit store failed: %s", exc)
    return _page(request, "message.html.j2", 503, message_key="store_unavailable", message="")


def create_console_app(backend: Callable[[], ConsoleBackend]) -> Starlette:
    """The console as an ASGI app (mount it at ``/console``).

    Args:
        backend: Gives the backend on the first request (called once).

    Returns:
        The Starlette app.
    """
    console = _Console(backend)
    return Starlette(
        routes=[
            Route("/", console.home, methods=["GET"]),
            Route("/login", console.login_page, methods=["GET"]),
            Route("/login", console.login, methods=["POST"]),
            Route("/logout", console.logout, methods=["POST"]),
            Route("/queue", console.queue, methods=["GET"]),
            Route("/declaration/{declaration_id}", console.declaration, methods=["GET"]),
            Route("/declaration/{declaration_id}/outcome", console.record, methods=["POST"]),
            Route("/supervisor", console.supervisor_view, methods=["GET"]),
        ],
        exception_handlers={AuditError: _store_unavailable},
    )


__all__ = [
    "CONSOLE_CREDENTIAL",
    "LANG_COOKIE",
    "ConsoleBackend",
    "OfficerConfigError",
    "create_console_app",
]
