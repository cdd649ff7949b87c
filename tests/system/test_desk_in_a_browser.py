"""The station's desk in Debian's Chromium, as a nurse uses it on a phone: a session made in the page,
residents booked through the JSON booking API, the roster showing them, a check-in by typed code (the
name shown first, to compare with the card); then the connection drops (DevTools' offline network), two
more are checked in, the page is reloaded from the device's copy, and when the connection returns both
are sent — each recorded once. And the QR button: the camera opened and a decoded code fed into the same
check-in, or a clear word when the camera is refused (the decoder is faked here; qr-scan.js brings the
real one, tested with it)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.audit.models import AuditEntry
from api.bookings.models import Booking
from api.core.clock import local_tz
from api.core.db import Database
from api.core.migrate import upgrade
from api.main import create_app
from api.staff.service import create_staff
from tests.support.browser import axe_violations, chromium, overflowing
from tests.support.env import chat_headers, make_settings, service_credential
from tests.support.servers import free_port
from tests.support.world import World, booked, person

pytestmark = pytest.mark.slow

PASSWORD = "mat-khau-ban-kham-123"


class Server:
    """The API in a thread on one port, which a test can switch off and on again: the connection gone for
    everything on the phone, its service worker included (DevTools' offline network covers the page, not
    the worker)."""

    def __init__(self, app: Any) -> None:
        self.app, self.port = app, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Desk:
    base: str
    server: Server
    database: Database
    api: TestClient
    station: str
    commune_id: int
    site_id: int


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    tmp: Path = tmp_path_factory.mktemp("desk")
    settings = make_settings(f"sqlite:///{tmp / 'desk.db'}", tmp)
    database = Database.from_settings(settings)
    upgrade(database.writer)
    app = create_app(settings, database)
    headers = {"Authorization": f"Bearer {service_credential(database)}", **chat_headers()}
    server = Server(app)
    server.start()
    with TestClient(app, headers=headers) as api:
        admin = f"admin-{uuid.uuid4().hex[:6]}"
        with database.write() as db:
            create_staff(db=db, actor=None, username=admin, password=PASSWORD, role="admin")
        token = api.post("/api/v1/auth/token", data={"username": admin, "password": PASSWORD}).json()["access_token"]
        world = World(api, {"Authorization": f"Bearer {token}"})
        commune = world.commune("Hữu Liên")
        site = world.site(commune["id"])
        station = f"station-{uuid.uuid4().hex[:6]}"
        with database.write() as db:
            create_staff(db=db, actor=None, username=station, password=PASSWORD, role="station",
                         commune_id=commune["id"])
        yield Desk(server.base, server, database, api, station, commune["id"], site["id"])
    server.stop()
    database.dispose()


def log_in(driver: Any, desk: Desk) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{desk.base}/studio/login")
    driver.find_element(By.ID, "username").send_keys(desk.station)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 15).until(lambda d: "/studio/login" not in d.current_url)


def offline(driver: Any, yes: bool) -> None:
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": yes, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})


def statuses(desk: Desk, codes: list[str]) -> dict[str, str]:
    with desk.database.read() as db:
        found = db.execute(select(Booking.code, Booking.status).where(Booking.code.in_(codes)))
        return dict(found.all())


def attendance_entries(desk: Desk, codes: list[str]) -> dict[str, int]:
    with desk.database.read() as db:
        found = db.scalars(select(AuditEntry.entity_id).where(AuditEntry.action == "booking.attendance",
                                                              AuditEntry.entity_id.in_(codes))).all()
    return {code: found.count(code) for code in codes}


def set_value(driver: Any, element_id: str, value: str) -> None:
    # Date and time fields take typed text by the browser's locale: set them as the form sends them.
    driver.execute_script("document.getElementById(arguments[0]).value = arguments[1];", element_id, value)


def test_a_day_at_the_desk_with_the_connection_coming_and_going(browser: Any, desk: Desk) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 20)
    log_in(browser, desk)

    # A session made in the page.
    browser.get(f"{desk.base}/studio/desk/sessions")
    day = (datetime.now(local_tz()) + timedelta(days=2)).date()
    Select(browser.find_element(By.ID, "site_id")).select_by_value(str(desk.site_id))
    set_value(browser, "day", day.isoformat())
    set_value(browser, "start", "07:30")
    set_value(browser, "end", "11:00")
    capacity = browser.find_element(By.ID, "capacity")
    capacity.clear()
    capacity.send_keys("10")
    browser.find_element(By.ID, "create-session").click()
    wait.until(lambda d: d.find_elements(By.ID, "created"))
    link = browser.find_element(By.CSS_SELECTOR, ".desk-sessions tbody tr td a")
    session_id = int(link.get_attribute("href").rsplit("/", 1)[1])

    # Residents book through the JSON booking API, as the assistant does.
    names = ["Nông Thị Mai", "Hoàng Văn Páo", "Lý Thị Dín"]
    codes = [booked(desk.api, session_id, {**person(desk.commune_id), "full_name": name})["code"] for name in names]

    roster = f"{desk.base}/studio/desk/sessions/{session_id}"
    browser.get(roster)
    table = browser.find_element(By.ID, "roster")
    assert all(name in table.text for name in names)

    # Check-in by the typed code: the name shows before anything is marked.
    code_field = browser.find_element(By.ID, "code")
    code_field.send_keys(f"{codes[0][:4].lower()}-{codes[0][4:].lower()}")
    wait.until(lambda d: "Nông Thị Mai" in d.find_element(By.ID, "found").text)
    assert statuses(desk, codes)[codes[0]] == "confirmed"
    browser.find_element(By.ID, "mark-present").click()
    wait.until(lambda d: statuses(desk, codes)[codes[0]] == "attended")
    row = browser.find_element(By.ID, f"booking-{codes[0]}")
    wait.until(lambda d: row.find_element(By.CLASS_NAME, "desk-status").text == "Đã đến")

    # The connection drops: two more are checked in, on the device.
    offline(browser, True)
    try:
        code_field.send_keys(codes[1])
        wait.until(lambda d: "Hoàng Văn Páo" in d.find_element(By.ID, "found").text)
        browser.find_element(By.ID, "mark-present").click()
        browser.find_element(By.CSS_SELECTOR, f'button[value="{codes[2]}:1"]').click()
        sync = browser.find_element(By.ID, "sync")
        wait.until(lambda d: "Chưa gửi: 2 người" in sync.text)
        assert "mất mạng" in sync.text
        assert browser.find_element(By.ID, "n-attended").text == "3"
        assert statuses(desk, codes) == {codes[0]: "attended", codes[1]: "confirmed", codes[2]: "confirmed"}

        # The page reloaded without a connection comes from the device's copy (it does not know of a
        # booking made since), the queue still on it.
        late = booked(desk.api, session_id, {**person(desk.commune_id), "full_name": "Người Đặt Muộn"})
        desk.server.stop()
        try:
            browser.refresh()
            wait.until(lambda d: d.find_elements(By.ID, "roster"))
        finally:
            desk.server.start()
        assert "Người Đặt Muộn" not in browser.find_element(By.ID, "roster").text
        # The copy was taken again once the first check-in was sent: it shows it.
        first = browser.find_element(By.ID, f"booking-{codes[0]}").find_element(By.CLASS_NAME, "desk-status")
        assert first.text == "Đã đến"
        wait.until(lambda d: "Chưa gửi: 2 người" in d.find_element(By.ID, "sync").text)
        pending = browser.find_element(By.ID, f"booking-{codes[2]}").find_element(By.CLASS_NAME, "desk-status")
        assert pending.text == "Đã đến (chưa gửi)"
    finally:
        offline(browser, False)

    # Back online: both are sent, once each.
    wait.until(lambda d: "Đã gửi hết" in d.find_element(By.ID, "sync").text)
    assert statuses(desk, codes) == dict.fromkeys(codes, "attended")
    assert attendance_entries(desk, codes) == dict.fromkeys(codes, 1)
    assert browser.execute_script("return localStorage.getItem('ksk-desk-queue:' + arguments[0])",
                                  desk.station) is None
    status = browser.find_element(By.ID, f"booking-{codes[2]}").find_element(By.CLASS_NAME, "desk-status")
    assert status.text == "Đã đến"
    browser.refresh()  # online again: the page from the server, with the late booking
    assert "Người Đặt Muộn" in browser.find_element(By.ID, f"booking-{late['code']}").text

    # Logging out (a shared computer) takes the device's copies of the desk's pages with it.
    assert browser.execute_async_script("caches.keys().then(arguments[0])") == ["ksk-desk-v1"]
    browser.find_element(By.CSS_SELECTOR, 'form[action="/studio/logout"] button').click()
    wait.until(lambda d: "/studio/login" in d.current_url)
    assert browser.execute_async_script("caches.keys().then(arguments[0])") == []


def test_the_roster_filters_by_name_without_diacritics_and_passes_the_audit(browser: Any, desk: Desk) -> None:
    from selenium.webdriver.common.by import By

    start = datetime.now(local_tz()) + timedelta(days=4)
    token = desk.api.post("/api/v1/auth/token", data={"username": desk.station, "password": PASSWORD})
    made = desk.api.post("/api/v1/sessions", headers={"Authorization": f"Bearer {token.json()['access_token']}"},
                         json={"site_id": desk.site_id, "starts_at": start.isoformat(),
                               "ends_at": (start + timedelta(hours=3)).isoformat(), "capacity": 2})
    session_id = made.json()["id"]
    for name in ("Đặng Thị Lụa", "Vi Văn Nam", "Triệu Thị Chờ"):
        booked(desk.api, session_id, {**person(desk.commune_id), "full_name": name})
    log_in(browser, desk)
    browser.get(f"{desk.base}/studio/desk/sessions/{session_id}")
    browser.find_element(By.ID, "filter").send_keys("dang thi")
    shown = [row.find_element(By.CLASS_NAME, "desk-name").text
             for row in browser.find_elements(By.CSS_SELECTOR, "#roster tbody tr") if row.is_displayed()]
    assert shown == ["Đặng Thị Lụa"]
    assert browser.find_element(By.ID, "waiting").text.count("Triệu Thị Chờ") == 1
    assert axe_violations(browser) == []
    assert overflowing(browser) == []


@pytest.fixture(scope="module")
def camera_browser() -> Iterator[Any]:
    """A Chromium whose camera is a fake device that says yes without asking."""
    with chromium(flags=("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")) as driver:
        yield driver


# The hook qr-scan.js fills (its real decoding is tests/system/test_qr_scan.py's): here a stand-in that
# "reads" whatever is put in window.__qrText while the video plays and records that it was stopped; the
# page's own qr-scan.js, loaded after it, cannot replace it.
FAKE_DECODER = """
Object.defineProperty(window, "kskScanQr", {configurable: false, get: function () {
  return function (video, onCode) {
    window.__scanVideo = video;
    var timer = setInterval(function () {
      if (window.__qrText && video.srcObject) onCode(window.__qrText);
    }, 100);
    return function () { clearInterval(timer); window.__scannerStopped = true; };
  };
}, set: function () {}});"""


def test_a_scanned_qr_code_goes_into_the_same_check_in(camera_browser: Any, desk: Desk) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver, wait = camera_browser, WebDriverWait(camera_browser, 20)
    session_id = desk.api.get("/api/v1/sessions", params={"commune_id": desk.commune_id}).json()["items"][0]["id"]
    code = booked(desk.api, session_id, {**person(desk.commune_id), "full_name": "Mã Văn Quét"})["code"]
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FAKE_DECODER})
    log_in(driver, desk)
    driver.get(f"{desk.base}/studio/desk/sessions/{session_id}")
    scan = driver.find_element(By.ID, "scan")
    assert scan.is_displayed()
    scan.click()
    wait.until(lambda d: d.find_element(By.ID, "scan-video").is_displayed())
    assert driver.execute_script("return window.__scanVideo.srcObject.getVideoTracks()[0].readyState") == "live"
    driver.execute_script("window.__qrText = 'không phải mã'")  # something else in view: keeps looking
    driver.execute_script("window.__qrText = arguments[0]", code)
    wait.until(lambda d: "Mã Văn Quét" in d.find_element(By.ID, "found").text)
    assert driver.find_element(By.ID, "code").get_attribute("value") == code
    assert driver.execute_script("return window.__scannerStopped === true && window.__scanVideo.srcObject === null")
    assert not driver.find_element(By.ID, "scan-video").is_displayed()
    driver.switch_to.active_element.click()  # "Có mặt" has the focus
    wait.until(lambda d: statuses(desk, [code])[code] == "attended")


def test_a_refused_camera_is_said_plainly(desk: Desk) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium(flags=("--use-fake-device-for-media-stream",)) as driver:
        driver.execute_cdp_cmd("Browser.setPermission", {"permission": {"name": "camera"}, "setting": "denied",
                                                         "origin": desk.base})
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FAKE_DECODER})
        log_in(driver, desk)
        session_id = desk.api.get("/api/v1/sessions",
                                  params={"commune_id": desk.commune_id}).json()["items"][0]["id"]
        driver.get(f"{desk.base}/studio/desk/sessions/{session_id}")
        driver.find_element(By.ID, "scan").click()
        message = driver.find_element(By.ID, "scan-message")
        WebDriverWait(driver, 10).until(lambda d: message.is_displayed())
        assert "chưa cho trang này dùng camera" in message.text
        assert not driver.find_element(By.ID, "scan-video").is_displayed()
        assert driver.find_element(By.ID, "code").is_enabled()  # typing the code still works


def test_a_check_in_the_server_refuses_when_sent_is_shown_not_dropped(browser: Any, desk: Desk) -> None:
    """A code typed without a connection that the list does not hold is kept and sent later; if the
    server refuses it then, the page says so — and "Vắng" marks absent, by click or by code."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)
    session_id = desk.api.get("/api/v1/sessions", params={"commune_id": desk.commune_id}).json()["items"][0]["id"]
    absent = booked(desk.api, session_id, {**person(desk.commune_id), "full_name": "Hà Văn Vắng"})["code"]
    log_in(browser, desk)
    browser.get(f"{desk.base}/studio/desk/sessions/{session_id}")
    offline(browser, True)
    try:
        code_field = browser.find_element(By.ID, "code")
        code_field.send_keys("AAAA-AAAA")  # well formed, booked by nobody
        browser.find_element(By.ID, "mark-present").click()
        browser.find_element(By.CSS_SELECTOR, f'button[value="{absent}:0"]').click()
        wait.until(lambda d: "Chưa gửi: 2 người" in d.find_element(By.ID, "sync").text)
    finally:
        offline(browser, False)
    failed = browser.find_element(By.ID, "sync-failed")
    wait.until(lambda d: failed.is_displayed() and "AAAAAAAA" in failed.text)
    assert "Không ghi được" in failed.text and "Xin kiểm tra lại mã" in failed.text
    wait.until(lambda d: statuses(desk, [absent])[absent] == "no_show")
    browser.refresh()  # kept until the nurse has read it
    failed = browser.find_element(By.ID, "sync-failed")
    assert "AAAAAAAA" in failed.text
    failed.find_element(By.TAG_NAME, "button").click()
    assert not browser.find_element(By.ID, "sync-failed").is_displayed()
