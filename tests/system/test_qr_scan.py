"""The desk reads a booking code's QR code with its camera (api/studio/static/qr-scan.js), here Chromium's
fake camera playing a video made from the API's own QR image: the code comes back canonical, once; other QR
codes are passed over; the camera goes off when the scan ends, unless the page opened it (desk.js does);
all under the staff pages' CSP (no inline script). Headless Chromium on Linux has no BarcodeDetector, so
the frames are read by the vendored jsQR; the BarcodeDetector path is driven by a stand-in for it. Last,
the whole way at the desk: a booking's QR code, as the confirmation shows it, scanned on the session's
roster page (/studio/desk/sessions/{id}) fills in the code and shows the person's name."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import segno
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.testclient import TestClient
from starlette.staticfiles import StaticFiles

from api.bookings.qr import booking_qr_png
from api.core.db import Database
from api.core.migrate import upgrade
from api.main import create_app
from api.staff.service import create_staff
from api.studio.headers import SecurityHeaders
from common import booking_codes
from tests.support.browser import chromium
from tests.support.env import IN_CI, ROOT, chat_headers, make_settings, service_credential
from tests.support.servers import app_in_thread, wait_for
from tests.support.world import World, booked, person

pytestmark = pytest.mark.slow

STATIC = ROOT / "api" / "studio" / "static"
CODE = "KE3MX7PA"

# The page's own script (a file, as the CSP wants): ?mode=own lets kskScanQr open the camera; ?mode=page opens
# it first, as desk.js does; ?native=1 stands in a BarcodeDetector that "sees" a link, then a typed-looking code.
PAGE_SCRIPT = """
(function () {
  var params = new URLSearchParams(location.search), video = document.getElementById("v");
  var out = function (id, text) { document.getElementById(id).textContent = text; };
  window.seen = [];
  if (params.get("native")) {
    var answers = [[{rawValue: "https://example.org/"}], [{rawValue: "ke3m-x7pa"}]];
    window.BarcodeDetector = function () {};
    window.BarcodeDetector.getSupportedFormats = function () { return Promise.resolve(["qr_code", "ean_13"]); };
    window.BarcodeDetector.prototype.detect = function (frame) {
      window.seen.push(frame === video ? "video" : "other");
      return Promise.resolve(answers.length > 1 ? answers.shift() : answers[0]);
    };
  } else {
    delete window.BarcodeDetector;
  }
  function start() {
    var calls = 0;
    window.stopScan = window.kskScanQr(video, function (code) {
      calls += 1;
      out("code", code + " " + calls);
    }, function (problem) { out("problem", problem); });
  }
  function wrapJsQr() {  // what jsQR read, to see the codes passed over
    var real = window.jsQR;
    window.jsQR = function (data, width, height, options) {
      var found = real(data, width, height, options);
      if (found) window.seen.push(found.data);
      return found;
    };
  }
  if (window.jsQR) wrapJsQr();
  if (params.get("mode") === "page") {
    navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}}).then(function (stream) {
      window.pageStream = stream;
      video.srcObject = stream;
      video.play();
      start();
    });
  } else {
    start();
  }
})();
"""


def page(preload_jsqr: bool) -> str:
    jsqr = '<script src="/studio/static/vendor/jsQR.js"></script>' if preload_jsqr else ""
    return f"""<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Quét mã</title>
{jsqr}<script src="/studio/static/qr-scan.js"></script><script src="/studio/test/page.js" defer></script></head>
<body><video id="v" playsinline muted></video><output id="code"></output><output id="problem"></output></body></html>"""


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The studio's static files and a bare page that scans, with the studio's security headers."""
    app = FastAPI()

    @app.get("/studio/test/scan", response_class=HTMLResponse)
    def scan_page(jsqr: int = 0) -> str:
        return page(bool(jsqr))

    @app.get("/studio/test/page.js")
    def page_script() -> Response:
        return Response(PAGE_SCRIPT, media_type="text/javascript")

    app.mount("/studio/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)
    with app_in_thread(app) as base:
        yield base


def camera_video(tmp_path: Path, *images: bytes) -> Path:
    """A 640×480 video for Chromium's fake camera: each PNG for two seconds, centred on white (the first
    one first; Chromium plays the file in a loop)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        reason = "ffmpeg is not installed (make setup-system)"
        if IN_CI:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    inputs: list[str] = []
    for index, image in enumerate(images):
        path = tmp_path / f"qr-{index}.png"
        path.write_bytes(image)
        inputs += ["-loop", "1", "-t", "2", "-framerate", "5", "-i", str(path)]
    pads = "".join(f"[{i}:v]pad=640:480:(ow-iw)/2:(oh-ih)/2:white,setsar=1[p{i}];" for i in range(len(images)))
    joined = "".join(f"[p{i}]" for i in range(len(images)))
    video = tmp_path / "camera.y4m"
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", *inputs, "-filter_complex",
                    f"{pads}{joined}concat=n={len(images)}:v=1:a=0,format=yuv420p[out]", "-map", "[out]",
                    "-r", "5", str(video)], check=True, timeout=120)
    return video


def fake_camera(video: Path) -> tuple[str, ...]:
    return ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}")


def scanned(driver: Any) -> str:
    return str(driver.execute_script(
        "return document.getElementById('code').textContent || document.getElementById('problem').textContent"))


def other_qr(text: str) -> bytes:
    buffer = io.BytesIO()
    segno.make_qr(text, error="m").save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


def test_the_code_on_a_phone_screen_is_read_once_and_the_camera_goes_off(site: str, tmp_path: Path) -> None:
    with chromium(flags=fake_camera(camera_video(tmp_path, booking_qr_png(CODE)))) as driver:
        driver.get(f"{site}/studio/test/scan?mode=own")
        wait_for(lambda: scanned(driver), timeout_s=20, what=lambda: driver.get_log("browser"))
        assert scanned(driver) == f"{CODE} 1"
        # The camera it opened is closed, and nothing more is reported.
        assert driver.execute_script("return document.getElementById('v').srcObject") is None
        driver.execute_script("return new Promise(function (done) { setTimeout(done, 800); })")
        assert scanned(driver) == f"{CODE} 1"
        # jsQR was loaded beside qr-scan.js, from the studio, under its CSP.
        assert driver.execute_script("return typeof window.jsQR") == "function"
        csp = [e for e in driver.get_log("browser") if "Content Security Policy" in e.get("message", "")]
        assert csp == []


def test_other_qr_codes_are_passed_over_and_a_camera_the_page_opened_stays_its_own(
        site: str, tmp_path: Path) -> None:
    link = "https://zalo.me/ksk-oa"
    with chromium(flags=fake_camera(camera_video(tmp_path, other_qr(link), booking_qr_png(CODE)))) as driver:
        driver.get(f"{site}/studio/test/scan?mode=page&jsqr=1")
        wait_for(lambda: scanned(driver), timeout_s=20, what=lambda: driver.get_log("browser"))
        assert scanned(driver) == f"{CODE} 1"
        assert link in driver.execute_script("return window.seen")  # read, and not taken for a code
        live = driver.execute_script(
            "return window.pageStream.getVideoTracks().map(function (t) { return t.readyState; })")
        assert live == ["live"]  # desk.js closes the camera it opened itself


def test_the_browsers_barcode_detector_is_used_where_there_is_one(site: str, tmp_path: Path) -> None:
    with chromium(flags=fake_camera(camera_video(tmp_path, booking_qr_png(CODE)))) as driver:
        driver.get(f"{site}/studio/test/scan?mode=own&native=1")
        wait_for(lambda: scanned(driver), timeout_s=20, what=lambda: driver.get_log("browser"))
        assert scanned(driver) == f"{CODE} 1"  # the link passed over, the code made canonical
        assert driver.execute_script("return window.seen")[:2] == ["video", "video"]
        assert driver.execute_script("return typeof window.jsQR") == "undefined"  # not loaded at all


def test_without_a_camera_the_page_is_told_why(site: str) -> None:
    with chromium(flags=("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                         "--use-file-for-fake-video-capture=/nonexistent.y4m")) as driver:
        driver.get(f"{site}/studio/test/scan?mode=own")
        wait_for(lambda: scanned(driver), timeout_s=20, what=lambda: driver.get_log("browser"))
        assert scanned(driver) in ("no_camera", "failed")


def test_the_scripts_booking_codes_are_the_shared_kernels() -> None:
    source = (STATIC / "qr-scan.js").read_text(encoding="utf-8")
    alphabet, length = re.search(r'var ALPHABET = "([^"]+)"', source), re.search(r"var LENGTH = (\d+);", source)
    assert alphabet is not None and alphabet.group(1) == booking_codes.ALPHABET
    assert length is not None and int(length.group(1)) == booking_codes.LENGTH


PASSWORD = "mat-khau-quet-ma-123"


def test_at_the_desk_a_bookings_qr_code_fills_in_the_code_and_shows_whose_it_is(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    settings = make_settings(f"sqlite:///{tmp_path / 'desk.db'}", tmp_path)
    database = Database.from_settings(settings)
    upgrade(database.writer)
    app = create_app(settings, database)
    headers = {"Authorization": f"Bearer {service_credential(database)}", **chat_headers()}
    with TestClient(app, headers=headers) as api, app_in_thread(app) as base:
        admin, station = f"admin-{uuid.uuid4().hex[:6]}", f"station-{uuid.uuid4().hex[:6]}"
        with database.write() as db:
            create_staff(db=db, actor=None, username=admin, password=PASSWORD, role="admin")
        token = api.post("/api/v1/auth/token", data={"username": admin, "password": PASSWORD}).json()["access_token"]
        place = World(api, {"Authorization": f"Bearer {token}"}).place(capacity=5)
        with database.write() as db:
            create_staff(db=db, actor=None, username=station, password=PASSWORD, role="station",
                         commune_id=place["commune"]["id"])
        code = booked(api, place["session"]["id"], {**person(place["commune"]["id"]), "full_name": "Hoàng Thị Quét"})[
            "code"]
        # What the resident's phone shows: the confirmation's picture, from the API.
        picture = api.get(booking_codes.qr_path(code))
        assert picture.status_code == 200
        with chromium(flags=fake_camera(camera_video(tmp_path, picture.content))) as driver:
            wait = WebDriverWait(driver, 20)
            driver.get(f"{base}/studio/login")
            driver.find_element(By.ID, "username").send_keys(station)
            driver.find_element(By.ID, "password").send_keys(PASSWORD)
            driver.find_element(By.ID, "login").click()
            wait.until(lambda d: "/studio/login" not in d.current_url)
            driver.get(f"{base}/studio/desk/sessions/{place['session']['id']}")
            wait.until(lambda d: d.find_elements(By.ID, "scan"))
            driver.find_element(By.ID, "scan").click()
            wait.until(lambda d: d.find_element(By.ID, "code").get_attribute("value") == code)
            wait.until(lambda d: "Hoàng Thị Quét" in d.find_element(By.ID, "found").text)
            assert not driver.find_element(By.ID, "scan-video").is_displayed()  # the camera is off again
            csp = [e for e in driver.get_log("browser") if "Content Security Policy" in e.get("message", "")]
            assert csp == []
    database.dispose()
