"""A real headless Chromium (Debian's `chromium`, driven by Playwright) against a real
server. Every request a page makes is recorded, and each test ends by checking that
none left 127.0.0.1. Screenshots go to build/test-output/screenshots/."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import Cli, RunningServer, start_server, stop_server

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "test-output" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def dashboard_server(tmp_path_factory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("dashboard-home"),
        FERMION_CAPACITY="cpu=3,memory=12Gi",
        FERMION_JOB_GRACE_S="3",
    )
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def dashboard_cli(dashboard_server) -> Cli:
    """The CLI (in-process) against the module's server: a path made from the CLI, then
    looked at in the browser."""
    from typer.testing import CliRunner

    return Cli(dashboard_server, CliRunner())


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("the dashboard tests need Chromium: apt-get install chromium chromium-driver")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        yield launched
        launched.close()


class Visit:
    """A browser page on the dashboard, recording every request it makes."""

    def __init__(self, page: Page, server: RunningServer) -> None:
        self.page = page
        self.server = server
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open(self, route: str = "") -> Page:
        self.page.goto(f"{self.server.url}/{route}")
        return self.page

    def sign_in(self, token: str | None = None) -> Page:
        page = self.open()
        page.fill("#token", token or self.server.token)
        page.click("button[type=submit]")
        page.wait_for_selector("h1:has-text('Overview')")
        return page

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def wait_until(self, expression: str, timeout: float = 30.0) -> None:
        """Poll a JavaScript expression until it is true. (Playwright's wait_for_function
        evaluates strings in the page, which the dashboard's CSP rightly forbids.)"""
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(expression):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            self.page.wait_for_timeout(200)

    def hosts(self) -> set[str]:
        return {
            urlsplit(url).hostname
            for url in self.requests
            if not url.startswith(("data:", "blob:"))
        }


@pytest.fixture()
def visit(browser, dashboard_server) -> Iterator[Visit]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    visiting = Visit(context.new_page(), dashboard_server)
    yield visiting
    context.close()
    assert visiting.requests, "the page made no request"
    assert visiting.hosts() == {"127.0.0.1"}, f"requests left 127.0.0.1: {visiting.hosts()}"
    assert visiting.errors == [], f"errors in the page: {visiting.errors}"


def token_of(server: RunningServer) -> str:
    return json.loads((server.home / "credentials").read_text())["token"]
