"""Headless Chromium: HTML reports to PDF, and page screenshots (used by the tests).

The browser is ``PORTSIFT_CHROMIUM`` if set, else ``chromium`` or ``chromium-browser``
on ``PATH`` (Debian's ``chromium`` package, installed by ``make install``). Every run
gets a fresh, throw-away profile, the flags that keep a headless browser off the
network, and a time limit: a run that hangs is killed with its whole process group and
started again (see :func:`run_chromium`). Outputs are
written to a temporary file next to the target and renamed into place only once
complete, so a failed run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from portsift.features.writing import atomic_path

#: Environment variable naming the browser executable.
CHROMIUM_ENV = "PORTSIFT_CHROMIUM"
#: Executables looked up on ``PATH`` when the variable is not set.
CHROMIUM_NAMES: tuple[str, ...] = ("chromium", "chromium-browser")
#: Flags of every run: headless, no sandbox (the CI runs as root), no GPU, and nothing
#: that talks to the network (the machines have none).
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--mute-audio",
)
#: Seconds the browser runs for one document may take together.
DEFAULT_TIMEOUT = 120.0
#: Runs the time limit is split over; a run that hangs is killed and started again.
HUNG_ATTEMPTS = 3


class RenderError(Exception):
    """The browser is missing or failed; the CLI reports it and exits 2."""


def find_chromium() -> str:
    """Return the path of the Chromium executable to use.

    Returns:
        ``$PORTSIFT_CHROMIUM`` if set, else the first of ``chromium``,
        ``chromium-browser`` found on ``PATH``.

    Raises:
        RenderError: The variable names no executable file, or none is on ``PATH``.
    """
    configured = os.environ.get(CHROMIUM_ENV, "").strip()
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise RenderError(
                f"{CHROMIUM_ENV}={configured!r} is not an executable file; set it to the "
                "path of a Chromium or Chrome binary, or unset it to use chromium on PATH"
            )
        return found
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise RenderError(
        "PDF output needs headless Chromium, and none was found: install Debian's "
        "chromium package (make install does, as root) or set "
        f"{CHROMIUM_ENV} to the browser's path"
    )


def run_chromium(
    arguments: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT, browser: str | None = None
) -> None:
    """Run the browser with a fresh profile and the fixed flags, restarting it if it hangs.

    Headless Chromium now and then never exits after writing nothing (seen on 1 run in
    40 with both cores busy, Chromium 156; a normal run takes 1-2 s). The time limit is
    therefore split over :data:`HUNG_ATTEMPTS` runs: a run that hangs is killed with its
    whole process group and started again; a run that exits with an error is not retried.

    Args:
        arguments: Further arguments (the output flag and the page URL).
        timeout: Seconds all runs together may take.
        browser: Executable to use (default: :func:`find_chromium`).

    Raises:
        RenderError: The browser is missing, hung on every attempt or exited with an error.
    """
    executable = browser or find_chromium()
    attempt_timeout = timeout / HUNG_ATTEMPTS
    for _ in range(HUNG_ATTEMPTS):
        if _run_once(executable, arguments, attempt_timeout):
            return
    raise RenderError(
        f"the browser {executable} did not finish within {timeout:g} s "
        f"({HUNG_ATTEMPTS} runs of {attempt_timeout:g} s, each killed)"
    )


def _run_once(executable: str, arguments: Sequence[str], timeout: float) -> bool:
    """One browser run; False when it hung and was killed."""
    with tempfile.TemporaryDirectory(prefix="portsift-chromium-") as profile:
        command = [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments]
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise RenderError(f"cannot start the browser {executable}: {exc}") from exc
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # The browser forks helpers into its own session: kill the whole group.
            _kill_group(process)
            process.communicate()
            return False
        except BaseException:
            _kill_group(process)
            process.communicate()
            raise
        finally:
            # Helpers that outlive a finished browser would hold the profile open.
            _kill_group(process, only_if_alive=False)
    if process.returncode != 0:
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise RenderError(
            f"the browser {executable} failed with exit status {process.returncode}: "
            + (" | ".join(tail) or "no message")
        )
    return True


def _kill_group(process: subprocess.Popen[bytes], *, only_if_alive: bool = True) -> None:
    if only_if_alive and process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _page(html: str, directory: Path) -> str:
    page = directory / "page.html"
    page.write_text(html, encoding="utf-8")
    return page.as_uri()


def html_to_pdf(
    html: str, out: str | Path, *, timeout: float = DEFAULT_TIMEOUT, browser: str | None = None
) -> Path:
    """Print an HTML page to PDF with headless Chromium, atomically.

    The page's own ``@page`` rules set the paper size and margins; the browser's
    header and footer (URL, date) are left out.

    Args:
        html: A complete, self-contained HTML document.
        out: The PDF to write.
        timeout: Seconds before the browser is killed.
        browser: Executable to use (default: :func:`find_chromium`).

    Returns:
        The written path.

    Raises:
        RenderError: No browser, or it failed or produced no PDF.
    """
    return _render(
        html,
        out,
        lambda temporary: [f"--print-to-pdf={temporary}", "--no-pdf-header-footer"],
        magic=b"%PDF-",
        what="PDF",
        timeout=timeout,
        browser=browser,
    )


def _render(
    page: str,
    out: str | Path,
    arguments: Callable[[Path], list[str]],
    *,
    magic: bytes,
    what: str,
    timeout: float,
    browser: str | None,
) -> Path:
    """Render a page (HTML text, or a file path) with Chromium into ``out``, atomically.

    The browser writes into a temporary file beside ``out``, which replaces ``out`` only
    when it starts with the format's ``magic`` bytes.
    """
    executable = browser or find_chromium()
    target = Path(out)
    with tempfile.TemporaryDirectory(prefix="portsift-page-") as directory:
        url = _page(page, Path(directory)) if "<" in page else Path(page).resolve().as_uri()
        with atomic_path(target) as temporary:
            run_chromium(
                [*arguments(temporary), "--run-all-compositor-stages-before-draw", url],
                timeout=timeout,
                browser=executable,
            )
            if not temporary.is_file() or temporary.read_bytes()[: len(magic)] != magic:
                raise RenderError(f"the browser {executable} wrote no {what} for {target}")
    return target


def screenshot(
    page: str | Path,
    out: str | Path,
    *,
    width: int = 1200,
    height: int = 2000,
    timeout: float = DEFAULT_TIMEOUT,
    browser: str | None = None,
) -> Path:
    """Take a PNG screenshot of an HTML file (or HTML text) in headless Chromium.

    Args:
        page: Path of an HTML file, or HTML text (anything containing ``<``).
        out: The PNG to write.
        width: Window width in CSS pixels.
        height: Window height in CSS pixels.
        timeout: Seconds before the browser is killed.
        browser: Executable to use (default: :func:`find_chromium`).

    Returns:
        The written path.

    Raises:
        RenderError: No browser, or it failed or produced no PNG.
    """
    return _render(
        str(page),
        out,
        lambda temporary: [
            f"--screenshot={temporary}",
            f"--window-size={width},{height}",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ],
        magic=b"\x89PNG\r\n\x1a\n",
        what="screenshot",
        timeout=timeout,
        browser=browser,
    )


def write_document(
    html: str, out: str | Path, *, timeout: float = DEFAULT_TIMEOUT
) -> tuple[Path, str]:
    """Write a report as HTML or PDF, chosen by the suffix of ``out``.

    Args:
        html: The report page.
        out: ``*.html`` / ``*.htm`` or ``*.pdf``.
        timeout: Seconds the browser may take for a PDF.

    Returns:
        The written path and its format (``"html"`` or ``"pdf"``).

    Raises:
        ValueError: Another suffix (check it first with :func:`output_format`).
        RenderError: PDF output without a working browser.
    """
    from portsift.features.writing import write_text_atomic

    kind = output_format(out)
    if kind == "pdf":
        return html_to_pdf(html, out, timeout=timeout), kind
    return write_text_atomic(html, out), kind


def output_format(out: str | Path) -> str:
    """Return ``"html"`` or ``"pdf"`` for a report path.

    Raises:
        ValueError: The suffix is neither.
    """
    suffix = Path(out).suffix.lower()
    if suffix in (".html", ".htm"):
        return "html"
    if suffix == ".pdf":
        return "pdf"
    raise ValueError(f"{out}: reports are written as .html or .pdf, not {suffix or 'no suffix'}")
