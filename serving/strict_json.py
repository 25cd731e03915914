"""Strict JSON at the boundary: one media type, no duplicate keys, refusals that name the field.

JSON allows an object to name a key twice, and parsers disagree on what it means: Python
and pydantic keep the last value, others the first or refuse. A declaration with
``"declared_value": 9000000, ..., "declared_value": 9`` reads differently to the
front-line system that built it, a proxy or log that inspected it, and the scorer; so the
API refuses it (400 naming the key and its path) before BentoML reads the body.

:class:`StrictBodyMiddleware` buffers the body of a ``POST`` to an API route (the token
check and the size cap ran first, so at most ``PORTSIFT_MAX_BODY_BYTES`` of an
authenticated caller), checks it with :func:`duplicate_key` and hands it on unchanged.
The check parses the body once more with the standard library's C parser; measured on a
typical 1 KB declaration it adds about 10 µs a request (``docs/api.md``).

BentoML also reads ``multipart/form-data`` and form-encoded bodies into the same models;
their fields could repeat too, and the API documents JSON alone, so any other
``Content-Type`` than ``application/json`` gets 415.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

#: The media type every API route takes.
JSON_MEDIA_TYPE: Final[str] = "application/json"
#: The API's routes, whose bodies are checked.
API_ROUTES: Final[frozenset[str]] = frozenset({"/score", "/score_batch", "/feedback"})


class _DuplicateKeyError(Exception):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> None:
    # Called by the C parser for every object; a dict of the pairs is built in C as well.
    if len(dict(pairs)) != len(pairs):
        raise _DuplicateKeyError


def duplicate_key(body: bytes | str) -> list[str] | None:
    """The path of the first key an object of ``body`` names twice, in document order.

    Args:
        body: A JSON text.

    Returns:
        The path, object keys and list positions as text (``["declarations", "1",
        "importer_id"]``); ``None`` when no key repeats or the body is not JSON at all
        (BentoML's parser then says why).
    """
    try:
        json.loads(body, object_pairs_hook=_unique_pairs)
    except _DuplicateKeyError:
        pass
    except (ValueError, RecursionError):
        return None
    else:
        return None
    # Rare: the body is refused. Parse it again keeping every pair, to say where.
    tree = json.loads(body, object_pairs_hook=_Pairs)
    return _first_duplicate(tree, [])


class _Pairs(list):  # type: ignore[type-arg]
    """An object's pairs, in order, duplicates kept."""


def _first_duplicate(value: Any, path: list[str]) -> list[str] | None:
    children: Iterable[tuple[str, Any]]
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, child in value:
            if key in seen:
                return [*path, key]
            seen.add(key)
            found = _first_duplicate(child, [*path, key])
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        children = ((str(i), child) for i, child in enumerate(value))
        for key, child in children:
            found = _first_duplicate(child, [*path, key])
            if found is not None:
                return found
    return None


def media_type(content_type: str | None) -> str | None:
    """``application/json`` of ``application/json; charset=utf-8``, lower-cased."""
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower()


def _reply(status: int, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    payload = json.dumps(body).encode("utf-8")
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", JSON_MEDIA_TYPE.encode()),
            (b"content-length", str(len(payload)).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": payload}


class StrictBodyMiddleware:
    """ASGI middleware: a ``POST`` to an API route is JSON without duplicate keys.

    Placed inside the token and size checks, so that only an authenticated body within the
    size cap is buffered; the size cap still counts the bytes read here.
    """

    def __init__(self, app: Any, routes: frozenset[str] = API_ROUTES) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Refuse another media type (415) or a repeated key (400); else pass the body on."""
        checked = scope["type"] == "http" and scope.get("method") == "POST"
        if not checked or scope["path"] not in self.routes:
            await self.app(scope, receive, send)
            return
        content_type = None
        for key, value in scope["headers"]:
            if key.lower() == b"content-type":
                content_type = value.decode("latin-1")
        kind = media_type(content_type)
        if kind is not None and kind != JSON_MEDIA_TYPE:
            message = f"field 'content-type': {kind!r} is not accepted; send {JSON_MEDIA_TYPE}"
            await _send(send, *_reply(415, {"error": message, "field": "content-type"}))
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client is gone: nobody to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        path = duplicate_key(body)
        if path is not None:
            await _send(send, *_reply(400, duplicate_key_error(path)))
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: the disconnect, when it comes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _send(send: Any, *messages: dict[str, Any]) -> None:
    for message in messages:
        await send(message)


def duplicate_key_error(path: Sequence[str]) -> dict[str, Any]:
    """The 400 body for a key named twice at ``path`` (the shape of ``ErrorBody``)."""
    where = ".".join(path)
    return {
        "error": f"field '{where}': duplicate key: the object names {path[-1]!r} more than "
        "once (send each field once)",
        "field": path[-1],
        "records": None,
    }


def distinct_problems(
    problems: Sequence[dict[str, Any]], fields: frozenset[str]
) -> list[dict[str, Any]]:
    """The problems of a 400 without the type errors of union members another one explains.

    A ``str | int`` identifier sent as a string with a refused character fails the string
    member (the reason) and the integer member (noise: "Input should be a valid integer").
    Such problems end their ``loc`` in the member's tag (``int``, ``constrained-str``);
    among the problems of one field, type errors go when another problem is left.

    Args:
        problems: The ``detail`` items of BentoML's 400, each with ``loc`` and ``type``.
        fields: The request models' field names (a ``loc`` part that is neither one of
            them nor a list position is a union tag).

    Returns:
        The problems to name in the message, in their order.
    """

    def member_of(problem: dict[str, Any]) -> tuple[str, ...] | None:
        loc = [str(part) for part in problem.get("loc", [])]
        if len(loc) < 2 or problem.get("type") == "extra_forbidden":
            return None
        if loc[-1] in fields or loc[-1].isdigit():
            return None
        return tuple(loc[:-1])

    def is_type_error(problem: dict[str, Any]) -> bool:
        return str(problem.get("type", "")).endswith("_type")

    explained = {
        member_of(p) for p in problems if member_of(p) is not None and not is_type_error(p)
    }
    return [
        p
        for p in problems
        if not (is_type_error(p) and member_of(p) is not None and member_of(p) in explained)
    ]
