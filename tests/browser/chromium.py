"""Headless Debian Chromium driven over the DevTools protocol (CDP), with `websockets`.

Just enough of CDP for page tests: open a page, run JavaScript in it, and record every
network request and WebSocket it makes. The browser is Debian's `chromium` package
(never a downloaded build); without it a test skips, and under CI=true fails.
"""

import asyncio
import itertools
import json
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.services import IN_CI

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-port=0",
]
TIMEOUT = 30.0


def require_chromium() -> str:
    path = shutil.which("chromium")
    if path:
        return path
    reason = "Debian's chromium is not installed (apt-get install -y chromium)"
    if IN_CI:
        pytest.fail(f"{reason}; CI=true: the browser test must run, not skip")
    pytest.skip(reason)


class CdpError(Exception):
    pass


class Page:
    """One tab; `requests` holds the URL of every request and WebSocket it made."""

    def __init__(self, browser: "Chromium", session_id: str) -> None:
        self.browser = browser
        self.session_id = session_id
        self.requests: list[str] = []
        self.exceptions: list[str] = []
        self.loaded = asyncio.Event()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.send(method, params, session_id=self.session_id)

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Network.webSocketCreated":
            self.requests.append(params["url"])
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.exceptions.append(
                details.get("exception", {}).get("description") or details["text"]
            )
        elif method == "Page.loadEventFired":
            self.loaded.set()

    async def goto(self, url: str) -> None:
        self.loaded.clear()
        result = await self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise CdpError(f"navigating to {url}: {result['errorText']}")
        async with asyncio.timeout(TIMEOUT):
            await self.loaded.wait()

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise CdpError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, *, within: float = TIMEOUT) -> Any:
        """Evaluate until the value is truthy (the page renders asynchronously)."""
        async with asyncio.timeout(within):
            while True:
                value = await self.evaluate(expression)
                if value:
                    return value
                await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> None:
        import base64

        data = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(data["data"]))


class Chromium:
    def __init__(self, process: subprocess.Popen[bytes], ws: ClientConnection) -> None:
        self.process = process
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._pages: dict[str, Page] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if "id" in message:
                future = self._waiting.pop(message["id"], None)
                if future is not None and not future.done():
                    if "error" in message:
                        future.set_exception(CdpError(str(message["error"])))
                    else:
                        future.set_result(message.get("result", {}))
            elif message.get("sessionId") in self._pages:
                self._pages[message["sessionId"]].on_event(message["method"], message["params"])

    async def send(
        self, method: str, params: dict[str, Any] | None = None, *, session_id: str | None = None
    ) -> dict[str, Any]:
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = future
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        await self.ws.send(json.dumps(message))
        async with asyncio.timeout(TIMEOUT):
            return await future

    async def new_page(self, *, before_scripts: str = "") -> Page:
        """A blank tab with network, page and runtime events on; `before_scripts` runs in
        every document before the page's own scripts."""
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        self._pages[page.session_id] = page
        for domain in ("Network", "Page", "Runtime"):
            await page.send(f"{domain}.enable")
        if before_scripts:
            await page.send("Page.addScriptToEvaluateOnNewDocument", source=before_scripts)
        return page


async def _devtools_url(profile: Path, process: subprocess.Popen[bytes]) -> str:
    """Chromium writes the port it picked and the browser's path to DevToolsActivePort."""
    marker = profile / "DevToolsActivePort"
    async with asyncio.timeout(TIMEOUT):
        while True:
            if process.poll() is not None:
                raise CdpError(f"chromium exited with {process.returncode}")
            lines = marker.read_text().splitlines() if marker.exists() else []
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            await asyncio.sleep(0.05)


@asynccontextmanager
async def chromium() -> AsyncIterator[Chromium]:
    executable = require_chromium()
    profile = Path(tempfile.mkdtemp(prefix="cb-chromium-"))
    process = subprocess.Popen(  # noqa: ASYNC220 (Popen returns at once; we never block on it)
        [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    browser: Chromium | None = None
    try:
        ws = await connect(await _devtools_url(profile, process), max_size=None)
        browser = Chromium(process, ws)
        yield browser
    finally:
        if browser is not None:
            with suppress(Exception):
                await browser.send("Browser.close")
            await browser.ws.close()
            browser._reader.cancel()
            with suppress(asyncio.CancelledError):
                await browser._reader
        if process.poll() is None:
            process.terminate()
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 10)
        shutil.rmtree(profile, ignore_errors=True)
