"""A small driver of Debian's headless Chromium over the DevTools protocol, for the tests.

No WebDriver and no browser download: the installed ``chromium`` is started with
``--remote-debugging-port=0`` and a fresh profile, and one page is driven over its
DevTools WebSocket (``httpx-ws``, already installed with BentoML): navigate, click at an
element's centre with real mouse events, type with real key input, read the DOM with
JavaScript, and take screenshots. The browser's whole process group is killed at the end.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from httpx_ws import WebSocketSession, connect_ws

from portsift.reports.render import CHROMIUM_FLAGS

#: How long the browser may take to start, a page to load, a condition to come true.
TIMEOUT_S = 60.0


class BrowserError(AssertionError):
    """The browser did not do what the test asked (a failure of the test, not an error)."""


class Page:
    """One browser tab driven over the DevTools protocol."""

    def __init__(self, socket: WebSocketSession) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a DevTools command and return its result (events in between are skipped)."""
        number = next(self._ids)
        self._socket.send_text(json.dumps({"id": number, "method": method, "params": params}))
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            message = json.loads(self._socket.receive_text(timeout=TIMEOUT_S))
            if message.get("id") == number:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
        raise BrowserError(f"{method}: no answer within {TIMEOUT_S:g} s")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str) -> Any:
        """Wait until a JavaScript expression is truthy; return its value."""
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(BrowserError):  # the page may be navigating
                value = self.evaluate(expression)
                if value:
                    return value
            time.sleep(0.1)
        raise BrowserError(f"timed out waiting for {what} ({expression})")

    def _mark(self) -> None:
        # Gone once another document has loaded: tells a new page from the one before.
        self.evaluate("window.__portsiftBefore = true")

    def goto(self, url: str) -> None:
        """Open a URL (it may redirect); :meth:`loaded` waits for where it lands."""
        self._mark()
        self.send("Page.navigate", url=url)

    def loaded(self, path: str) -> None:
        """Wait until a new document whose path starts with ``path`` has loaded."""
        self.wait_for(
            "window.__portsiftBefore === undefined && document.readyState === 'complete'"
            f" && location.pathname.startsWith({json.dumps(path)})",
            f"the page {path}",
        )

    def click(self, selector: str) -> None:
        """Click an element with the mouse, at the centre of its box (scrolled into view)."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()"
        )
        if box is None:
            raise BrowserError(f"no element {selector} on {self.evaluate('location.href')}")
        self._mark()
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                type=kind, x=box["x"], y=box["y"], button="left", clickCount=1,
            )  # fmt: skip

    def type(self, selector: str, text: str) -> None:
        """Focus a field by clicking it and type into it."""
        self.click(selector)
        self.send("Input.insertText", text=text)

    def text(self, selector: str) -> str:
        """The text of an element (``""`` when there is none)."""
        return str(
            self.evaluate(
                f"(document.querySelector({json.dumps(selector)}) || {{innerText: ''}}).innerText"
            )
        )

    def screenshot(self, out: Path) -> Path:
        """A PNG of the whole page (beyond the window), written to ``out``."""
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=1200, height=min(max(height, 600), 4000), deviceScaleFactor=1, mobile=False,
        )  # fmt: skip
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        out.write_bytes(base64.b64decode(data["data"]))
        self.send("Emulation.clearDeviceMetricsOverride")
        return out

    def character_boxes(self, selector: str) -> list[dict[str, float]]:
        """The box of each character of an element's first text node (page coordinates)."""
        boxes: list[dict[str, float]] = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " const node = [...e.childNodes].find(n => n.nodeType === 3 && n.data.trim());"
            " const out = []; const range = document.createRange();"
            " for (let i = 0; i < node.data.length; i++) {"
            "   if (!node.data[i].trim()) continue;"
            "   range.setStart(node, i); range.setEnd(node, i + 1);"
            "   const r = range.getBoundingClientRect();"
            "   out.push({x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height,"
            "             c: node.data[i]}); }"
            " return out; })()"
        )
        return boxes


@contextlib.contextmanager
def chromium(executable: str, profile: Path) -> Iterator[Page]:
    """Start headless Chromium with a fresh profile and drive its first tab.

    Args:
        executable: The browser.
        profile: An empty directory for its profile.

    Yields:
        The page.
    """
    flags = [f for f in CHROMIUM_FLAGS if f != "--headless"]
    process = subprocess.Popen(
        [
            executable, "--headless=new", *flags, f"--user-data-dir={profile}",
            "--remote-debugging-port=0", "--remote-allow-origins=*",
            "--window-size=1200,900", "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT_S
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None:
                raise BrowserError(f"{executable} exited with status {process.returncode}")
            if time.monotonic() > deadline:
                raise BrowserError(f"{executable} did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with httpx.Client(timeout=TIMEOUT_S) as client:
            targets = client.get(f"http://127.0.0.1:{port}/json/list").json()
            page = next(t for t in targets if t.get("type") == "page")
            with connect_ws(
                page["webSocketDebuggerUrl"], client, max_message_size_bytes=64 * 2**20
            ) as socket:
                driven = Page(socket)
                driven.send("Page.enable")
                driven.send("Runtime.enable")
                yield driven
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
