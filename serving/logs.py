"""The server's logs: one JSON object a line, a request id per request, no request data.

What a worker of ``portsift serve`` logs (``docs/operations.md``, "Server logs"):

* **Every request to the API** gets an id (:class:`RequestIdMiddleware`: uuid4 hex),
  returned in the ``X-Request-ID`` header of every answer, stored as the decision's
  ``request_id`` (``<id>`` for ``/score``, ``<id>-<position>`` for ``/score_batch``) and
  logged in **one line** when the answer is sent: ``route``, ``status``, ``field`` (the
  field a 4xx refusal names), ``duration_ms``. INFO for answers below 500, ERROR from
  500 up. Neither the body nor the refusal's message is logged: declarations in logs
  would be a data-protection incident, and ``field`` says what the client got wrong.
* **Client errors (4xx)** are that line and nothing else. BentoML itself logs a
  traceback of every request body pydantic refuses (with fragments of the body in
  pydantic's message); :class:`ClientErrorFilter` drops exactly those records.
* **Server errors (5xx)** keep their traceback, with what could be request data taken
  out (:func:`redact`: SQLAlchemy's ``[parameters: ...]``, pydantic's ``input_value=``).
* portsift's loggers (``portsift.*``) write JSON lines (:class:`JsonFormatter`): ``time``,
  ``level``, ``logger``, ``message``, ``request_id``, ``route``, ``status``, ``field``,
  and ``exception`` with the traceback. So do BentoML's own records in the worker
  (``bentoml``, ``uvicorn.error``, ``circus`` and the root logger share one handler, which
  BentoML 1.4 formats as text with no structured option of its own): the worker's log is
  JSON lines only. BentoML's access log is switched off in the service
  (``logging={"access": {"enabled": False}}``): it repeated the request line without the
  request id. The arbiter process (``portsift serve`` itself) keeps BentoML's text for its
  few start and stop lines.

:func:`configure_server_logging` sets this up; the service calls it in each worker.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import sys
import time
import uuid
from typing import Any, Final

#: The header that carries the request id of every answer.
REQUEST_ID_HEADER: Final[str] = "X-Request-ID"
#: Where the request id is kept in the ASGI scope (``scope["state"]``, Starlette's
#: ``request.state``), for the service's API functions.
STATE_KEY: Final[str] = "portsift_request_id"

#: The request being answered, for every record logged while it is (same task or a thread
#: started from it: anyio copies the context).
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "portsift_request_id", default=None
)
ROUTE: contextvars.ContextVar[str | None] = contextvars.ContextVar("portsift_route", default=None)

#: Paths whose answers are not logged: health checks and metrics scrapes, every few seconds.
QUIET_PATHS: Final[frozenset[str]] = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})

#: The logger of the one line per request.
request_logger = logging.getLogger("portsift.serving.requests")

#: The BentoML logger whose ``log_exception`` reports every refused request body with its
#: traceback (``bentoml._internal.server.http_app``; guarded by ``tests/serving/test_logs.py``).
BENTOML_EXCEPTION_LOGGER: Final[str] = "bentoml._internal.server.http_app"

#: The keys of a JSON line besides ``exception``, in order.
FIELDS: Final[tuple[str, ...]] = (
    "time",
    "level",
    "logger",
    "message",
    "request_id",
    "route",
    "status",
    "field",
)
_EXTRA_FIELDS: Final[tuple[str, ...]] = ("status", "field", "duration_ms")

_PARAMETERS = re.compile(r"\[parameters: [^\n]*")
_INPUT_VALUE = re.compile(r"input_value=.*?, input_type=")


def redact(text: str) -> str:
    """Take what could be request data out of an error message or traceback.

    SQLAlchemy prints the bound parameters of a failed statement (a declaration's values)
    as ``[parameters: ...]`` on one line; pydantic prints the refused value as
    ``input_value=...``. Both are replaced; everything else is kept.
    """
    text = _PARAMETERS.sub("[parameters: hidden]", text)
    return _INPUT_VALUE.sub("input_value=hidden, input_type=", text)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: :data:`FIELDS`, ``duration_ms`` when given, ``exception``.

    ``request_id`` and ``route`` come from the record (``extra=``) or else from the
    request being answered (:data:`REQUEST_ID`, :data:`ROUTE`). Non-ASCII is escaped, so a
    line never holds a control or bidirectional character whatever a message quotes.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as one line of JSON."""
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
            "route": getattr(record, "route", None) or ROUTE.get(),
        }
        for name in _EXTRA_FIELDS:
            line[name] = getattr(record, name, None)
        if line["duration_ms"] is None:
            del line["duration_ms"]
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = redact(record.exc_text)
        return json.dumps(line, default=str)


class ClientErrorFilter(logging.Filter):
    """Drop BentoML's traceback of a request it answers with 4xx; redact the others.

    BentoML's ``api_endpoint_wrapper`` calls ``log_exception`` (an ERROR with the
    traceback) before answering a pydantic ``ValidationError`` with 400 and a
    ``BentoMLException`` with its own status. The request was the client's fault,
    portsift logs its own line for it (:class:`RequestIdMiddleware`), and pydantic's
    message quotes the body. Records of a 5xx keep their traceback, redacted.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether to keep the record (BentoML's records of client errors are dropped)."""
        if not record.exc_info or record.exc_info[1] is None:
            return True
        if is_client_error(record.exc_info[1]):
            return False
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def is_client_error(error: BaseException) -> bool:
    """Whether BentoML answers this exception of an API call with a 4xx."""
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        return True
    return isinstance(error, BentoMLException) and int(error.error_code) < 500


def configure_server_logging(stream: Any = None) -> None:
    """JSON lines for portsift's loggers at INFO and BentoML's; its client-error tracebacks off.

    Called by each worker (the service's constructor), after BentoML has configured its
    own logging (whose handler then writes JSON too, :func:`bentoml_handlers`); calling
    it again changes nothing. portsift's records no longer reach
    the root logger, so nothing is logged twice.

    Args:
        stream: Where the lines go (default: standard output, where BentoML logs too).
    """
    portsift = logging.getLogger("portsift")
    if not any(isinstance(h.formatter, JsonFormatter) for h in portsift.handlers):
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(JsonFormatter())
        portsift.addHandler(handler)
    portsift.setLevel(logging.INFO)
    portsift.propagate = False
    bentoml_logger = logging.getLogger(BENTOML_EXCEPTION_LOGGER)
    if not any(isinstance(f, ClientErrorFilter) for f in bentoml_logger.filters):
        bentoml_logger.addFilter(ClientErrorFilter())
    for handler in bentoml_handlers():
        handler.setFormatter(JsonFormatter())


#: The loggers BentoML's worker logging configuration gives its handler to ("" is root).
BENTOML_WORKER_LOGGERS: Final[tuple[str, ...]] = ("bentoml", "uvicorn.error", "circus", "")


def bentoml_handlers() -> list[logging.Handler]:
    """The handlers BentoML's worker logging set up (``tracehandler``), each once.

    Recognised by BentoML's ``TraceRecordFilter`` on them, so that a handler someone else
    attached to the same loggers (pytest's capture, an operator's own) keeps its format.
    """
    from bentoml._internal.log import TraceRecordFilter

    found: list[logging.Handler] = []
    for name in BENTOML_WORKER_LOGGERS:
        for handler in logging.getLogger(name or None).handlers:
            traced = any(isinstance(f, TraceRecordFilter) for f in handler.filters)
            if traced and handler not in found:
                found.append(handler)
    return found


def request_id_of(scope: Any) -> str | None:
    """The request id :class:`RequestIdMiddleware` gave this request (``None`` outside it)."""
    state = scope.get("state") if isinstance(scope, dict) else None
    return state.get(STATE_KEY) if isinstance(state, dict) else None


class RequestIdMiddleware:
    """ASGI middleware, the outermost of portsift's: request id, header, one log line.

    Gives every HTTP request a fresh id (never the client's: an id chosen by a caller could
    collide with another decision's), keeps it in ``scope["state"]`` and
    :data:`REQUEST_ID`, adds ``X-Request-ID`` to the answer whatever answers it (the token
    check's 401, the size cap's 413, BentoML's 400, the service's 422 or 503), and logs one
    line for each answer of a path outside ``quiet_paths`` (health and metrics).
    """

    def __init__(self, app: Any, quiet_paths: frozenset[str] = QUIET_PATHS) -> None:
        self.app = app
        self.quiet_paths = quiet_paths

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Answer the request with its id; log the answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        route = scope.get("path", "")
        # The scope's state dict is the request's own (a shallow copy per request).
        scope["state"] = {**scope.get("state", {}), STATE_KEY: request_id}
        header = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())
        answer = _Answer()
        started = time.perf_counter()

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                answer.status = int(message["status"])
                message = {**message, "headers": [*message.get("headers", ()), header]}
            elif message["type"] == "http.response.body" and answer.status >= 400:
                answer.body.append(message.get("body", b""))
            await send(message)

        request_token = REQUEST_ID.set(request_id)
        route_token = ROUTE.set(route)
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            answer.status = answer.status or 500
            raise
        finally:
            if route not in self.quiet_paths:
                _log_answer(request_id, route, answer, time.perf_counter() - started)
            REQUEST_ID.reset(request_token)
            ROUTE.reset(route_token)


class _Answer:
    """What :class:`RequestIdMiddleware` saw of an answer."""

    __slots__ = ("body", "status")

    def __init__(self) -> None:
        self.status = 0
        self.body: list[bytes] = []


def _log_answer(request_id: str, route: str, answer: _Answer, seconds: float) -> None:
    status = answer.status or 500  # no answer at all: the server failed
    level = logging.ERROR if status >= 500 else logging.INFO
    if not request_logger.isEnabledFor(level):
        return
    field = _refused_field(answer.body) if status >= 400 else None
    request_logger.log(
        level,
        "answered %s with %d%s",
        route,
        status,
        f" (field {field})" if field else "",
        extra={
            "request_id": request_id,
            "route": route,
            "status": status,
            "field": field,
            "duration_ms": round(seconds * 1000, 3),
        },
    )


#: Longest field name logged (an unknown field is named as the client sent it).
_MAX_FIELD = 64


def _refused_field(chunks: list[bytes]) -> str | None:
    """The ``field`` of an error body (``{"error", "field", ...}``), if it names one."""
    try:
        body = json.loads(b"".join(chunks))
    except ValueError:
        return None
    field = body.get("field") if isinstance(body, dict) else None
    return field[:_MAX_FIELD] if isinstance(field, str) else None
