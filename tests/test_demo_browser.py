"""The Space app in a real headless browser: Debian's Chromium driven by Playwright.

Chromium comes from the system (``.ci/run`` installs Debian's ``chromium``); Playwright's own
browser downloads are never used. A screenshot of each run is saved under ``tests/artifacts/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import REPO
from student_support import RECORDS

pytestmark = pytest.mark.slow

ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian's chromium is not installed; .ci/run installs it (apt-get install chromium)")
    return path


@pytest.fixture
def page(demo_server: str, tmp_path: Path):
    """A fresh Chromium profile on the app's page; fails the test on page errors or off-machine requests."""
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=_chromium(),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            page = context.new_page()
            page.on("request", lambda r: urlparse(r.url).hostname != "127.0.0.1" and outside.append(r.url))
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(demo_server)
            yield page
        finally:
            context.close()
    assert not errors, f"errors in the page: {errors}"
    assert not outside, f"the page fetched from outside the machine: {outside}"


def _highlights(view) -> list[tuple[str, str]]:
    """The (text, label) pairs a HighlightedText view shows as highlighted."""
    tokens = view.locator(".token.highlighted")
    return [
        (token.locator(".text").inner_text().strip(), token.locator(".label").inner_text().strip().lower())
        for token in tokens.all()
    ]


def test_typing_a_sentence_and_clicking_extract_highlights_drugs_and_their_ades(page):
    from playwright.sync_api import expect

    page.locator("#text textarea").fill(RECORDS[0]["text"])  # "Acute hepatitis after oral amoxicillin."
    page.locator("#extract-button").click()
    views = page.locator(".drug-view")
    expect(views).to_have_count(1, timeout=60_000)
    expect(views.first).to_contain_text("amoxicillin (27:38): 1 ADE")
    assert _highlights(views.first) == [("Acute hepatitis", "ade"), ("amoxicillin", "drug")]
    expect(page.locator("#extract-status")).to_contain_text("1 drug, 1 ADE scoring at least 0.50.")
    expect(page.locator("#pairs")).to_contain_text("Acute hepatitis")

    two_drugs = RECORDS[2][
        "text"
    ]  # "Severe rash developed with carbamazepine; lithium was followed by tremor."
    page.locator("#text textarea").fill(two_drugs)
    page.locator("#extract-button").click()
    expect(views).to_have_count(2, timeout=60_000)
    expect(views.nth(1)).to_contain_text("lithium (42:49)")
    assert _highlights(views.nth(0)) == [
        ("Severe rash", "ade"),
        ("carbamazepine", "drug"),
        ("lithium", "other drug"),
    ]
    assert _highlights(views.nth(1)) == [
        ("carbamazepine", "other drug"),
        ("lithium", "drug"),
        ("tremor", "ade"),
    ]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "demo_extract.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot: {screenshot}")


def test_empty_text_shows_a_message_in_the_page(page):
    from playwright.sync_api import expect

    page.locator("#extract-button").click()
    expect(page.locator("#extract-status")).to_have_text("Enter a sentence to analyse.", timeout=60_000)
    expect(page.locator(".drug-view")).to_have_count(0)
