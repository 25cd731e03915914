"""serving/strict_json.py without a server: duplicate keys, media types, the problems named.

Against a real server: ``tests/serving/test_strict_input.py``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from portsift.serving.service import _KNOWN_FIELDS
from portsift.serving.strict_json import (
    StrictBodyMiddleware,
    distinct_problems,
    duplicate_key,
    media_type,
)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ('{"a": 1, "b": 2}', None),
        ('{"a": 1, "a": 2}', ["a"]),
        ('{"a": {"x": 1}, "b": {"x": 2}}', None),  # the same key in two objects
        ('{"a": {"x": 1, "x": 1}}', ["a", "x"]),
        ('{"d": [{"k": 1}, {"k": 1, "k": 2}]}', ["d", "1", "k"]),
        ('[[{"k": 1}], [{"j": 1, "j": 1}]]', ["1", "0", "j"]),
        ('{"k\\u0031": 1, "k1": 2}', ["k1"]),  # an escape spells the same key
        # Document order: the nested duplicate comes before the top-level one.
        ('{"a": {"x": 1, "x": 2}, "a": 3}', ["a", "x"]),
        ('{"a": 1, "a": 2, "b": {"c": 1, "c": 2}}', ["a"]),
        ("not json", None),  # BentoML's parser says why
        ("", None),
        ("[" * 100_000, None),  # too deep for the parser: not this check's business
    ],
)
def test_duplicate_key_gives_the_path_of_the_first_repeat(
    body: str, path: list[str] | None
) -> None:
    assert duplicate_key(body) == path
    assert duplicate_key(body.encode("utf-8")) == path


def test_media_types() -> None:
    assert media_type("Application/JSON; charset=utf-8") == "application/json"
    assert media_type(None) is None


def _problem(loc: list[Any], kind: str) -> dict[str, Any]:
    return {"loc": loc, "type": kind, "msg": kind}


def test_distinct_problems_drop_union_noise_only() -> None:
    union = [
        _problem(["importer_id", "constrained-str"], "string_too_short"),
        _problem(["importer_id", "int"], "int_type"),
    ]
    assert distinct_problems(union, _KNOWN_FIELDS) == union[:1]
    both_types = [
        _problem(["hs_code", "constrained-str"], "string_type"),
        _problem(["hs_code", "int"], "int_type"),
    ]
    assert distinct_problems(both_types, _KNOWN_FIELDS) == both_types  # nothing explains them
    fields = [
        _problem(["declarations", 0, "quantity"], "greater_than_equal"),
        _problem(["declarations", 0, "declared_value"], "float_type"),
        _problem(["colour"], "extra_forbidden"),
    ]
    assert distinct_problems(fields, _KNOWN_FIELDS) == fields


def _call(body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[list[dict[str, Any]], bytes]:
    """Run the middleware on one request (sent in two chunks); the answer and what the app read."""
    seen: list[bytes] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        seen.append(message["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    chunks = [body[:5], body[5:]]

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/score", "headers": headers}
    asyncio.run(StrictBodyMiddleware(app)(scope, receive, send))
    return sent, b"".join(seen)


def test_the_middleware_hands_the_whole_body_on_or_refuses_it() -> None:
    body = json.dumps({"declaration_id": "D1", "declared_value": 10}).encode()
    sent, seen = _call(body, [(b"content-type", b"application/json")])
    assert sent[0]["status"] == 200 and seen == body
    sent, seen = _call(body[:-1] + b', "declared_value": 9}', [])
    assert sent[0]["status"] == 400 and seen == b""
    answer = json.loads(sent[1]["body"])
    assert answer["field"] == "declared_value" and "duplicate key" in answer["error"]
    sent, seen = _call(body, [(b"content-type", b"application/x-www-form-urlencoded")])
    assert sent[0]["status"] == 415 and seen == b""
