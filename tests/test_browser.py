"""index.html in a real headless Chromium: loads without console errors, shows the verdict, links resolve."""

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from .conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        if os.environ.get("PLAYBOOK_REQUIRE_BROWSER"):
            raise
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        if os.environ.get("PLAYBOOK_REQUIRE_BROWSER"):
            pytest.fail("Chromium not found: install Debian's chromium package")
        pytest.skip("Chromium not found: install Debian's chromium package to run the browser tests")


def test_index_html_in_chromium(bundled_pack):
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    pack = bundled_pack["pack"]
    shots = ROOT / "test-artifacts"
    shots.mkdir(exist_ok=True)
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto((pack / "index.html").as_uri())
        page.wait_for_load_state("load")
        verdict = page.locator("#verdict").inner_text()
        assert verdict.strip().lower().startswith("verdict:")
        assert page.locator("#gates").count() == 1 and page.locator("section.step").count() >= 1
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        assert hrefs
        broken = []
        for h in hrefs:
            u = urlparse(h)
            if u.scheme == "file" and not Path(unquote(u.path)).exists():
                broken.append(h)
        assert broken == [], broken
        assert page.locator("a.broken").count() == 0
        page.screenshot(path=str(shots / "index.png"), full_page=True)
        # follow the first step's notebook link: it opens too
        first = page.locator("section.step a", has_text="read the notebook").first
        first.click()
        page.wait_for_load_state("load")
        assert page.url.endswith("notebook.html")
        browser.close()
    assert errors == [], errors
    assert all(r.startswith(("file:", "data:", "about:")) for r in requests[:50]), "index.html fetched from the network"
