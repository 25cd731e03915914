"""Officer reports, rendered and checked in a real headless Chromium.

The browser tests need Debian's ``chromium``, ``poppler-utils`` (pdftoppm) and the CJK
font, all installed by ``make install``. Without them the tests fail when ``CI`` is set
and are skipped, with the reason, otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageChops, ImageStat

from portsift.cli import main
from portsift.features import loading
from portsift.features.pipeline import Registers
from portsift.models.bundle import Bundle, load_bundle
from portsift.reports import i18n, page
from portsift.reports.charts import WaterfallStep, histogram_svg, nice_ticks, waterfall_svg
from portsift.reports.officer import build_report
from portsift.reports.render import (
    HUNG_ATTEMPTS,
    RenderError,
    find_chromium,
    html_to_pdf,
    screenshot,
)
from tests.conftest import DataFiles

Loaded = tuple[Bundle, pd.DataFrame, Registers]
DECLARATION_IDS = ("decision", "reasons", "waterfall", "history", "lab", "versions")
BATCH_IDS = ("overview", "lanes", "tier-rates", "distribution", "top-reasons", "selected")


def _missing(what: str) -> None:
    message = f"{what}; `make install` installs it (as root)"
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{message} - required on CI", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> str:
    try:
        return find_chromium()
    except RenderError as exc:
        _missing(f"headless Chromium is not available ({exc})")
        raise


@pytest.fixture(scope="module")
def pdftoppm() -> str:
    found = shutil.which("pdftoppm")
    if found is None:
        _missing("pdftoppm (Debian poppler-utils) is not installed")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def target(
    trained_model_dir: Path, data_files: DataFiles, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A selected declaration, preferably with a lab report and an inspected history."""
    scores_path = tmp_path_factory.mktemp("scores") / "scores.csv"
    assert (
        main(
            [
                "score",
                "--model-dir",
                str(trained_model_dir),
                "--declarations",
                str(data_files.declarations),
                *data_files.register_args(),
                "--out",
                str(scores_path),
                "--quiet",
            ]
        )
        == 0
    )
    scores = pd.read_csv(scores_path, dtype={"declaration_id": str})
    declarations = pd.read_csv(
        data_files.declarations, dtype={"declaration_id": str}, parse_dates=["declared_at"]
    )
    labs = set(pd.read_csv(data_files.lab_results, dtype={"declaration_id": str})["declaration_id"])
    frame = declarations.merge(scores[["declaration_id", "selected"]], on="declaration_id")
    inspected = frame[frame["inspected"] == 1]
    first_inspection = inspected.groupby("importer_id")["declared_at"].min()
    has_history = frame["declared_at"] > frame["importer_id"].map(first_inspection)
    chosen = frame[(frame["selected"] == 1) & has_history & frame["declaration_id"].isin(labs)]
    if chosen.empty:
        chosen = frame[frame["selected"] == 1]
    row = chosen.iloc[len(chosen) // 2]
    busiest = declarations["declared_at"].dt.normalize().value_counts().idxmax()
    return {"id": str(row["declaration_id"]), "date": str(busiest.date())}


def _report(
    model_dir: Path, data_files: DataFiles, out: Path, *extra: str, lang: str = "zh"
) -> int:
    return main(
        [
            "report",
            "--model-dir",
            str(model_dir),
            "--declarations",
            str(data_files.declarations),
            *data_files.register_args(),
            "--lang",
            lang,
            "--out",
            str(out),
            "--quiet",
            *extra,
        ]
    )


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value:
                self.ids[value] = tag


def _ids(html: str) -> dict[str, str]:
    parser = _Ids()
    parser.feed(html)
    return parser.ids


def _assert_not_blank(png: Path, *, min_ink: float = 0.01) -> None:
    image = Image.open(png).convert("L")
    stats = ImageStat.Stat(image)
    assert stats.stddev[0] > 15, f"{png.name} is (nearly) one colour: stddev {stats.stddev[0]:.1f}"
    pixels = np.asarray(image)
    ink = float((pixels < 128).mean())
    assert ink > min_ink, f"{png.name} has almost no dark pixels ({ink:.2%})"


def _assert_pages_not_blank(pages: list[Path]) -> None:
    """The first page is well filled; every page has content above its footer line.

    The page footer (agency and page number) is drawn in the bottom margin of every
    page, so the ink is counted above it: a page with nothing but the footer fails.
    """
    assert pages, "the PDF has no pages"
    _assert_not_blank(pages[0])
    for png in pages:
        image = Image.open(png).convert("L")
        body = np.asarray(image)[: int(image.height * 0.93)]
        assert (body < 128).mean() > 2e-4, f"{png.name} is blank above its footer"


def _no_leftovers(directory: Path) -> None:
    assert not [p.name for p in directory.iterdir() if p.name.startswith(".")], "temp files left"


# -- the declaration report in the browser -----------------------------------------------


@pytest.mark.parametrize(
    ("lang", "title"), [("zh", "查验决定说明报告"), ("en", "Inspection decision report")]
)
def test_declaration_html_renders_in_chromium(
    browser: str,
    trained_model_dir: Path,
    data_files: DataFiles,
    target: dict[str, str],
    tmp_path: Path,
    lang: str,
    title: str,
) -> None:
    out = tmp_path / f"report-{lang}.html"
    assert _report(trained_model_dir, data_files, out, "--id", target["id"], lang=lang) == 0
    html = out.read_text("utf-8")
    ids = _ids(html)
    for element in (*DECLARATION_IDS, "contributions", "summary", "lane", "title"):
        assert element in ids, f"no element with id={element!r}"
    assert title in html and target["id"] in html
    assert re.search(r'<section id="waterfall"[^>]*>.*?<svg', html, re.S), "no inline SVG waterfall"
    assert i18n.FONT_STACK.split(",")[0] in html, "the CSS does not name the CJK font"
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    png = tmp_path / f"report-{lang}.png"
    screenshot(out, png, width=1200, height=2000, browser=browser)
    assert Image.open(png).size == (1200, 2000)
    _assert_not_blank(png)
    _no_leftovers(tmp_path)


def test_declaration_pdf_pages_render(
    browser: str,
    pdftoppm: str,
    trained_model_dir: Path,
    data_files: DataFiles,
    target: dict[str, str],
    tmp_path: Path,
) -> None:
    out = tmp_path / "report.pdf"
    assert _report(trained_model_dir, data_files, out, "--id", target["id"]) == 0
    assert out.read_bytes()[:5] == b"%PDF-"
    _no_leftovers(tmp_path)
    pages = _pdf_pages(pdftoppm, out, tmp_path / "pages")
    assert 1 <= len(pages) <= 4, f"{len(pages)} pages"
    _assert_pages_not_blank(pages)


def _pdf_pages(pdftoppm: str, pdf: Path, directory: Path) -> list[Path]:
    directory.mkdir()
    subprocess.run(
        [pdftoppm, "-png", "-r", "60", str(pdf), str(directory / "page")], check=True, timeout=60
    )
    return sorted(directory.glob("page*.png"))


def test_cjk_glyphs_render_without_tofu(browser: str, tmp_path: Path) -> None:
    """Chinese in the report's font stack draws distinct glyphs, not identical boxes.

    A character no installed font has is drawn as the same box (tofu) whatever the
    character; real glyphs differ from one another. Each character sits in its own cell
    so that the cells can be compared; a row of characters no font covers (Mro script)
    shows what tofu looks like, which checks the method itself.
    """
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        _missing("fc-list (fontconfig) is not installed")
    assert fc_list is not None
    listed = subprocess.run(
        [fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    installed = {name.strip() for line in listed.splitlines() for name in line.split(",")}
    stack = [name.strip().strip('"') for name in i18n.FONT_STACK.split(",")]
    assert installed & set(stack), f"no font of the report's stack covers Chinese: {installed}"
    chinese, tofu = "海关查验风险", "".join(chr(0x16A40 + i) for i in range(6))
    cells = (
        "".join(f'<span class="c">{c}</span>' for c in chinese)
        + "<br>"
        + "".join(f'<span class="c">{c}</span>' for c in tofu)
    )
    html = (
        '<!doctype html><html><head><meta charset="utf-8"><style>'
        f"body {{ margin: 0; background: #fff; color: #000; font-family: {i18n.FONT_STACK}; }}"
        ".c { display: inline-block; width: 120px; height: 130px; font-size: 96px;"
        " line-height: 130px; text-align: center; vertical-align: top; overflow: hidden; }"
        f"</style></head><body>{cells}</body></html>"
    )
    png = screenshot(html, tmp_path / "cjk.png", width=800, height=300, browser=browser)
    image = Image.open(png).convert("L")
    row = [image.crop((i * 120, 0, i * 120 + 120, 130)) for i in range(6)]
    control = [image.crop((i * 120, 130, i * 120 + 120, 260)) for i in range(6)]

    def difference(a: Image.Image, b: Image.Image) -> float:
        return ImageStat.Stat(ImageChops.difference(a, b)).mean[0]

    for cell in (*row, *control):
        assert (np.asarray(cell) < 128).mean() > 0.02, "a cell has no ink"
    assert max(difference(control[0], c) for c in control[1:]) < 1.0, "tofu control differs"
    for i in range(6):
        for j in range(i + 1, 6):
            assert difference(row[i], row[j]) > 10, f"{chinese[i]} and {chinese[j]} look alike"
        assert difference(row[i], control[0]) > 10, f"{chinese[i]} renders as tofu"


# -- the daily batch report ----------------------------------------------------------------


def test_batch_report_html_and_pdf(
    browser: str,
    pdftoppm: str,
    trained_model_dir: Path,
    data_files: DataFiles,
    target: dict[str, str],
    tmp_path: Path,
) -> None:
    date = target["date"]
    html_path = tmp_path / "batch-en.html"
    status = _report(trained_model_dir, data_files, html_path, "--batch", "--date", date, lang="en")
    assert status == 0
    html = html_path.read_text("utf-8")
    ids = _ids(html)
    for element in (*BATCH_IDS, "versions", "title"):
        assert element in ids, f"no element with id={element!r}"
    assert "Daily selection report" in html and date in html
    assert re.search(r'<section id="distribution">.*?<svg', html, re.S), "no histogram"
    png = screenshot(html_path, tmp_path / "batch.png", browser=browser)
    _assert_not_blank(png)
    pdf = tmp_path / "batch-zh.pdf"
    assert _report(trained_model_dir, data_files, pdf, "--batch", "--date", date) == 0
    _assert_pages_not_blank(_pdf_pages(pdftoppm, pdf, tmp_path / "pages"))
    _no_leftovers(tmp_path)


# -- content -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded(trained_model_dir: Path, data_files: DataFiles) -> Loaded:
    bundle = load_bundle(trained_model_dir)
    declarations = loading.load_declarations(data_files.declarations).frame
    registers = Registers(
        loading.load_enterprises(data_files.enterprises).frame,
        loading.load_lab_results(data_files.lab_results).frame,
        loading.load_commodities(data_files.commodities).frame,
    )
    return bundle, declarations, registers


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_waterfall_adds_up_to_the_raw_score(
    loaded: Loaded, target: dict[str, str], lang: str
) -> None:
    bundle, declarations, registers = loaded
    report = build_report(
        bundle, declarations, registers, declaration_id=target["id"], lang=lang, rate=0.05
    )
    total = report.base_value + sum(c.shap for c in report.contributions)
    assert abs(total - report.raw_score) < 1e-6
    assert report.decision["selected"] and report.decision["lane"] != "green"
    assert report.reasons, "a selected declaration has reasons in words"
    assert report.waterfall.count("<polygon") == 9  # 8 factors and "the others"
    fields = {c.feature for c in report.contributions}
    assert len(fields) == len(report.contributions), "one bar per input field"
    generic = re.compile(r"^[a-z_]+ = ")
    assert not any(generic.match(r) for r in report.reasons), report.reasons
    if lang == "zh":
        assert any(re.search(r"[\u4e00-\u9fff]", r) for r in report.reasons)


def test_decision_columns_of_the_policy_are_shown() -> None:
    decision = {
        "declaration_id": "D1",
        "selected": 1,
        "lane": "red",
        "inspection_deadline_hours": 4.0,
        "release_deadline_hours": 1.0,
        "sampling_deadline_days": float("nan"),
        "green_channel": 1,
        "priority_lane": 0,
        "policy_note_zh": "鲜活易腐商品，优先查验",
        "policy_note_en": "perishable goods, priority",
        "some_new_column": "x",
    }
    deadlines, others = page.extra_decision_fields(decision, "zh")
    assert deadlines == [("查验", "4 小时内"), ("放行（结果正常后）", "1 小时内")]
    assert ("绿色通道（鲜活易腐商品）", "是") in others and ("some new column", "x") in others
    assert not any(name == "优先查验" for name, _ in others)
    assert page.policy_note(decision, "en") == "Perishable goods, priority"
    deadlines_en, _ = page.extra_decision_fields(decision, "en")
    assert ("Inspection", "within 4 h") in deadlines_en


def test_charts_escape_text_and_scale() -> None:
    svg = waterfall_svg(
        -2.0,
        [WaterfallStep("<script>x</script>", "a&b", 0.5), WaterfallStep("y", "", -0.25)],
        base_label="base",
        final_label="f(x)",
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a&amp;b" in svg
    assert svg.count("<polygon") == 2
    histogram = histogram_svg(
        np.array([0.01, 0.02, 0.5, 0.97]),
        np.array([0, 0, 1, 1]),
        x_label="<risk>",
        y_label="n",
        legend_selected="s",
        legend_all="a",
    )
    assert "&lt;risk&gt;" in histogram and histogram.count("<rect") >= 5
    assert nice_ticks(-3.1, -0.4) == [-3.0, -2.0, -1.0]
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


# -- errors: exit 2, nothing written -------------------------------------------------------


def test_report_arguments_are_checked(
    trained_model_dir: Path,
    data_files: DataFiles,
    target: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "r.html"
    for extra in ([], ["--id", target["id"], "--batch", "--date", target["date"]]):
        with pytest.raises(SystemExit) as exc:
            _report(trained_model_dir, data_files, out, *extra)
        assert exc.value.code == 2
    cases = [
        (["--batch"], "--date"),
        (["--id", target["id"], "--date", target["date"]], "--date"),
        (["--id", "NO-SUCH-ID"], "NO-SUCH-ID"),
        (["--batch", "--date", "1999-01-01"], "1999-01-01"),
        (["--batch", "--date", "yesterday-ish"], "not a date"),
    ]
    for extra, needle in cases:
        assert _report(trained_model_dir, data_files, out, *extra) == 2, extra
        assert needle in capsys.readouterr().err
    bad_suffix = tmp_path / "r.txt"
    assert _report(trained_model_dir, data_files, bad_suffix, "--id", target["id"]) == 2
    assert ".html or .pdf" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_pdf_without_a_browser_is_a_clear_error(
    trained_model_dir: Path,
    data_files: DataFiles,
    target: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PORTSIFT_CHROMIUM", str(tmp_path / "no-such-browser"))
    out = tmp_path / "r.pdf"
    assert _report(trained_model_dir, data_files, out, "--id", target["id"]) == 2
    assert "PORTSIFT_CHROMIUM" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def _fake_browser(directory: Path, body: str) -> Path:
    """A stand-in browser that counts its runs in ``runs`` next to itself."""
    fake = directory / "fake-chromium"
    runs = directory / "runs"
    fake.write_text(f'#!/bin/sh\necho run >> "{runs}"\n{body}\n')
    fake.chmod(0o755)
    return fake


def _runs(directory: Path) -> int:
    return len((directory / "runs").read_text().splitlines())


def test_a_hanging_browser_is_killed(tmp_path: Path) -> None:
    fake = _fake_browser(tmp_path, "sleep 60")
    out = tmp_path / "out" / "r.pdf"
    started = time.monotonic()
    with pytest.raises(RenderError, match=r"did not finish within 1\.5 s"):
        html_to_pdf("<p>x</p>", out, timeout=1.5, browser=str(fake))
    assert time.monotonic() - started < 10
    assert _runs(tmp_path) == HUNG_ATTEMPTS
    assert list(out.parent.iterdir()) == []


def test_a_browser_that_hangs_once_is_started_again(tmp_path: Path) -> None:
    # The first run hangs; the second writes the PDF where --print-to-pdf says.
    fake = _fake_browser(
        tmp_path,
        f'[ "$(wc -l < "{tmp_path / "runs"}")" -eq 1 ] && sleep 60\n'
        'for a; do case "$a" in --print-to-pdf=*) printf "%%PDF-1.4" > "${a#*=}";; esac; done',
    )
    out = tmp_path / "out" / "r.pdf"
    assert html_to_pdf("<p>x</p>", out, timeout=3.0, browser=str(fake)) == out
    assert out.read_bytes() == b"%PDF-1.4"
    assert _runs(tmp_path) == 2
    assert list(out.parent.iterdir()) == [out]


def test_a_failing_browser_leaves_nothing(tmp_path: Path) -> None:
    fake = _fake_browser(tmp_path, "echo 'cannot open display' >&2\nexit 3")
    out = tmp_path / "out" / "r.pdf"
    with pytest.raises(RenderError, match="exit status 3: cannot open display"):
        html_to_pdf("<p>x</p>", out, browser=str(fake))
    assert _runs(tmp_path) == 1, "a browser that exits with an error is not retried"
    assert list(out.parent.iterdir()) == []
