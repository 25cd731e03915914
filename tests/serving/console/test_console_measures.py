"""Haikou Customs' 2024 measures 22, 12, 8 and 14 in the console, in zh and en.

The declaration page shows the officer report's blocks of the measures that apply to a
decision on record (reports/measures.py, one template for both); the queue counts the
remote video inspections (lane ``red_remote``) apart from the other lanes.
"""

from __future__ import annotations

import re

from tests.serving.console.conftest import Console, record

#: A decision to which all four measures apply, as the API answers it with both registers.
MEASURED = {
    "lane": "red_remote",
    "release_condition": "conditional_early_release",
    "disclosure_id": "VD-0042",
    "disclosed_at": "2026-11-30",
    "disclosure_minor": 1,
    "ruling_ids": "AR-7;AR-9",
    "ruling_kinds": "classification;origin",
    "ruling_valid_to": "2027-01-20;2027-06-30",
    "ruling_expiring": 1,
    "inspection_deadline_hours": 8.0,
}


def _blocks(html: str) -> dict[str, str]:
    """The measure blocks of a page: measure number -> its HTML."""
    pattern = r'<div class="measure( warning)?" data-measure="(\d+)">(.*?)</div>'
    found = re.findall(pattern, html, re.S)
    return {number: ("warning " if warned else "") + body for warned, number, body in found}


def test_the_declaration_page_shows_each_measure_that_applies(console: Console) -> None:
    record(console.store, "M-ALL", **MEASURED)
    record(console.store, "M-NONE")
    console.sign_in()
    blocks = _blocks(console.client.get("/declaration/M-ALL").text)
    assert set(blocks) == {"22", "12", "8", "14"}
    assert "VD-0042" in blocks["22"] and "2026-11-30" in blocks["22"]
    assert "AR-7" in blocks["12"] and "2027-01-20" in blocks["12"] and "AR-9" in blocks["12"]
    # The decision said a ruling nears its end: the block is marked and says so.
    assert blocks["12"].startswith("warning ") and "申请延期" in blocks["12"]
    assert "远程视频" in blocks["8"] and "8" in blocks["8"]
    assert "附条件先行提离" in blocks["14"]
    assert _blocks(console.client.get("/declaration/M-NONE").text) == {}


def test_the_measures_in_english(console: Console) -> None:
    record(console.store, "M-ALL", **MEASURED)
    console.sign_in()
    blocks = _blocks(console.client.get("/declaration/M-ALL?lang=en").text)
    assert "measure 22" in blocks["22"] and "VD-0042" in blocks["22"]
    assert "extension" in blocks["12"]
    assert "remote video inspection" in blocks["8"]
    assert "Conditional early release" in blocks["14"]


def test_the_queue_counts_remote_video_inspections_apart(any_console: Console) -> None:
    record(any_console.store, "Q-remote", lane="red_remote")
    record(any_console.store, "Q-red", lane="red")
    any_console.sign_in()
    page = any_console.client.get("/queue").text
    counts = dict(re.findall(r'<span data-lane="([a-z_]+)">.*?</span> (\d+)</span>', page))
    assert counts["red_remote"] == "1" and counts["red"] == "1"
    only = any_console.client.get("/queue?lane=red_remote").text
    assert re.findall(r'<tr data-declaration="([^"]+)">', only) == ["Q-remote"]
