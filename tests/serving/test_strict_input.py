"""Strict input at the boundary, against a real ``portsift serve`` (``docs/api.md``).

Each refusal is a 4xx whose JSON body names the field in ``error`` and in ``field``:
duplicate keys at any depth, control / bidirectional / invisible characters in
identifiers and codes, numbers sent as strings or booleans, values beyond
``[input_bounds]``, two ``Authorization`` headers, another media type than JSON. A
declaration without a broker is decided, and its reasons say so.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from portsift.settings import load_settings
from tests.serving.conftest import TOKEN, Server, declaration_records


@pytest.fixture(scope="module")
def records(data_files: Any) -> list[dict[str, Any]]:
    """Declarations of the shared data set as JSON objects (two with a lab report)."""
    return declaration_records(data_files.declarations, 12, data_files.lab_results)


def _refused(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["field"] == field, body
    assert field in body["error"], body
    return body


def _raw(server: Server, path: str, text: str) -> httpx.Response:
    return server.post(path, content=text.encode("utf-8"))


# ------------------------------------------------------------------ duplicate keys


def test_a_key_named_twice_is_refused_naming_it_and_its_path(
    server: Server, records: list[dict[str, Any]]
) -> None:
    body = json.dumps(records[0])
    # Last one wins in Python: 9 would be scored, the sender's system may have shown 9000000.
    twice = body[:-1] + ', "declared_value": 9}'
    answer = _refused(_raw(server, "/score", twice), 400, "declared_value")
    assert "duplicate key" in answer["error"] and "'declared_value'" in answer["error"]
    # The same key spelt with an escape is the same key.
    escaped = body[:-1] + ', "importer\\u005fid": "IMP-OTHER"}'
    _refused(_raw(server, "/score", escaped), 400, "importer_id")
    # Nested: the second declaration of a batch; the path says which.
    batch = json.dumps({"declarations": records[:3]})
    second = json.dumps(records[1])
    nested = batch.replace(second, second[:-1] + ', "hs_code": "61091000"}')
    answer = _refused(_raw(server, "/score_batch", nested), 400, "hs_code")
    assert "field 'declarations.1.hs_code'" in answer["error"]
    top = '{"declarations": ' + json.dumps(records[:1]) + ', "declarations": []}'
    _refused(_raw(server, "/score_batch", top), 400, "declarations")
    feedback = '{"declaration_id": "FB-DUP", "inspected": 0, "inspected": 1}'
    _refused(_raw(server, "/feedback", feedback), 400, "inspected")
    # Once each, the same declaration is decided.
    assert server.post("/score", records[0]).status_code == 200


# -------------------------------------------------------------- characters


#: Fields of kind id, code or text (every one a key or a code): one refused character each.
_CHARACTER_CASES = [
    ("declaration_id", "\x00"),
    ("importer_id", "\u202e"),
    ("importer_id", "\u200b"),
    ("declarant_id", "\u2066"),
    ("declarant_id", "\x1b"),
    ("hs_code", "\u200f"),
    ("origin_country", "\u061c"),
    ("departure_country", "\u200e"),
    ("customs_office", "\n"),
    ("trade_mode", "\x85"),
    ("transport_mode", "\ufeff"),
    ("lab_id", "\u202a"),
    ("declared_at", "\u2069"),
]


@pytest.mark.parametrize(("field", "char"), _CHARACTER_CASES)
def test_control_bidi_and_invisible_characters_are_refused_naming_the_field(
    server: Server, records: list[dict[str, Any]], field: str, char: str
) -> None:
    record = next(r for r in records if "lab_id" in r)
    value = str(record.get(field) or "X1")
    bad = {**record, field: value[:2] + char + value[2:]}
    answer = _refused(server.post("/score", bad), 400, field)
    assert f"U+{ord(char):04X}" in answer["error"]
    assert char not in answer["error"]  # named, never echoed
    batch = server.post("/score_batch", {"declarations": [records[0], bad]})
    answer = _refused(batch, 400, field)
    assert f"declarations.1.{field}" in answer["error"]


def test_feedback_declaration_id_takes_no_such_characters(server: Server) -> None:
    bad = {"declaration_id": "FB\u202e-1", "inspected": 1, "illicit": 0}
    _refused(server.post("/feedback", bad), 400, "declaration_id")


def test_letters_of_any_script_are_accepted(server: Server, records: list[dict[str, Any]]) -> None:
    record = {**records[0], "importer_id": "进口企业\u00a0Ünal-شركة", "declaration_id": "D-漢字-1"}
    response = server.post("/score", record)
    assert response.status_code == 200, response.text
    assert response.json()["declaration_id"] == "D-漢字-1"


# ------------------------------------------------------------------ strict types


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"declared_value": "1200"}, "declared_value"),
        ({"declared_value": True}, "declared_value"),
        ({"quantity": "40"}, "quantity"),
        ({"gross_weight": False}, "gross_weight"),
        ({"tax_rate": "13%"}, "tax_rate"),
        ({"lab_accredited": True, "lab_id": "L1"}, "lab_accredited"),
        ({"lab_accredited": "1", "lab_id": "L1"}, "lab_accredited"),
        ({"importer_id": True}, "importer_id"),
        ({"hs_code": 6109.10}, "hs_code"),
    ],
)
def test_numbers_as_strings_and_booleans_as_numbers_are_refused(
    server: Server, records: list[dict[str, Any]], change: dict[str, Any], field: str
) -> None:
    _refused(server.post("/score", {**records[0], **change}), 400, field)


def test_integers_are_numbers_and_identifiers_may_be_integers(
    server: Server, records: list[dict[str, Any]]
) -> None:
    record = {
        **records[0],
        "declared_value": 1200,
        "quantity": 40,
        "importer_id": 4711,
        "hs_code": 85171300,
        "declaration_id": 987654,
    }
    response = server.post("/score", record)
    assert response.status_code == 200, response.text
    assert response.json()["declaration_id"] == "987654"


def test_feedback_numbers_and_flags_are_strict(
    server: Server, records: list[dict[str, Any]]
) -> None:
    decided = server.post("/score", {**records[0], "declaration_id": "FB-S1"})
    assert decided.status_code == 200, decided.text
    for bad, field in (
        ({"declaration_id": "FB-S1", "inspected": True}, "inspected"),
        ({"declaration_id": "FB-S1", "inspected": 1, "illicit": False}, "illicit"),
        ({"declaration_id": "FB-S1", "inspected": 1, "illicit": 1, "revenue": "10"}, "revenue"),
    ):
        _refused(server.post("/feedback", bad), 400, field)
    ok = {"declaration_id": "FB-S1", "inspected": 1, "illicit": 1, "revenue": 10}
    assert server.post("/feedback", ok).status_code == 200


# -------------------------------------------------------------------- bounds


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("declared_value", 1e300),
        ("declared_value", 2e14),
        ("fob_value", 1e15),
        ("quantity", 5e12),
        ("gross_weight", 4e10),
        ("net_weight", 4e10),
        ("total_taxes", 1e15),
        ("tax_rate", 5000),
    ],
)
def test_values_beyond_the_bounds_are_refused(
    server: Server, records: list[dict[str, Any]], field: str, value: float
) -> None:
    answer = _refused(server.post("/score", {**records[0], field: value}), 400, field)
    bound = load_settings().input_bounds.as_mapping()[field]
    assert "less than or equal to" in answer["error"] and f"{bound:.0f}" in answer["error"]


def test_values_at_the_bounds_are_decided(server: Server, records: list[dict[str, Any]]) -> None:
    bounds = load_settings().input_bounds.as_mapping()
    record = {**records[0], **{k: v for k, v in bounds.items() if k != "revenue"}}
    for label in ("inspected", "illicit", "revenue"):
        record.pop(label, None)
    response = server.post("/score", record)
    assert response.status_code == 200, response.text
    too_much = {"declaration_id": "FB-B1", "inspected": 1, "illicit": 1, "revenue": 1e15}
    _refused(server.post("/feedback", too_much), 400, "revenue")


# ------------------------------------------------------------ headers and media


def test_two_authorization_headers_are_refused(
    server: Server, records: list[dict[str, Any]]
) -> None:
    body = json.dumps(records[0]).encode()
    for second in (TOKEN, "wrong-token-0123456789"):
        headers = [
            ("Content-Type", "application/json"),
            ("Authorization", f"Bearer {TOKEN}"),
            ("Authorization", f"Bearer {second}"),
        ]
        response = httpx.post(server.url + "/score", content=body, headers=headers, timeout=60)
        _refused(response, 400, "authorization")
        assert response.headers["x-request-id"]


def test_only_json_bodies_are_read(server: Server, records: list[dict[str, Any]]) -> None:
    form = {k: str(v) for k, v in records[0].items()}
    response = httpx.post(
        server.url + "/score",
        data=form,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    _refused(response, 415, "content-type")
    charset = server.post(
        "/score", records[0], headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert charset.status_code == 200, charset.text


# --------------------------------------------------------- missing parties


def test_a_declaration_without_a_broker_says_so_in_both_languages(
    server: Server, data_files: Any
) -> None:
    batch = declaration_records(data_files.declarations, 60, data_files.lab_results)
    for record in batch:
        record.pop("declarant_id", None)
    said = {}
    for lang, note in (("en", "broker not given"), ("zh", "未填报报关企业")):
        # Ids of their own per language: a declaration sent again is answered as on record.
        ours = [{**r, "declaration_id": f"{lang}-{r['declaration_id']}"} for r in batch]
        response = server.post("/score_batch", {"declarations": ours, "lang": lang})
        assert response.status_code == 200, response.text
        texts = [d["reasons"] for d in response.json()]
        assert not any("nan" in text.lower() for text in texts)
        said[lang] = sum(note in text for text in texts)
    # The broker's statistics are among the top reasons of some of them: said, not "nan".
    assert said["en"] > 0 and said["en"] == said["zh"]
