"""The BentoML 1.4 service of the scoring API (``portsift serve`` starts it).

Thin on purpose: the request path lives in :mod:`portsift.serving.app`. Configuration comes from
the environment, which ``portsift serve`` sets: ``PORTSIFT_MODEL_DIR`` (the bundle),
``PORTSIFT_ENTERPRISES`` / ``PORTSIFT_COMMODITIES`` (newer register files),
``PORTSIFT_DISCLOSURES`` / ``PORTSIFT_RULINGS`` (the registers of measures 22 and 12;
every register file is read again when it changes, :mod:`portsift.serving.registers`),
``PORTSIFT_AUDIT_URL``, ``PORTSIFT_API_TOKENS`` / ``PORTSIFT_API_TOKEN_FILE`` and
``PORTSIFT_INSECURE_DEV=1``. Run it by hand with::

    PORTSIFT_MODEL_DIR=demo/model PORTSIFT_API_TOKENS=... \
        bentoml serve portsift.serving.service:Portsift
"""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
from typing import Any

import bentoml
import pydantic_core
from starlette.responses import JSONResponse, Response

from portsift.features.validation import InputError
from portsift.serving.api_models import (
    Decision,
    Declaration,
    Feedback,
    FeedbackReceipt,
    ScoreBatchRequest,
    declaration_record,
)
from portsift.serving.app import (
    INSECURE_ENV,
    DecisionService,
    ScoreRequest,
    language_of,
)
from portsift.serving.auth import (
    INSECURE_CREDENTIAL,
    PATH_SCOPES,
    Credential,
    TokenConfigError,
    TokenVerifier,
)
from portsift.serving.batching import MicroBatcher
from portsift.serving.console.app import ConsoleBackend, create_console_app
from portsift.serving.feedback import FeedbackError
from portsift.serving.logs import RequestIdMiddleware, configure_server_logging, request_id_of
from portsift.serving.openapi_patch import document_service
from portsift.serving.retries import IDEMPOTENCY_HEADER, check_key
from portsift.serving.strict_json import StrictBodyMiddleware, distinct_problems
from portsift.settings import load_settings
from portsift.store.audit import AuditError

logger = logging.getLogger("portsift.serving")

#: A model in the BentoML model store to serve instead of ``PORTSIFT_MODEL_DIR``.
MODEL_TAG = os.environ.get("PORTSIFT_MODEL_TAG") or None
#: Largest request body accepted, in bytes (``PORTSIFT_MAX_BODY_BYTES``).
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
#: Most declarations decided in one batch of concurrent requests (serving.batching).
BATCH_DECLARATIONS = 512

#: Worker processes (``portsift serve --workers``): one per core serves the most clients;
#: each worker runs LightGBM on one thread.
WORKERS = int(os.environ.get("PORTSIFT_WORKERS", "1") or 1)

#: Paths served without a token: BentoML's health checks. ``/metrics`` needs the
#: ``metrics`` scope (serving.auth.PATH_SCOPES).
OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz"})
#: Where the officer console is mounted: its own sign-in and sessions guard it (a
#: bearer token opens nothing there, and its session cookie nothing of the API).
CONSOLE_PATH = "/console"
#: Key of ``request.state`` holding the name of the request's credential.
CREDENTIAL_STATE = "portsift_credential"


#: How often a worker checks that the BentoML arbiter that started it still lives, in seconds.
ARBITER_POLL_S = 0.5


def exit_with_the_arbiter(poll_s: float = ARBITER_POLL_S) -> threading.Thread | None:
    """Make this worker process exit when the process that started it dies.

    BentoML's arbiter starts each worker in a session of its own, so a SIGKILL of the
    ``portsift serve`` process group (or of the arbiter alone) leaves the worker running,
    orphaned: it goes on answering on the inherited socket, unsupervised, and a new
    ``portsift serve`` cannot bind the port. A daemon thread notices the new parent and
    ends the process the way a kill would (``os._exit``; every decision already answered
    is committed, so nothing is lost that was acknowledged).

    Args:
        poll_s: Seconds between two checks.

    Returns:
        The watching thread, or ``None`` when the parent is already ``init`` (nothing to
        watch).
    """
    parent = os.getppid()
    if parent <= 1:
        return None

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        logger.error("portsift: the BentoML arbiter (pid %d) is gone; this worker exits", parent)
        logging.shutdown()
        os._exit(70)  # EX_SOFTWARE; no cleanup of a half-served request is wanted

    thread = threading.Thread(target=watch, name="portsift-arbiter-watch", daemon=True)
    thread.start()
    return thread


def insecure_dev() -> bool:
    """Whether the server was started with ``--insecure-dev``."""
    return os.environ.get(INSECURE_ENV) == "1"


def _json_reply(status: int, body: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    payload = json.dumps(body).encode("utf-8")
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ],
    }
    return start, payload


class GuardMiddleware:
    """ASGI middleware: tokens and scopes on every path but health and /console; body cap.

    A request without an accepted ``Authorization: Bearer <token>`` gets 401 and one whose
    credential lacks the path's scope (``serving.auth.PATH_SCOPES``) 403, both before any
    of its body is read; a body larger than the cap gets 413 (by ``Content-Length`` up
    front, and by counting the bytes of a chunked body). The credential's name goes into
    ``request.state`` for the audit store.
    """

    def __init__(self, app: Any, max_body_bytes: int | None = None) -> None:
        self.app = app
        self.verifier = TokenVerifier.from_env()
        # Fail closed: without tokens (and without --insecure-dev) nothing but health
        # and metrics is answered, and the service itself refuses to initialise.
        self.open_access = not self.verifier.is_configured and insecure_dev()
        limit = max_body_bytes or int(os.environ.get("PORTSIFT_MAX_BODY_BYTES", 0) or 0)
        self.max_body_bytes = limit or DEFAULT_MAX_BODY_BYTES

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Check the token and the body size, then pass the request on."""
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/"):
            # The console signs its officers in itself; its bodies are capped all the same.
            await self._capped(scope, receive, send, send)
            return
        # Two Authorization headers: which one a proxy, a log and this check would each
        # read is anyone's guess (the dict below keeps the last), so neither is.
        if sum(1 for k, _ in scope["headers"] if k.lower() == b"authorization") > 1:
            start, payload = _json_reply(
                400,
                {
                    "error": "field 'authorization': more than one Authorization header; send one",
                    "field": "authorization",
                },
            )
            await send(start)
            await send({"type": "http.response.body", "body": payload})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.open_access:
            credential: Credential | None = INSECURE_CREDENTIAL
        else:
            credential = self.verifier.identify(headers.get("authorization"))
        if credential is None:
            start, payload = _json_reply(401, {"error": "missing or invalid bearer token"})
            start["headers"].append((b"www-authenticate", b'Bearer realm="portsift"'))
            await send(start)
            await send({"type": "http.response.body", "body": payload})
            return
        needed = PATH_SCOPES.get(scope.get("path", ""))
        if needed is not None and not credential.allows(needed):
            message = (
                f"the credential {credential.name!r} may not use {scope['path']}: "
                f"it needs the scope {needed!r}"
            )
            start, payload = _json_reply(403, {"error": message, "field": None})
            await send(start)
            await send({"type": "http.response.body", "body": payload})
            return
        # The endpoints read it from ``ctx.request.state`` (the audit store records it).
        scope.setdefault("state", {})[CREDENTIAL_STATE] = credential.name
        await self._capped(scope, receive, send, _NamedFieldErrors(send))

    async def _capped(self, scope: Any, receive: Any, send: Any, answer: Any) -> None:
        """Pass the request on with its body capped (413 by length, or while it streams)."""
        length = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"content-length"),
            None,
        )
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._too_large(send)
            return
        seen = 0
        limit = self.max_body_bytes

        async def counted_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLargeError
            return message

        try:
            await self.app(scope, counted_receive, answer)
        except _BodyTooLargeError:
            await self._too_large(send)

    async def _too_large(self, send: Any) -> None:
        start, payload = _json_reply(
            413, {"error": f"request body larger than {self.max_body_bytes} bytes"}
        )
        await send(start)
        await send({"type": "http.response.body", "body": payload})


class _BodyTooLargeError(Exception):
    pass


#: Field names of the request models, to tell them from pydantic's union tags in a ``loc``.
_KNOWN_FIELDS = frozenset(
    {*Declaration.model_fields, *ScoreBatchRequest.model_fields, *Feedback.model_fields}
)


def _location(problem: dict[str, Any]) -> tuple[str, str]:
    """The path (``declarations.1.declared_value``) and the field a pydantic error is about.

    A union's error ``loc`` ends in the member tried (``hs_code.constrained-str``); that
    tail is dropped. An unknown field (``extra_forbidden``) is named as sent.
    """
    loc = [str(part) for part in problem.get("loc", [])]
    if not loc:
        return "body", "body"
    if problem.get("type") == "extra_forbidden":
        return ".".join(loc), loc[-1]
    known = [i for i, part in enumerate(loc) if part in _KNOWN_FIELDS]
    if not known:
        return ".".join(loc), loc[-1]
    end = known[-1] + 1
    while end < len(loc) and loc[end].isdigit():  # list positions stay in the path
        end += 1
    return ".".join(loc[:end]), loc[known[-1]]


class _NamedFieldErrors:
    """Rewrite BentoML's pydantic 400 so that its ``error`` message names the fields.

    BentoML answers a validation error with ``{"error": "1 validation error for
    DeclarationIODescriptor", "detail": [{"loc": [...], "msg": ...}]}``; the message then
    reads ``field 'importer_id': Field required`` and ``field`` names the first one.
    """

    def __init__(self, send: Any) -> None:
        self.send = send
        self.start: dict[str, Any] | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Any) -> None:
        if message["type"] == "http.response.start" and message["status"] == 400:
            self.start = message
            return
        if self.start is None or message["type"] != "http.response.body":
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(self.chunks)
        try:
            data = json.loads(body)
            # `detail` keeps all of pydantic's problems; the message names the distinct ones.
            problems = distinct_problems(data["detail"], _KNOWN_FIELDS)
            located = [_location(item) for item in problems]
            data["error"] = "; ".join(
                f"field '{path}': {item['msg']}"
                for (path, _), item in zip(located, problems, strict=True)
            )
            data["field"] = located[0][1] if located else None
            body = json.dumps(data).encode("utf-8")
        except (ValueError, KeyError, TypeError):
            pass
        headers = [(k, v) for k, v in self.start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})


def _error(status: int, message: str, field: str | None, rows: list[int] | None = None) -> Any:
    return JSONResponse({"error": message, "field": field, "records": rows}, status_code=status)


@bentoml.service(
    name="portsift",
    workers=WORKERS,
    # The scoring APIs are async (decided in the batcher's thread); threads serve /feedback.
    threads=2,
    traffic={"timeout": 30},
    # portsift's own line per answer (serving.logs) carries the route, status, field,
    # duration and request id; BentoML's access line only repeated it, as text.
    logging={"access": {"enabled": False}},
    labels={"project": "portsift"},
)
class Portsift:
    """Real-time risk scoring, selection, explanation and audit of import declarations."""

    if MODEL_TAG:
        # A bundle imported into the BentoML model store (serving.model_store): named as a
        # class attribute, so that ``bentoml build`` packs it into the bento.
        bundle_model = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        # In the worker, after BentoML's own logging setup: JSON lines, no client-error
        # tracebacks (serving.logs).
        configure_server_logging()
        # Before the (slow) bundle load: a worker orphaned while loading must not linger.
        exit_with_the_arbiter()
        try:
            model_dir = self.bundle_model.path if MODEL_TAG else None
            self.decisions = DecisionService.from_env(model_dir)
        except Exception:
            # BentoML does not log a failing service constructor: say why here.
            logger.exception("portsift: the scoring service could not start")
            raise
        if not self.decisions.verifier.is_configured:
            if not insecure_dev():
                # The worker does not start: no API without a credential. BentoML does
                # not log a failing service constructor, so say it here.
                message = (
                    "no API token configured (PORTSIFT_API_TOKENS or PORTSIFT_API_TOKEN_FILE); "
                    "refusing to serve (use --insecure-dev for a local demo)"
                )
                logger.error("portsift: %s", message)
                raise TokenConfigError(message)
            logger.warning("portsift: --insecure-dev: the API accepts requests without a token")
        # The console shares the worker's audit store; its officers file is read here,
        # so that a bad one stops the worker with the file, officer and field named.
        self.console = ConsoleBackend.configure(
            self.decisions.audit, load_settings(), self.decisions.bundle.pipeline.feature_labels()
        )
        self.batcher: MicroBatcher[ScoreRequest, list[dict[str, Any]]] = MicroBatcher(
            self.decisions.score_requests,
            size_of=lambda request: len(request.records),
            max_batch_size=BATCH_DECLARATIONS,
        )
        # The loaded model, registers and lookups live as long as the worker: keep them out
        # of the garbage collector's full passes, which otherwise show up as p99 latency.
        gc.collect()
        gc.freeze()

    @bentoml.api(route="/score")
    async def score(self, declaration: Declaration, /, ctx: bentoml.Context) -> Decision:  # type: ignore[valid-type]
        """Decide one declaration (flat JSON body); committed to the audit store first."""
        lang = language_of(ctx.request.headers.get("accept-language"), declaration.lang)
        return await self._score([declaration_record(declaration)], lang, "declaration", ctx)

    @bentoml.api(route="/score_batch")
    async def score_batch(
        self, request: ScoreBatchRequest, /, ctx: bentoml.Context
    ) -> list[Decision]:
        """Decide declarations in order (``{"declarations": [...]}``), each audited first."""
        lang = language_of(ctx.request.headers.get("accept-language"), request.lang)
        records = [declaration_record(d) for d in request.declarations]
        return await self._score(records, lang, "declarations", ctx, many=True)

    @bentoml.api(route="/feedback")
    def feedback(self, outcome: Feedback, /, ctx: bentoml.Context) -> FeedbackReceipt:
        """Record an inspection outcome for a declaration the audit store has decided."""
        try:
            receipt = self.decisions.feedback(
                outcome.model_dump(),
                credential=getattr(ctx.request.state, CREDENTIAL_STATE),
                request_id=request_id_of(ctx.request.scope),
            )
        except FeedbackError as err:
            ctx.response.status_code = err.status
            return _error(err.status, str(err), err.field)
        except AuditError:
            logger.exception("feedback not recorded")
            ctx.response.status_code = 503
            return _error(503, "the audit store did not record the feedback; retry", None)
        return FeedbackReceipt(**receipt)

    async def _score(
        self,
        records: list[dict[str, Any]],
        lang: str,
        source: str,
        ctx: bentoml.Context,
        *,
        many: bool = False,
    ) -> Any:
        # With a ``ctx`` parameter BentoML sets the response status from
        # ``ctx.response.status_code``, even on a Response the API returns.
        try:
            # Requests that arrive while a batch is decided go together into the next one
            # (serving.batching): one pass of the vectorised path and one audit commit.
            # The decisions are stored under the id the answer's X-Request-ID carries.
            request = ScoreRequest(
                records,
                lang,
                source,
                request_id=request_id_of(ctx.request.scope),
                many=many,
                credential=getattr(ctx.request.state, CREDENTIAL_STATE, None),
                # A retry with the same key is answered from the audit store (serving.retries).
                idempotency_key=check_key(ctx.request.headers.get(IDEMPOTENCY_HEADER)),
            )
            decisions = await self.batcher.submit(request)
        except InputError as err:
            ctx.response.status_code = 422
            return _error(422, str(err), err.column, err.rows)
        except AuditError:
            # Nothing acknowledged without a committed audit row: the caller retries.
            logger.exception("decision not recorded")
            ctx.response.status_code = 503
            return _error(503, "the audit store did not record the decision; retry", None)
        # The decisions are built to the Decision schema (tests and the schemathesis run
        # validate every answer against it); serialising them directly skips a pydantic
        # round trip that cost more than scoring a declaration.
        body = pydantic_core.to_json(decisions if many else decisions[0])
        return Response(content=body, media_type="application/json")


# The first added is the outermost: the request id is given before the token check
# answers, and the body is buffered (serving.strict_json) only once the token is accepted.
Portsift.add_asgi_middleware(RequestIdMiddleware)
Portsift.add_asgi_middleware(GuardMiddleware)
Portsift.add_asgi_middleware(StrictBodyMiddleware)

# The officer console (serving/console), served from this worker's service instance.
Portsift.mount_asgi_app(
    create_console_app(lambda: bentoml.get_current_service().console), path=CONSOLE_PATH
)

# BentoML has no public hook for its OpenAPI document: the one patch is in openapi_patch.
document_service(Portsift)
