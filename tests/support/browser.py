"""Debian's headless Chromium for the pages residents and staff use: phone sizes, larger text, and the
checks a page must pass there (nothing wider than the screen, controls of a usable size, axe-core's audit)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.env import IN_CI

# Installed by `make setup-system` (scripts/setup.sh: npm ci, pinned by the lock file beside it).
AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# What the audit counts: axe's two worst impacts.
BLOCKING_IMPACTS = ("serious", "critical")


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@contextmanager
def chromium(width: int = 412, height: int = 915, flags: tuple[str, ...] = ()) -> Iterator[Any]:
    """Headless Chromium through chromium-driver (skips, or fails under CI, without them); `flags` are
    Chromium's own (a fake microphone playing a file, say)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not Path("/usr/bin/chromium").exists():
        _unavailable("Debian chromium is not installed (make setup-system)")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    # This machine has no internet: without these Chromium keeps trying to reach Google's hosts.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--window-size={width},{height}", "--autoplay-policy=no-user-gesture-required", *flags):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        phone(driver, width, height)
        yield driver
    finally:
        driver.quit()


def phone(driver: Any, width: int, height: int = 915, *, zoom: float = 1.0, text: float = 1.0) -> None:
    """A phone screen `width` CSS pixels wide at `zoom` (200 % zoom halves the CSS width, as a phone's
    browser does), with the reader's text size at `text` (Android's font scaling: the default font
    size the page's rem and % sizes start from)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": round(width / zoom), "height": round(height / zoom), "deviceScaleFactor": 2.625 * zoom,
        "mobile": True})
    driver.execute_cdp_cmd("Page.setFontSizes", {"fontSizes": {"standard": round(16 * text),
                                                               "fixed": round(13 * text)}})


def overflowing(driver: Any) -> list[str]:
    """What sticks out past the right edge of the screen (the page would scroll sideways), as short
    descriptions of the elements; [] when everything reflows."""
    return list(driver.execute_script("""
        var width = document.documentElement.clientWidth, out = [];
        if (document.documentElement.scrollWidth > width + 1) out.push("page scrolls sideways: " +
            document.documentElement.scrollWidth + " > " + width);
        document.querySelectorAll("body *").forEach(function (e) {
          var r = e.getBoundingClientRect();
          if (r.width && r.right > width + 1 && getComputedStyle(e).position !== "absolute")
            out.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + " right=" + Math.round(r.right));
        });
        return out;"""))


def unusable(driver: Any, selector: str, min_px: int = 48) -> list[str]:
    """Controls matching `selector` that a finger cannot press: not shown, cut off by the screen's
    edges, or smaller than `min_px` CSS pixels in either direction (WCAG 2.5.5's 44 px, Android's 48)."""
    return list(driver.execute_script("""
        var width = document.documentElement.clientWidth, min = arguments[1], out = [];
        document.querySelectorAll(arguments[0]).forEach(function (e) {
          var r = e.getBoundingClientRect(), name = e.tagName.toLowerCase() + " '" +
              (e.getAttribute("aria-label") || e.textContent || "").trim().slice(0, 30) + "'";
          if (!r.width || !r.height) out.push(name + " has no size");
          else if (r.left < -1 || r.right > width + 1) out.push(name + " is cut off at the edge");
          else if (r.width < min || r.height < min)
            out.push(name + " is " + Math.round(r.width) + "x" + Math.round(r.height));
        });
        return out;""", selector, min_px))


def axe_violations(driver: Any, impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.x A/AA audit of the page as it is now: the violations of `impacts`, each with
    its rule id, impact, help text and the first offending elements."""
    if not AXE.exists():
        _unavailable(f"axe-core is not installed at {AXE} (make setup-system)")
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    driver.set_script_timeout(60)
    result = driver.execute_async_script("""
        var done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
                           resultTypes: ["violations"]})
           .then(function (r) { done(r.violations); }, function (e) { done({error: String(e)}); });""")
    if isinstance(result, dict):
        raise AssertionError(f"axe-core failed: {result['error']}")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [" ".join(n["target"]) if isinstance(n["target"], list) else str(n["target"])
                       for n in v["nodes"][:3]]}
            for v in result if v.get("impact") in impacts]
