"""GraphiQL in a real browser: Debian's Chromium, driven by Playwright, against gunicorn.

Every request to a host other than 127.0.0.1 is refused, so the page must work from this
service's own files (issue 11: behind a proxy or offline, the CDN page stayed "Loading..."). The
page is served with its real Content-Security-Policy, which the browser enforces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from PIL import Image, ImageStat
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Route,
    ViewportSize,
    expect,
    sync_playwright,
)

from graph.graphiql import assets
from graph.graphiql.build import DIST
from heap.cli import DEMO_ADMIN
from tests.conftest import IN_CI

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# No browser download, no sandbox (CI runs as root), nothing that phones home.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
SECONDS = 20_000  # Playwright counts milliseconds: generous, for 2 shared cores


def readme_first_query() -> str:
    """The README's first GraphQL block, as a reader would copy it."""
    found = re.search(r"```graphql\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert found, "README.md has no ```graphql block"
    return found.group(1)


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """A headless Chromium; outside CI the test is skipped when Debian's chromium is absent."""
    if not CHROMIUM.exists():
        message = "needs Debian's Chromium at /usr/bin/chromium: apt-get install -y chromium"
        if IN_CI:
            pytest.fail(f"CI must run the browser test: {message}")
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# GraphiQL's page does not depend on the database: one backend is enough for the browser.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_graphiql_runs_the_readme_query_with_outside_hosts_blocked(
    app: Flask, live_server: str, chromium: Browser, tmp_path: Path
) -> None:
    assert assets(DIST) is not None, "GraphiQL's files are missing: run `make install`"
    demo = app.test_cli_runner().invoke(args=["demo", "--json"])
    assert demo.exit_code == 0, demo.output
    viewer_token = json.loads(demo.stdout)["viewer_token"]

    context = chromium.new_context(viewport=VIEWPORT)
    blocked: list[str] = []

    def only_this_machine(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_machine)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))

    def console(message: ConsoleMessage) -> None:
        # CSP violations, failed loads and integrity mismatches are console errors.
        if message.type == "error":
            errors.append(f"console: {message.text}")

    page.on("console", console)

    page.goto(f"{live_server}/graphql")
    query_editor = page.locator(".graphiql-query-editor .CodeMirror")
    expect(query_editor).to_be_visible(timeout=SECONDS)

    page.get_by_role("button", name="Headers", exact=True).click()
    headers_editor = page.locator(".graphiql-editor-tool > .graphiql-editor:not(.hidden)")
    headers_editor.locator(".CodeMirror").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(json.dumps({"Authorization": f"Bearer {viewer_token}"}))
    expect(headers_editor).to_contain_text(viewer_token[:20])

    query_editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(readme_first_query())
    expect(query_editor).to_contain_text("viewerCannotEnableReasons")
    page.locator(".graphiql-execute-button").click()

    result = page.locator(".graphiql-response")
    expect(result).to_contain_text(DEMO_ADMIN, timeout=SECONDS)
    expect(result).to_contain_text('"viewerCannotEnableReasons"')
    expect(result).not_to_contain_text('"errors"')

    screenshot = tmp_path / "graphiql.png"
    page.screenshot(path=str(screenshot))

    # What the user typed survives a reload: GraphiQL keeps the tab and the headers. It stores
    # them a moment after the last keystroke (a debounce), so wait for the write, not a clock.
    page.wait_for_function(
        "token => (localStorage.getItem('graphiql:tabState') || '').includes(token)",
        arg=viewer_token,
        timeout=SECONDS,
    )
    page.reload()
    expect(query_editor).to_contain_text("viewerCannotEnableReasons", timeout=SECONDS)
    page.get_by_role("button", name="Headers", exact=True).click()
    expect(headers_editor).to_contain_text(viewer_token[:20])
    context.close()

    assert blocked == [], f"the page asked for other hosts: {blocked}"
    assert errors == []
    _assert_not_blank(screenshot)


def _assert_not_blank(png: Path) -> None:
    """A rendered GraphiQL (editors, highlighted JSON) has many colours and real contrast; a
    blank or "Loading..." page has a handful of greys."""
    with Image.open(png) as image:
        assert image.size == (VIEWPORT["width"], VIEWPORT["height"])
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=VIEWPORT["width"] * VIEWPORT["height"])
        assert colours is not None and len(colours) > 256, "screenshot looks blank"
        assert ImageStat.Stat(rgb.convert("L")).stddev[0] > 5, "screenshot has no contrast"
