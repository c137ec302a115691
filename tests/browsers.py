"""What the browser tests share: Debian's Chromium driven by Playwright, and an
app served by ``pserve`` on a database of its own for a whole test module.

A module's tests share one browser and one server (starting either costs more
than most tests): each test still gets fresh browser contexts, so no cookie
passes from one test to the next. The module's database is its own, not the
worker's shared one, because other modules' tests empty that after each test.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD, TESTING_INI, AppHarness, build_harness
from servers import ROOT, Server, run_app_server

from sessapp.scripts.initdb import upgrade

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason=(
    "no chromium on the PATH: install Debian's chromium package to run the browser tests"
))


@dataclass
class Site:
    """The served app and the harness on its database."""

    harness: AppHarness
    server: Server

    @property
    def url(self) -> str:
        return self.server.url


def serve_for_module(tmp_path_factory: Any) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("site")
    url = f"sqlite:///{folder / 'site.sqlite'}"
    upgrade(TESTING_INI, url)
    harness = build_harness(url)
    server = run_app_server(Path(folder), url)
    try:
        yield Site(harness, server)
    finally:
        server.stop()
        harness.engine.dispose()


def launch(playwright_api: Any) -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def sign_in(page: Any, username: str = "alice", password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/profile$"))


def keep_failure_screenshots(request: Any, contexts: list[Any]) -> None:
    """After a failed test, a full-page screenshot of each of its pages."""
    failed = getattr(request.node, "rep_call", None)
    if failed is None or not failed.failed:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^\w-]", "_", request.node.name)
    for index, context in enumerate(contexts):
        for number, page in enumerate(context.pages):
            page.screenshot(path=str(ARTIFACTS / f"{name}-{index}-{number}.png"), full_page=True)
