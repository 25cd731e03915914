"""Schemathesis against the running server's own OpenAPI document (``GET /docs.json``).

The document is loaded from a real ``portsift serve`` (the ``server`` fixture), and
schemathesis generates requests for ``/score``, ``/score_batch`` and ``/feedback`` from
it: valid ones (positive mode) and ones that break the schema (negative mode), all with
the bearer token. Every answer must be no 5xx, have a status code the document lists, the
content type it names and a body valid against the schema it gives for that code. Real
declarations of the session data set are sent through the same checks, so that the
decision schema is checked on answers that are decisions (the generated declarations
almost all fail the loader's date and HS code checks and get 422).

Schemathesis' own pytest integration (``schemathesis.pytest.from_fixture``) reads a
private pytest attribute that pytest 9 no longer has, so each operation is driven here
with Hypothesis through :meth:`APIOperation.as_strategy`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from portsift.serving.service import DEFAULT_MAX_BODY_BYTES
from tests.serving.conftest import TOKEN, Server, declaration_records

#: Generated requests per operation and generation mode (about 5 s per 100 here).
MAX_EXAMPLES = 40
PATHS = ("/score", "/score_batch", "/feedback")
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS: list[Callable[..., Any]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

#: Status codes answered, by (path, mode): printed with ``-s`` for the figures in docs/api.md.
ANSWERED: dict[tuple[str, str], Counter[int]] = {}


@pytest.fixture(scope="module")
def api_schema(server: Server) -> OpenApiSchema:
    """The server's OpenAPI document, loaded by schemathesis, requests going to the server."""
    # /docs.json needs the token like every path but the health and metrics endpoints.
    schema = schemathesis.openapi.from_url(server.url + "/docs.json", headers=AUTH, timeout=30)
    schema.config.update(base_url=server.url, headers=AUTH, request_timeout=60)
    return schema


@pytest.fixture(scope="module")
def records(data_files: Any) -> list[dict[str, Any]]:
    """Eight declarations of the shared data set as JSON objects."""
    return declaration_records(data_files.declarations, 8, data_files.lab_results)


def _send(case: Case) -> Any:
    response = case.call(headers=AUTH, timeout=60)
    case.validate_response(response, checks=CHECKS)
    return response


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("path", PATHS)
def test_generated_requests_get_documented_answers_never_5xx(
    api_schema: OpenApiSchema, path: str, mode: GenerationMode
) -> None:
    """Fuzz one operation in one mode; any check failure fails (shrunk, with a curl line)."""
    operation = api_schema[path]["POST"]
    answered = ANSWERED.setdefault((path, mode.value), Counter())

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def fuzz(case: Case) -> None:
        answered[_send(case).status_code] += 1

    fuzz()
    print(f"\n{path} {mode.value}: {sum(answered.values())} requests, {dict(answered)}")
    # Not vacuous: the generator produced requests, and they got past the token check.
    assert sum(answered.values()) >= MAX_EXAMPLES // 2
    assert 401 not in answered
    if mode is GenerationMode.NEGATIVE:
        assert answered[400] > 0, "no schema-breaking request was refused with 400"


def test_real_requests_get_documented_answers(
    api_schema: OpenApiSchema, server: Server, records: list[dict[str, Any]]
) -> None:
    """Decisions, a batch, feedback and the token and size refusals, against the document.

    BentoML's own document claims the deadlines of a decision are numbers (a green
    decision has ``null``) and a 400's ``detail`` is a string (it is a list): each of these
    answers would fail ``response_schema_conformance`` against it.
    """
    score, batch, feedback = (api_schema[path]["POST"] for path in PATHS)
    for record in records:
        assert _send(score.Case(body=record)).status_code == 200
    decisions = _send(batch.Case(body={"declarations": records, "lang": "zh"}))
    assert decisions.status_code == 200
    assert len(decisions.json()) == len(records)
    nulls = sum(d["inspection_deadline_hours"] is None for d in decisions.json())
    assert nulls > 0, "no decision with a null deadline: the null branch went unchecked"
    # Outcomes are taken for decided declarations only: 4711 (an integer id) and FZ-1 first.
    for declaration_id in (4711, "FZ-1"):
        decided = _send(score.Case(body={**records[1], "declaration_id": declaration_id}))
        assert decided.status_code == 200
    for outcome in (
        {"declaration_id": records[0]["declaration_id"], "inspected": 1, "illicit": 1},
        {"declaration_id": 4711, "inspected": 0, "illicit": None, "revenue": None},
        {"declaration_id": "FZ-1", "inspected": 1, "illicit": 0, "revenue": 12.5},
    ):
        assert _send(feedback.Case(body=outcome)).status_code == 200
    unknown = feedback.Case(body={"declaration_id": "FZ-NEVER", "inspected": 1})
    assert _send(unknown).status_code == 404
    # Refusals: a loader error (422), a shape error (400), no token (401), too big (413).
    refused = {
        422: score.Case(body={**records[0], "declared_at": "yesterday"}),
        400: score.Case(body={**records[0], "declared_value": -1.0}),
        413: score.Case(body={**records[0], "reasons": "x" * (DEFAULT_MAX_BODY_BYTES + 1)}),
    }
    for status, case in refused.items():
        assert _send(case).status_code == status
    anonymous = feedback.Case(body={"declaration_id": "FZ-2", "inspected": 1})
    response = anonymous.call(headers={"Authorization": "Bearer wrong-token-0123456789"})
    anonymous.validate_response(response, checks=CHECKS)
    assert response.status_code == 401
