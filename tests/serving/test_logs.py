"""The server's logs (serving/logs.py): JSON lines, one per answer, no request data.

The first tests hold the BentoML internals the logging relies on (they fail loudly when
BentoML moves them); the others read the log of a real ``portsift serve``.
"""

from __future__ import annotations

import inspect
import io
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import BaseModel, ValidationError

from portsift.serving import logs
from portsift.serving.service import DEFAULT_MAX_BODY_BYTES
from portsift.store.audit import AuditStore
from tests.serving.conftest import Server, declaration_records

# ------------------------------------------------------------ BentoML's internals


def test_bentoml_logs_refused_bodies_where_the_filter_sits() -> None:
    """``api_endpoint_wrapper`` answers a ValidationError with 400 after ``log_exception``."""
    from _bentoml_impl.server.app import ServiceAppFactory
    from bentoml._internal.server import http_app

    assert http_app.logger.name == logs.BENTOML_EXCEPTION_LOGGER
    source = inspect.getsource(ServiceAppFactory.api_endpoint_wrapper)
    handler = source[source.index("except ValidationError") :]
    assert handler.index("log_exception(request)") < handler.index("status_code=400")
    assert "except BentoMLException" in source
    assert "logger.error(" in inspect.getsource(http_app.log_exception)


class _Model(BaseModel):
    value: int


_BODY = {"value": "IMP-SECRET-BODY"}


def _records_of(logger: logging.Logger) -> tuple[list[logging.LogRecord], logging.Handler]:
    caught: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(record)

    handler = Collect()
    logger.addHandler(handler)
    return caught, handler


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    """:func:`logs.configure_server_logging` into a buffer, undone afterwards."""
    portsift = logging.getLogger("portsift")
    bentoml_logger = logging.getLogger(logs.BENTOML_EXCEPTION_LOGGER)
    saved = (list(portsift.handlers), portsift.level, portsift.propagate)
    filters = list(bentoml_logger.filters)
    stream = io.StringIO()
    try:
        logs.configure_server_logging(stream)
        logs.configure_server_logging(stream)  # a second call changes nothing
        yield stream
    finally:
        portsift.handlers[:], portsift.level, portsift.propagate = saved
        bentoml_logger.filters[:] = filters


def test_the_filter_drops_client_errors_and_redacts_server_errors(configured: io.StringIO) -> None:
    from bentoml._internal.server.http_app import log_exception
    from bentoml.exceptions import BadInput
    from starlette.requests import Request

    request = Request({"type": "http", "method": "POST", "path": "/score", "headers": []})
    bentoml_logger = logging.getLogger(logs.BENTOML_EXCEPTION_LOGGER)
    caught, handler = _records_of(bentoml_logger)
    try:
        try:
            _Model.model_validate(_BODY)
        except ValidationError:
            log_exception(request)
        try:
            raise BadInput("bad input")
        except BadInput:
            log_exception(request)
        assert caught == []
        try:
            _failing_insert()
        except sa.exc.SQLAlchemyError:
            log_exception(request)
        (record,) = caught
        assert "Traceback" in record.exc_text and "IntegrityError" in record.exc_text
        assert "IMP-SECRET-BODY" not in record.exc_text
        assert "[parameters: hidden]" in record.exc_text
    finally:
        bentoml_logger.removeHandler(handler)
    handlers = logging.getLogger("portsift").handlers
    assert sum(isinstance(h.formatter, logs.JsonFormatter) for h in handlers) == 1
    assert sum(isinstance(f, logs.ClientErrorFilter) for f in bentoml_logger.filters) == 1


def test_bentoml_worker_handlers_write_json_and_others_keep_their_format() -> None:
    """The handler BentoML's worker logging sets up is found by its filter, only that one."""
    from bentoml._internal.log import TraceRecordFilter

    stream, other_stream = io.StringIO(), io.StringIO()
    traced = logging.StreamHandler(stream)
    traced.addFilter(TraceRecordFilter())
    other = logging.StreamHandler(other_stream)
    root, bentoml_logger = logging.getLogger(), logging.getLogger("bentoml")
    saved = (bentoml_logger.level, bentoml_logger.propagate)
    bentoml_logger.propagate = False  # as BentoML configures it: each record once
    root.addHandler(traced)
    bentoml_logger.addHandler(traced)  # shared, as BentoML's configuration does
    bentoml_logger.addHandler(other)
    try:
        assert logs.bentoml_handlers() == [traced]
        traced.setFormatter(logs.JsonFormatter())
        bentoml_logger.setLevel(logging.INFO)
        logging.getLogger("bentoml.example").info("Service portsift initialized")
    finally:
        root.removeHandler(traced)
        bentoml_logger.removeHandler(traced)
        bentoml_logger.removeHandler(other)
        bentoml_logger.level, bentoml_logger.propagate = saved
    line = json.loads(stream.getvalue())
    assert (line["logger"], line["message"]) == ("bentoml.example", "Service portsift initialized")
    assert other_stream.getvalue().strip() == "Service portsift initialized"


def _failing_insert() -> None:
    """An insert that fails with the declaration among its bound parameters."""
    engine = sa.create_engine("sqlite://")
    # Not in the line that fails: a traceback quotes that line of source.
    row = {"id": "a", "body": json.dumps({"importer_id": "IMP-SECRET-BODY"})}
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id TEXT PRIMARY KEY, body TEXT)"))
        conn.execute(sa.text("INSERT INTO t VALUES ('a', 'x')"))
        conn.execute(sa.text("INSERT INTO t VALUES (:id, :body)"), row)


def test_portsift_lines_are_json_with_the_request_id(configured: io.StringIO) -> None:
    logger = logging.getLogger("portsift.serving")
    token = logs.REQUEST_ID.set("0123456789abcdef0123456789abcdef")
    route = logs.ROUTE.set("/score")
    try:
        logger.info("decided")
        try:
            _failing_insert()
        except sa.exc.SQLAlchemyError:
            logger.exception("decision not recorded")
    finally:
        logs.REQUEST_ID.reset(token)
        logs.ROUTE.reset(route)
    logger.debug("not at INFO: left out")
    first, second = (json.loads(line) for line in configured.getvalue().splitlines())
    assert list(first)[: len(logs.FIELDS)] == list(logs.FIELDS)
    assert first["level"] == "INFO" and first["logger"] == "portsift.serving"
    assert first["request_id"] == "0123456789abcdef0123456789abcdef"
    assert first["route"] == "/score" and first["status"] is None
    assert second["level"] == "ERROR" and "Traceback" in second["exception"]
    assert "IMP-SECRET-BODY" not in configured.getvalue()


# ----------------------------------------------------------- a real server


def _lines(server: Server) -> list[dict[str, Any]]:
    """portsift's JSON lines of the server's log."""
    lines = []
    for text in server.log.read_text(encoding="utf-8", errors="replace").splitlines():
        if text.startswith("{"):
            lines.append(json.loads(text))
    return lines


def _lines_of(server: Server, request_id: str, wait: float = 10) -> list[dict[str, Any]]:
    """The lines of one request, once its answer's line is written (or ``wait`` is over)."""
    deadline = time.monotonic() + wait
    while True:
        found = [line for line in _lines(server) if line.get("request_id") == request_id]
        answered = any(line["logger"] == logs.request_logger.name for line in found)
        if answered or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


#: A value that must never reach the log.
SECRET = "IMP-LOGCHECK-7F3A91"


@pytest.fixture(scope="module")
def record(data_files: Any) -> dict[str, Any]:
    """A declaration of the shared data set, with a distinctive importer id."""
    (first,) = declaration_records(data_files.declarations, 3, data_files.lab_results)[:1]
    return {**first, "importer_id": SECRET}


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"declared_value": "1200"}, 400, "declared_value"),  # pydantic, in BentoML
        ({"quantity": 1e300}, 400, "quantity"),
        ({"declared_at": "yesterday"}, 422, "declared_at"),  # the loader
    ],
)
def test_a_refusal_is_one_line_without_body_or_traceback(
    server: Server, record: dict[str, Any], change: dict[str, Any], status: int, field: str
) -> None:
    response = server.post("/score", {**record, **change})
    assert response.status_code == status, response.text
    request_id = response.headers["x-request-id"]
    (line,) = _lines_of(server, request_id)
    assert (line["route"], line["status"], line["field"]) == ("/score", status, field)
    assert line["level"] == "INFO" and line["logger"] == "portsift.serving.requests"
    assert "exception" not in line
    text = server.log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in text
    assert SECRET not in text


def test_the_worker_writes_json_lines_only_and_no_access_log(
    server: Server, record: dict[str, Any]
) -> None:
    response = server.post("/score", {**record, "declaration_id": "LOG-JSON-1"})
    assert response.status_code == 200, response.text
    assert _lines_of(server, response.headers["x-request-id"])
    text = server.log.read_text(encoding="utf-8", errors="replace")
    # BentoML's text lines name their component ("[entry_service:portsift:1]"): the
    # worker's must be JSON now, and its access line ("(scheme=http,...)") gone.
    assert "[entry_service:" not in text
    assert "scheme=http" not in text
    started = [line for line in _lines(server) if line["logger"].startswith("bentoml")]
    assert any("initialized" in line["message"] for line in started), started


def test_every_answer_carries_its_request_id_and_decisions_are_stored_under_it(
    server: Server, record: dict[str, Any]
) -> None:
    ok = server.post("/score", record)
    assert ok.status_code == 200, ok.text
    request_id = ok.headers["x-request-id"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    assert ok.json()["request_id"] == request_id
    # New declarations: one already decided would be answered as on record.
    two = [{**record, "declaration_id": "X1"}, {**record, "declaration_id": "X2"}]
    batch = server.post("/score_batch", {"declarations": two})
    assert batch.status_code == 200, batch.text
    batch_id = batch.headers["x-request-id"]
    assert [d["request_id"] for d in batch.json()] == [f"{batch_id}-0", f"{batch_id}-1"]
    one = server.post("/score_batch", {"declarations": [{**record, "declaration_id": "X3"}]})
    assert one.json()[0]["request_id"] == f"{one.headers['x-request-id']}-0"
    store = AuditStore.from_url(server.audit_url)
    try:
        assert store.get_decision(request_id).decision["request_id"] == request_id
        assert store.get_decision(f"{batch_id}-1") is not None
    finally:
        store.close()
    answers = {
        200: ok,
        400: server.post("/score", {**record, "declared_value": True}),
        401: server.post("/score", record, token=None),
        413: server.post("/score", content=b" " * (DEFAULT_MAX_BODY_BYTES + 1)),
        415: server.post("/score", record, headers={"Content-Type": "text/plain"}),
        422: server.post("/score", {**record, "hs_code": "12"}),
    }
    ids = set()
    for status, response in answers.items():
        assert response.status_code == status, (status, response.text)
        ids.add(response.headers["x-request-id"])
        (line,) = _lines_of(server, response.headers["x-request-id"])
        assert line["status"] == status
    assert len(ids) == len(answers)  # a fresh id each, never the client's
    sent = server.post("/score", record, headers={"X-Request-ID": "f" * 32})
    assert sent.headers["x-request-id"] != "f" * 32
    # Health checks carry it too, without a line each.
    health = httpx.get(server.url + "/readyz", timeout=10)
    assert health.headers["x-request-id"]
    assert not _lines_of(server, health.headers["x-request-id"], wait=0)


def test_feedback_is_logged_with_its_request_id(server: Server, record: dict[str, Any]) -> None:
    decided = server.post("/score", {**record, "declaration_id": "FB-LOG-1"})
    assert decided.status_code == 200, decided.text
    response = server.post("/feedback", {"declaration_id": "FB-LOG-1", "inspected": 0})
    assert response.status_code == 200, response.text
    (line,) = _lines_of(server, response.headers["x-request-id"])
    assert (line["route"], line["status"], line["field"]) == ("/feedback", 200, None)
    bad = {"declaration_id": "FB-LOG-2", "inspected": 1, "revenue": -1}
    refused = server.post("/feedback", bad)
    (line,) = _lines_of(server, refused.headers["x-request-id"])
    assert (line["status"], line["field"]) == (400, "revenue")


def test_a_server_error_logs_its_traceback_without_the_body(
    server: Server, record: dict[str, Any]
) -> None:
    """Last in the module: the audit store loses its table, so the server cannot commit."""
    database = server.audit_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as conn:
        conn.execute("DROP TABLE decisions")
    response = server.post("/score", {**record, "declaration_id": "X-503"})
    assert response.status_code == 503, response.text
    found = _lines_of(server, response.headers["x-request-id"])
    errors = [line for line in found if line["level"] == "ERROR"]
    assert any("Traceback" in line.get("exception", "") for line in errors), found
    answered = [line for line in found if line["logger"] == "portsift.serving.requests"]
    assert [line["status"] for line in answered] == [503]
    assert SECRET not in server.log.read_text(encoding="utf-8", errors="replace")
