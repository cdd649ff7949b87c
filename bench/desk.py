"""The day's roster at the desk on a slow mobile connection: a session of 200 booked residents (and a
waitlist), the roster page opened by a station account in Debian's Chromium on a phone-sized screen
under DevTools' throttling profiles — cold (nothing on the device) and warm (the browser's cache holds
the page's files; the page itself is always fetched, it holds the day's list). The desk's service
worker is bypassed while measuring: DevTools' throttling does not reach a worker's own fetches, so
through it every load would look fast; it fetches the page from the network first anyway, and its
copy only serves when there is no network (tests/system/test_desk_in_a_browser.py).

    .venv/bin/python bench/desk.py [--people 200] [--waiting 10] [--runs 3]

Prints the page's weight (the HTML as sent — the API sends it uncompressed, and deploy/nginx.conf.j2
does not gzip it — and what gzip makes of it), the server's time to render it, and per profile the
bytes on the wire and the time to the list shown (DOMContentLoaded), to the page loaded, and to the
desk ready (desk.js has set up check-in), medians of the runs; once as the API sends the page, once
through a gzip layer standing in for nginx's `gzip on` (Starlette's GZipMiddleware, here only).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from starlette.middleware.gzip import GZipMiddleware  # noqa: E402

from api.core.clock import local_tz  # noqa: E402
from api.core.db import Database  # noqa: E402
from api.core.migrate import upgrade  # noqa: E402
from api.main import create_app  # noqa: E402
from api.staff.service import create_staff  # noqa: E402
from tests.support.browser import chromium  # noqa: E402
from tests.support.env import chat_headers, make_settings, service_credential  # noqa: E402
from tests.support.servers import app_in_thread  # noqa: E402
from tests.support.world import World, booked, person  # noqa: E402

PASSWORD = "mat-khau-bench-123"
# Chrome DevTools' presets (front_end/core/sdk/NetworkManager.ts): bytes per second and round trip ms.
PROFILES = {
    "Slow 3G": {"latency": 2000, "downloadThroughput": 500_000 / 8 * 0.8, "uploadThroughput": 500_000 / 8 * 0.8},
    "3G (Fast 3G)": {"latency": 562.5, "downloadThroughput": 1_600_000 / 8 * 0.9,
                     "uploadThroughput": 750_000 / 8 * 0.9},
}
SURNAMES = ("Nông", "Hoàng", "Lý", "Vi", "Đặng", "Triệu", "Lương", "Mã", "Chu", "Lâm")
GIVEN = ("Thị Mai", "Văn Páo", "Thị Dín", "Văn Nam", "Thị Lụa", "Văn Chiến", "Thị Nguyệt", "Văn Tùng", "Thị Hoa",
         "Văn Sáng", "Thị Xuân", "Văn Lả")
CHANNELS = ("zalo", "zalo", "telegram", "web")


def populate(client: TestClient, database: Database, people: int, waiting: int) -> tuple[int, str]:
    """A commune, its station, a session for `people` with `waiting` more on its waitlist; (id, station)."""
    with database.write() as db:
        create_staff(db=db, actor=None, username="bench-admin", password=PASSWORD, role="admin")
    token = client.post("/api/v1/auth/token", data={"username": "bench-admin", "password": PASSWORD}).json()
    world = World(client, {"Authorization": f"Bearer {token['access_token']}"})
    commune = world.commune("Hữu Liên")
    site = world.site(commune["id"])
    start = datetime.now(local_tz()).replace(hour=7, minute=30, second=0, microsecond=0) + timedelta(days=1)
    made = client.post("/api/v1/sessions", headers=world.admin, json={
        "site_id": site["id"], "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=4)).isoformat(),
        "capacity": people})
    session_id = int(made.json()["id"])
    for index in range(people + waiting):
        resident = {**person(commune["id"], year=1940 + index % 60, index=index),
                    "full_name": f"{SURNAMES[index % len(SURNAMES)]} {GIVEN[index // len(SURNAMES) % len(GIVEN)]}"}
        booked(client, session_id, resident, channel=CHANNELS[index % len(CHANNELS)])
    station = f"station-{uuid.uuid4().hex[:6]}"
    with database.write() as db:
        create_staff(db=db, actor=None, username=station, password=PASSWORD, role="station",
                     commune_id=commune["id"])
    return session_id, station


def page_figures(app: Any, station: str, session_id: int, runs: int) -> dict[str, float]:
    with TestClient(app) as browser:
        browser.post("/studio/login", data={"username": station, "password": PASSWORD})
        timings, body = [], b""
        for _ in range(max(runs, 5)):
            started = time.perf_counter()
            body = browser.get(f"/studio/desk/sessions/{session_id}").content
            timings.append(time.perf_counter() - started)
    return {"html": len(body), "gzip": len(gzip.compress(body, 6)), "render_ms": statistics.median(timings) * 1000}


LOAD = """
var nav = performance.getEntriesByType("navigation")[0];
var files = performance.getEntriesByType("resource");
return {dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
        ready: window.__deskReady || null, document: nav.transferSize,
        files: files.reduce(function (sum, f) { return sum + f.transferSize; }, 0),
        rows: document.querySelectorAll("#roster tbody tr").length};"""
# When desk.js has set up the roster (it adds the print button last but one, before the first sync).
MARK_READY = """
new MutationObserver(function (changes, observer) {
  if (document.getElementById("print")) { window.__deskReady = performance.now(); observer.disconnect(); }
}).observe(document, {childList: true, subtree: true});"""


def browser_figures(base: str, station: str, session_id: int, runs: int) -> dict[str, dict[str, list[float]]]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    results: dict[str, dict[str, list[float]]] = {}
    with chromium() as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": MARK_READY})
        driver.get(f"{base}/studio/login")
        driver.find_element(By.ID, "username").send_keys(station)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "login").click()
        WebDriverWait(driver, 30).until(lambda d: "/studio/login" not in d.current_url)
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setBypassServiceWorker", {"bypass": True})
        roster = f"{base}/studio/desk/sessions/{session_id}"
        for name, profile in PROFILES.items():
            for state in ("cold", "files cached"):
                seen: dict[str, list[float]] = {}
                for _ in range(runs):
                    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, **profile})
                    if state == "cold":
                        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
                    else:
                        driver.get(roster)  # the files kept by the browser
                        WebDriverWait(driver, 120).until(lambda d: d.execute_script("return window.__deskReady"))
                    driver.get(roster)
                    WebDriverWait(driver, 120).until(lambda d: d.execute_script(
                        "return document.readyState === 'complete' && window.__deskReady"))
                    for key, value in driver.execute_script(LOAD).items():
                        seen.setdefault(key, []).append(float(value or 0))
                results[f"{name}, {state}"] = seen
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--waiting", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-desk-") as tmp:
        workdir = Path(tmp)
        settings = make_settings(f"sqlite:///{workdir / 'desk.db'}", workdir)
        database = Database.from_settings(settings)
        upgrade(database.writer)
        app = create_app(settings, database)
        headers = {"Authorization": f"Bearer {service_credential(database)}", **chat_headers()}
        with TestClient(app, headers=headers) as client:
            session_id, station = populate(client, database, args.people, args.waiting)
        page = page_figures(app, station, session_id, args.runs)
        loads = {}
        for variant, served in (("as sent", app), ("gzip", GZipMiddleware(app, minimum_size=1000))):
            with app_in_thread(served) as base:
                for name, seen in browser_figures(base, station, session_id, args.runs).items():
                    loads[f"{name}, {variant}"] = seen
        database.dispose()
    print(f"Roster of {args.people} booked + {args.waiting} waiting (SQLite, one server, median of {args.runs}):")
    print(f"  HTML as sent {page['html'] / 1024:.1f} KiB (gzip would send {page['gzip'] / 1024:.1f} KiB); "
          f"rendered by the server in {page['render_ms']:.0f} ms")
    print(f"  {'profile, files, page':<38}{'page KiB':>9}{'files KiB':>10}{'list shown':>11}{'loaded':>9}"
          f"{'desk ready':>11}{'rows':>6}")
    for name, seen in loads.items():
        median = {key: statistics.median(values) for key, values in seen.items()}
        print(f"  {name:<38}{median['document'] / 1024:>9.1f}{median['files'] / 1024:>10.1f}"
              f"{median['dcl'] / 1000:>10.2f}s{median['load'] / 1000:>8.2f}s{median['ready'] / 1000:>10.2f}s"
              f"{median['rows']:>6.0f}")


if __name__ == "__main__":
    main()
