"""index.html in a real headless Chromium, at desktop and phone widths: loads without console errors or network,
opens with the executive summary, every link resolves inside the pack, and axe-core finds no serious or critical
accessibility violation.

Screenshots and the axe result go to test-artifacts/ (stable names: index-<viewport>.png for the whole page,
index-<viewport>-first-screen.png for what a reader sees on opening it, axe-index.json).
"""

import json
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from .conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]


def _required() -> bool:
    return bool(os.environ.get("PLAYBOOK_REQUIRE_BROWSER"))


def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        if _required():
            raise
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        if _required():
            pytest.fail("Chromium not found: install Debian's chromium package")
        pytest.skip("Chromium not found: install Debian's chromium package to run the browser tests")


def _axe_or_skip() -> Path:
    if not AXE.is_file():
        msg = f"axe-core not found at {AXE.relative_to(ROOT)}: run `npm ci` at the repository root"
        if _required():
            pytest.fail(msg)
        pytest.skip(msg)
    return AXE


@pytest.fixture(scope="module")
def browser():
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, pack: Path, viewport: str):
    """A page on the pack's index.html with its console errors and requests recorded."""
    page = browser.new_page(viewport=VIEWPORTS[viewport])
    page.errors, page.requests = [], []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: page.requests.append(r.url))
    page.goto((pack / "index.html").as_uri())
    page.wait_for_load_state("load")
    return page


def _broken_links(page) -> list[str]:
    """Every href that does not resolve: a file missing from disk, or a #fragment no element carries."""
    links = page.eval_on_selector_all(
        "a[href]", "els => els.map(e => [e.href, e.getAttribute('href')])")
    assert links
    broken = []
    for absolute, raw in links:
        if raw.startswith("#"):
            if page.locator(f"[id='{raw[1:]}']").count() != 1:
                broken.append(raw)
            continue
        u = urlparse(absolute)
        if u.scheme != "file" or not Path(unquote(u.path)).exists():
            broken.append(raw)
    return broken


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_index_html_opens_with_the_executive_summary(browser, bundled_pack, viewport):
    pack = bundled_pack["pack"]
    ARTIFACTS.mkdir(exist_ok=True)
    page = _open(browser, pack, viewport)
    verdict = page.locator("#verdict").inner_text()
    assert verdict.strip().lower().startswith("verdict:")
    box = page.locator("#summary").bounding_box()
    assert box is not None and box["y"] < VIEWPORTS[viewport]["height"], box  # within the first screen
    assert page.locator("#verdict").bounding_box()["y"] < VIEWPORTS[viewport]["height"]
    # the numbers that decide a launch: six of them, none blank
    numbers = page.locator("dl.numbers > div")
    assert numbers.count() == 6
    for i in range(numbers.count()):
        assert page.locator("dl.numbers > div dd.n").nth(i).inner_text().strip()
    # the key figures are inline images with alt text, decoded by the browser
    imgs = page.locator("#summary figure img")
    assert imgs.count() >= 3
    for i in range(imgs.count()):
        img = imgs.nth(i)
        assert img.get_attribute("src").startswith("data:image/png;base64,")
        assert len(img.get_attribute("alt") or "") > 20
        assert img.evaluate("e => e.complete && e.naturalWidth > 0")
    assert page.locator("#gates").count() == 1 and page.locator("section.step details").count() >= 5
    assert _broken_links(page) == []
    assert page.locator("a.broken").count() == 0
    page.screenshot(path=str(ARTIFACTS / f"index-{viewport}-first-screen.png"))
    page.screenshot(path=str(ARTIFACTS / f"index-{viewport}.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport]["width"] + 1, f"the page scrolls sideways at {viewport} width ({width}px)"
    assert page.errors == [], page.errors
    assert all(r.startswith(("file:", "data:", "about:")) for r in page.requests), "index.html fetched from the network"
    page.close()


def test_a_step_opens_and_its_notebook_link_works(browser, bundled_pack):
    page = _open(browser, bundled_pack["pack"], "desktop")
    step = page.locator("section.step").first
    link = step.locator("a", has_text="read the notebook")
    if not link.is_visible():
        step.locator("summary").click()  # <details> opens without script
    assert link.is_visible()
    link.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("notebook.html")
    assert page.errors == [], page.errors
    page.close()


def test_index_html_passes_an_axe_core_audit(browser, bundled_pack):
    axe = _axe_or_skip()
    ARTIFACTS.mkdir(exist_ok=True)
    record = {"axe_version": None, "viewports": {}}
    serious = []
    for viewport in VIEWPORTS:
        page = _open(browser, bundled_pack["pack"], viewport)
        page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")  # audit every row
        page.add_script_tag(path=str(axe))
        res = page.evaluate("async () => await axe.run(document)")
        record["axe_version"] = res.get("testEngine", {}).get("version")
        by_impact: dict[str, int] = {}
        for v in res["violations"]:
            by_impact[v["impact"] or "none"] = by_impact.get(v["impact"] or "none", 0) + 1
        record["viewports"][viewport] = {
            "violations_by_impact": dict(sorted(by_impact.items())),
            "violations": [{"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": len(v["nodes"]),
                            "targets": [n["target"] for n in v["nodes"][:5]]} for v in res["violations"]],
            "rules_passed": len(res["passes"]), "incomplete": sorted(i["id"] for i in res["incomplete"]),
        }
        serious += [(viewport, v["id"], v["help"]) for v in res["violations"] if v["impact"] in ("serious", "critical")]
        assert res["passes"], "axe-core ran no rule"
        page.close()
    (ARTIFACTS / "axe-index.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    assert serious == [], serious


def test_the_axe_audit_can_fail(browser):
    """The audit is real: a page without a language, with an image without alt text and grey-on-grey text has
    serious or critical violations."""
    axe = _axe_or_skip()
    page = browser.new_page(viewport=VIEWPORTS["desktop"])
    page.set_content('<html><body><main><h1>x</h1><img src="data:image/png;base64,iVBORw0KGgo=">'
                     '<p style="color:#bbb;background:#ccc">faint</p></main></body></html>')
    page.add_script_tag(path=str(axe))
    res = page.evaluate("async () => await axe.run(document)")
    found = {v["id"] for v in res["violations"] if v["impact"] in ("serious", "critical")}
    assert {"html-has-lang", "image-alt", "color-contrast"} <= found, found
    page.close()
