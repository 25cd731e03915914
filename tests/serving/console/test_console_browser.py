"""The console in a real headless Chromium against a running ``portsift serve``.

The server decides real declarations through ``/score_batch`` (the trained bundle of the
test session) into its SQLite audit store; then the browser signs in, reads the queue
in deadline order, opens a declaration, records an outcome and sees it gone from the
queue, and the audit store holds it with the officer's id; the same again in English.
Each page's screenshot is checked to be non-blank with Chinese drawn as distinct glyphs
(tofu boxes would all look alike). Also against the running server: a bearer token does
not open ``/console``, and a console session does not open ``/score``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image, ImageChops, ImageStat

from portsift.reports.render import RenderError, find_chromium
from portsift.serving.console.officers import OFFICERS_ENV
from portsift.serving.console.sessions import SECRET_ENV, SESSION_COOKIE
from portsift.store.audit import AuditStore
from tests.conftest import DataFiles
from tests.serving.conftest import TOKEN, Server, declaration_records, start_server
from tests.serving.console.browser import Page, chromium
from tests.serving.console.conftest import (
    OFFICER_ID,
    OFFICER_PASSWORD,
    SECRET,
    SUPERVISOR_ID,
    SUPERVISOR_PASSWORD,
    officers_toml,
)

#: Declarations decided through the API for the queue.
DECLARATIONS = 120
#: A directory to copy the checked screenshots to (the README's come from here).
SCREENSHOTS_ENV = "PORTSIFT_CONSOLE_SCREENSHOTS"


@dataclass
class Running:
    """The server, the decisions it answered, and a place for screenshots."""

    server: Server
    decisions: list[dict[str, Any]]
    shots: Path

    @property
    def console(self) -> str:
        return f"{self.server.url}/console"

    def store(self) -> AuditStore:
        return AuditStore.from_url(self.server.audit_url)


@pytest.fixture(scope="module")
def browser() -> str:
    try:
        return find_chromium()
    except RenderError as exc:
        message = f"headless Chromium is not available ({exc}); `make install` installs it"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{message} - required on CI", pytrace=False)
        pytest.skip(message)
        raise


@pytest.fixture(scope="module")
def running(
    trained_model_dir: Path, data_files: DataFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp("console-serve")
    officers = directory / "officers.toml"
    officers.write_text(officers_toml(), encoding="utf-8")
    server = start_server(
        trained_model_dir,
        directory,
        env={OFFICERS_ENV: str(officers), SECRET_ENV: SECRET},
    )
    try:
        records = declaration_records(data_files.declarations, DECLARATIONS, data_files.lab_results)
        answer = server.post("/score_batch", {"declarations": records}, timeout=300)
        assert answer.status_code == 200, answer.text
        decisions = answer.json()
        assert sum(d["selected"] for d in decisions) >= 4, "too few selections to test a queue"
        shots = tmp_path_factory.mktemp("console-shots")
        yield Running(server, decisions, shots)
        keep = os.environ.get(SCREENSHOTS_ENV)
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            for png in shots.glob("*.png"):
                shutil.copy2(png, Path(keep) / f"console-{png.name}")
    finally:
        server.stop()


def _expected_order(decisions: list[dict[str, Any]]) -> list[str]:
    """The queue order the issue asks for, computed here from the API's answers.

    All were decided in one batch (one ``recorded_at``), so the deadlines order by their
    length: green channel first by hours to the inspection limit, then the sampling
    lanes by days to the sampling deadline, then the rest by priority and risk.
    """

    def key(d: dict[str, Any]) -> tuple[float, ...]:
        if d["green_channel"] and d["inspection_deadline_hours"] is not None:
            group, deadline = 0, d["inspection_deadline_hours"] * 3600
        elif d["sampling_deadline_days"] is not None:
            group, deadline = 1, d["sampling_deadline_days"] * 86400
        else:
            group, deadline = 2, 0.0
        return (group, deadline, -d["priority_lane"], -d["risk_score"])

    selected = [d for d in decisions if d["selected"]]
    # Python's sort is stable: equal keys keep the batch's order, which is the row id order.
    return [d["declaration_id"] for d in sorted(selected, key=key)]


def _queue_ids(page: Page) -> list[str]:
    ids: list[str] = page.evaluate(
        "[...document.querySelectorAll('#queue tbody tr')].map(r => r.dataset.declaration)"
    )
    return ids


def _assert_not_blank(png: Path) -> Image.Image:
    """The screenshot is not one colour and has dark (text) pixels; returns it in grey."""
    image = Image.open(png).convert("L")
    assert ImageStat.Stat(image).stddev[0] > 15, f"{png.name} is (nearly) one colour"
    assert (np.asarray(image) < 128).mean() > 0.002, f"{png.name} has almost no dark pixels"
    return image


def _assert_not_blank_with_cjk(page: Page, png: Path, selector: str) -> None:
    """The screenshot has content, and the Chinese of ``selector`` is drawn as glyphs."""
    image = _assert_not_blank(png)
    boxes = [b for b in page.character_boxes(selector) if ord(b["c"]) > 0x2E80]
    assert len(boxes) >= 3, f"{selector} has no Chinese to check: {boxes}"
    # One cell size for all (the boxes differ by fractions of a pixel).
    width, height = int(min(b["w"] for b in boxes)), int(min(b["h"] for b in boxes))
    cells = [
        image.crop((round(b["x"]), round(b["y"]), round(b["x"]) + width, round(b["y"]) + height))
        for b in boxes
    ]
    for cell, box in zip(cells, boxes, strict=True):
        assert (np.asarray(cell) < 128).mean() > 0.03, f"{box['c']} of {png.name} has no ink"
    # Tofu boxes all look alike; real glyphs of different characters do not.
    pairs = [(a, b) for a in range(len(cells)) for b in range(a + 1, len(cells))]
    compared = 0
    for a, b in pairs:
        if boxes[a]["c"] != boxes[b]["c"]:
            difference = ImageStat.Stat(ImageChops.difference(cells[a], cells[b])).mean[0]
            assert difference > 5, f"{boxes[a]['c']} and {boxes[b]['c']} look alike (tofu?)"
            compared += 1
    assert compared >= 3, f"too few glyph pairs of {selector} to compare"


def _sign_in(page: Page, base: str, officer_id: str, password: str) -> None:
    page.goto(f"{base}/queue")
    page.loaded("/console/login")  # no session: the sign-in page
    page.type("#officer_id", officer_id)
    page.type("#password", password)
    page.click("#sign-in")
    page.loaded("/console/queue")


def _record_first(page: Page, running: Running, *, english: bool) -> str:
    """Open the first declaration of the queue, record a violation, return its id."""
    first = _queue_ids(page)[0]
    page.click(f'tr[data-declaration="{first}"] a')
    page.loaded(f"/console/declaration/{first}")
    assert page.evaluate("document.querySelector('#waterfall svg') !== null")
    assert page.text("#lane")  # the decision panel
    png = page.screenshot(running.shots / f"declaration-{'en' if english else 'zh'}.png")
    # The service decided in English (no lang asked): its reasons as they are on the
    # English page; on the Chinese page written again in Chinese, the recorded text noted.
    reasons: list[str] = page.evaluate(
        "[...document.querySelectorAll('#reasons ol.reasons li')].map(li => li.textContent)"
    )
    assert reasons, "no reasons in words"
    noted = page.evaluate("document.querySelector('#recorded-reasons') !== null")
    if english:
        _assert_not_blank(png)
        assert page.text("#outcome h2").endswith("Inspection outcome")
        assert not noted
    else:
        _assert_not_blank_with_cjk(page, png, "#title")
        assert all(re.search(r"[\u4e00-\u9fff]", reason) for reason in reasons), reasons
        assert not any("raises the risk" in reason for reason in reasons), reasons
        assert noted and "英文原文" in page.text("#recorded-reasons")
    page.click("#violation-yes")
    page.evaluate("document.querySelector('#kind').value = 'undervaluation'")
    page.type("#revenue", "1200")
    page.type("#note", "browser test" if english else "浏览器测试")
    page.click("#record")
    page.loaded("/console/queue")
    assert page.text("#recorded"), "no notice that the outcome is recorded"
    return first


def test_sign_in_queue_declaration_outcome_in_a_real_browser(
    running: Running, browser: str, tmp_path: Path
) -> None:
    expected = _expected_order(running.decisions)
    with chromium(browser, tmp_path / "profile") as page:
        page.goto(f"{running.console}/login")
        page.loaded("/console/login")
        login_png = page.screenshot(running.shots / "login.png")
        _assert_not_blank_with_cjk(page, login_png, "#title")

        _sign_in(page, running.console, OFFICER_ID, OFFICER_PASSWORD)
        assert _queue_ids(page) == expected
        queue_png = page.screenshot(running.shots / "queue-zh.png")
        _assert_not_blank_with_cjk(page, queue_png, "#title")
        # The counts by lane (lane names have no digits) add up to the queue.
        assert sum(int(n) for n in re.findall(r"\d+", page.text("#counts"))) == len(expected)

        chosen = _record_first(page, running, english=False)
        assert chosen not in _queue_ids(page)
        assert _queue_ids(page) == [i for i in expected if i != chosen]

        # The same in English.
        page.click("#switch-language")
        page.loaded("/console/queue")
        assert page.evaluate("document.documentElement.lang") == "en"
        assert page.text("#title") == "Inspection queue"
        _assert_not_blank(page.screenshot(running.shots / "queue-en.png"))
        second = _record_first(page, running, english=True)
        assert "is recorded" in page.text("#recorded")
        assert _queue_ids(page) == [i for i in expected if i not in (chosen, second)]

    store = running.store()
    try:
        for declaration_id, note in ((chosen, "浏览器测试"), (second, "browser test")):
            [row] = store.outcomes_of(declaration_id)
            assert row["officer_id"] == OFFICER_ID
            assert (row["inspected"], row["illicit"], row["revenue"]) == (True, True, 1200.0)
            assert row["violation_kind"] == "undervaluation" and row["note"] == note
        assert store.verify().ok
    finally:
        store.close()


def test_the_supervisor_view_in_a_real_browser(
    running: Running, browser: str, tmp_path: Path
) -> None:
    with chromium(browser, tmp_path / "profile") as page:
        _sign_in(page, running.console, SUPERVISOR_ID, SUPERVISOR_PASSWORD)
        page.click("#nav-supervisor")
        page.loaded("/console/supervisor")
        png = page.screenshot(running.shots / "supervisor.png")
        _assert_not_blank_with_cjk(page, png, "#title")
        assert page.text("#n-declarations") == str(len(running.decisions))
        assert page.text("#n-selected") == str(sum(d["selected"] for d in running.decisions))


def test_a_bearer_token_does_not_open_the_console(running: Running) -> None:
    answer = httpx.get(
        f"{running.console}/queue",
        headers={"Authorization": f"Bearer {TOKEN}"},
        follow_redirects=False,
        timeout=60,
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login")


def test_a_console_session_does_not_open_the_api(running: Running) -> None:
    with httpx.Client(base_url=running.server.url, timeout=60) as client:
        form = client.get("/console/login").text
        token = re.search(r'name="csrf" value="([0-9a-f]{64})"', form)
        assert token is not None
        signed_in = client.post(
            "/console/login",
            data={"officer_id": OFFICER_ID, "password": OFFICER_PASSWORD, "csrf": token[1]},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        assert client.cookies.get(SESSION_COOKIE)
        assert client.get("/console/queue").status_code == 200
        record = running.decisions[0]
        for path, body in (
            ("/score", {"declaration_id": record["declaration_id"]}),
            ("/feedback", {"declaration_id": record["declaration_id"], "inspected": 0}),
        ):
            refused = client.post(path, json=body)
            assert refused.status_code == 401, (path, refused.text)
            assert refused.json()["error"] == "missing or invalid bearer token"
