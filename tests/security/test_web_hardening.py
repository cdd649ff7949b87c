"""The smaller web items of issue 15 (point 7) replayed: the staff pages send CSP, X-Frame-Options,
nosniff and Referrer-Policy and still work in a real browser under that policy; the login cookie's
Secure flag cannot be dropped by a client's own X-Forwarded-Proto; nginx keeps /metrics to this
machine, sends the address it saw (not the client's claim) and logs booking codes masked."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from jinja2 import Environment, FileSystemLoader

from api.core.config import Settings
from api.core.db import Database
from api.main import create_app
from api.staff.service import create_staff
from tests.support.browser import chromium
from tests.support.env import ROOT
from tests.support.servers import app_in_thread, free_port
from tests.support.world import World, csrf_of, person

PASSWORD = "mat-khau-dung-123"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_ATTRIBUTE = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
STYLE = re.compile(r"<style|\sstyle\s*=", re.IGNORECASE)


def account(database: Database, role: str = "admin", commune_id: int | None = None) -> str:
    username = f"{role}-{uuid.uuid4().hex[:6]}"
    with database.write() as db:
        create_staff(db=db, actor=None, username=username, password=PASSWORD, role=role, commune_id=commune_id)
    return username


def studio(settings: Settings, database: Database, **options: Any) -> TestClient:
    return TestClient(create_app(settings, database), raise_server_exceptions=False, **options)


def log_in(browser: TestClient, username: str, **headers: str) -> Any:
    response = browser.post("/studio/login", data={"username": username, "password": PASSWORD}, headers=headers,
                            follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


def test_every_studio_page_sends_the_headers_and_holds_no_inline_code(
        settings: Settings, database: Database, seeded_content: Database, world: World) -> None:
    commune = world.commune()
    session = world.session(world.site(commune["id"])["id"])
    browser = studio(settings, database)
    login_page = browser.get("/studio/login")
    log_in(browser, account(database))
    links = browser.get("/studio/links")
    browser.post("/studio/links", data={"csrf": csrf_of(links.text), "organisation": "phu_nu",
                                        "commune_id": commune["id"], "label": "Chi hội 1"})
    # A records import: its preview (a form's answer) and its result page.
    listed = person(commune["id"])
    preview = browser.post("/studio/records/import", data={"csrf": csrf_of(browser.get("/studio/records/import").text)},
                           files={"file": ("so.csv", f"cccd,ngay_sinh,trang_thai\n{listed['cccd']},"
                                                     f"{listed['birth_date']},created\n".encode())})
    held = re.search(r'name="held" value="([^"]+)"', preview.text)
    assert held, preview.text[:300]
    imported = browser.post("/studio/records/import/confirm", data={"csrf": csrf_of(preview.text),
                                                                     "held": held.group(1)}, follow_redirects=False)
    paths = ["/studio/faq", "/studio/faq/new", "/studio/faq/free_of_charge", "/studio/messages",
             "/studio/messages/utter_greet", "/studio/review", "/studio/unanswered", "/studio/audio",
             "/studio/audio/utter_greet", "/studio/links", f"/studio/book?commune_id={commune['id']}",
             "/studio/broadcasts", "/studio/reports", "/studio/reminders/templates",
             "/studio/reminders/templates/day_before", "/studio/reminders/report",
             "/studio/desk/sessions", f"/studio/desk/sessions/{session['id']}",
             f"/studio/desk/sessions/{session['id']}/edit", f"/studio/desk/sessions/{session['id']}/walk-in",
             "/studio/records/import", imported.headers["location"]]
    pages = [("/studio/login", login_page), ("/studio/records/import (preview)", preview),
             *((path, browser.get(path)) for path in paths)]
    for path, page in pages:
        assert page.status_code == 200, (path, page.text[:300])
        headers = page.headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, path
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store", path
        # Inline code would be blocked by the policy: none is left to be blocked.
        for pattern in (INLINE_SCRIPT, EVENT_ATTRIBUTE, STYLE):
            assert not pattern.search(page.text), (path, pattern.pattern, pattern.search(page.text))
    for asset, kind in (("/studio/static/studio.js", "javascript"), ("/studio/static/studio.css", "text/css"),
                        ("/studio/static/desk.js", "javascript"), ("/studio/static/desk.css", "text/css"),
                        ("/studio/desk/sw.js", "javascript")):
        served = browser.get(asset)
        assert served.status_code == 200 and kind in served.headers["content-type"], asset
        assert served.headers["X-Content-Type-Options"] == "nosniff"
    # The QR image and a redirect carry the headers too; the JSON API gets nosniff.
    qr = re.search(r'src="(/studio/links/[^"]+/qr\.svg)"', browser.get("/studio/links").text)
    assert qr, "the created link's QR code is on the page"
    for response in (browser.get(qr.group(1)), browser.get("/studio/", follow_redirects=False)):
        assert response.headers["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in response.headers
    api = browser.get("/api/v1/health")
    assert api.headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" not in api.headers


@pytest.mark.slow
def test_the_studio_still_works_in_a_browser_under_its_policy(
        settings: Settings, database: Database, seeded_content: Database, world: World) -> None:
    """The moved scripts and styles run in Chromium and nothing on the pages trips the policy."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    communes = [world.commune("Hữu Liên"), world.commune("Thiện Tân")]
    world.session(world.site(communes[1]["id"])["id"])
    username = account(database)
    with app_in_thread(create_app(settings, database)) as base, chromium() as driver:
        # Violations are collected by a listener installed before any page script runs.
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
            "window.__violations = []; document.addEventListener('securitypolicyviolation',"
            " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));")})
        wait = WebDriverWait(driver, 15)
        driver.get(f"{base}/studio/login")
        driver.find_element(By.ID, "username").send_keys(username)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "login").click()
        wait.until(lambda d: "/studio/faq" in d.current_url)
        # Styles come from the file: the header is the programme's green.
        header = driver.find_element(By.TAG_NAME, "header")
        assert header.value_of_css_property("background-color") in ("rgba(11, 110, 79, 1)", "rgb(11, 110, 79)")

        driver.get(f"{base}/studio/faq/free_of_charge")
        answer = driver.find_element(By.ID, "answer_vi")
        answer.clear()
        answer.send_keys("Khám miễn phí")
        assert driver.find_element(By.ID, "preview").text == "Khám miễn phí"  # live preview ran

        driver.get(f"{base}/studio/book")
        Select(driver.find_element(By.ID, "commune")).select_by_value(str(communes[1]["id"]))
        wait.until(lambda d: f"commune_id={communes[1]['id']}" in d.current_url)  # the select submitted itself
        assert driver.find_elements(By.ID, "session_id")
        assert driver.execute_script("return window.__violations") == []


def cookie_of(response: Any) -> str:
    return next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("ksk_staff="))


def test_the_login_cookie_keeps_secure_whatever_a_client_claims(settings: Settings, database: Database) -> None:
    username = account(database, "editor")

    def cookie(settings: Settings = settings, **options: Any) -> str:
        headers = options.pop("headers", {})
        return cookie_of(log_in(studio(settings, database, **options), username, **headers))

    plain = cookie()
    assert "HttpOnly" in plain and "SameSite=strict" in plain and "Path=/studio" in plain
    assert "Secure" not in plain  # plain HTTP on a development machine: a Secure cookie would not come back
    # A direct client's claim is not believed, in either direction.
    assert "Secure" not in cookie(headers={"X-Forwarded-Proto": "https"}, client=("198.51.100.7", 4000))
    assert "Secure" in cookie(base_url="https://testserver", headers={"X-Forwarded-Proto": "http"},
                              client=("198.51.100.7", 4000))
    # Our nginx in front of a TLS listener says https: believed.
    assert "Secure" in cookie(headers={"X-Forwarded-Proto": "https"}, client=("127.0.0.1", 4000))
    # Reached as https (the public address) but nginx's plain listener says http: still Secure.
    https_site = settings.model_copy(update={"public_base_url": "https://khamsuckhoe.example.vn"})
    assert "Secure" in cookie(https_site, headers={"X-Forwarded-Proto": "http"}, client=("127.0.0.1", 4000))
    assert "Secure" in cookie(settings.model_copy(update={"staff_cookie_secure": True}))


# --- nginx ------------------------------------------------------------------------------------------------

class Echo(http.server.BaseHTTPRequestHandler):
    """An upstream that answers with the path and headers it received."""

    def _answer(self) -> None:
        body = json.dumps({"path": self.path, "headers": dict(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """deploy/nginx.conf.j2 rendered as the production profile renders it, its upstreams an echo."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.skip("nginx is not installed (make setup-system)")
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    echo, port = upstream.server_address[1], free_port()
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / temp).mkdir()
    template = Environment(loader=FileSystemLoader(ROOT / "deploy"), keep_trailing_newline=True).get_template(
        "nginx.conf.j2")
    (tmp_path / "nginx.conf").write_text(template.render(
        run_dir=tmp_path, run_as_root=os.geteuid() == 0, public_host="127.0.0.1", public_port=port,
        api_ports=[echo], api_balancer_port=free_port(), gateway_ports=[echo], rasa_ports=[echo],
        rasa_balancer_port=free_port()), encoding="utf-8")
    process = subprocess.Popen([binary, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(f"{base}/nginx-health")
            break
        except httpx.TransportError:
            assert process.poll() is None and time.monotonic() < deadline, process.stderr and process.stderr.read()
            time.sleep(0.05)
    try:
        yield base, tmp_path / "nginx-access.log"
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: the buffered access log is written out
        process.wait(timeout=10)
        upstream.shutdown()


@pytest.mark.slow
def test_nginx_keeps_metrics_local_passes_the_real_address_and_masks_codes(nginx: tuple[str, Path]) -> None:
    base, access_log = nginx
    # 127.0.0.2 stands for the internet: any address but this machine's own.
    outside = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    local = httpx.Client()
    for path in ("/api/v1/metrics", "/metrics", "/api//v1/metrics/", "//metrics", "/api/v1/%6detrics"):
        assert outside.get(f"{base}{path}").status_code == 403, path
    assert local.get(f"{base}/api/v1/metrics").status_code == 200  # Prometheus on this machine
    # Reminders handed to the gateways and what they report back: the scheduler on this machine only.
    for path in ("/notify", "/notify/phone", "//notify/phone", "/api/v1/reminders/delivered",
                 "/api//v1/reminders/stop-phone", "/api/v1/reminders/%64elivered"):
        assert outside.post(f"{base}{path}").status_code == 403, path
    assert local.post(f"{base}/notify/phone").status_code == 200

    seen = outside.get(f"{base}/api/v1/sessions", headers={
        "X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https"}).json()["headers"]
    assert seen["X-Forwarded-For"] == "127.0.0.2" and seen["X-Forwarded-Proto"] == "http"

    for path in ("/api/v1/bookings/KE3MX7PA", "/api/v1/bookings/KE3MX7PB/cancel?code=KE3MX7PB",
                 "/api/v1/%62ookings/KE3MX7PC/reschedule", "/webhooks/sms/SMSSECRETVALUE1",
                 "/studio/voice/VOICELINKSECRET1/takes"):
        assert outside.post(f"{base}{path}").status_code == 200
    outside.close()
    local.close()
    # The access log is buffered; reopening the logs (what logrotate asks for) writes it out.
    os.kill(int((access_log.parent / "nginx.pid").read_text()), signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while "***/reschedule" not in access_log.read_text():
        assert time.monotonic() < deadline, access_log.read_text()
        time.sleep(0.05)
    logged = access_log.read_text()
    assert "/api/v1/bookings/***" in logged and "/api/v1/bookings/***/cancel" in logged
    assert "***/reschedule" in logged
    assert not re.search(r"KE3MX7P[ABC]|SMSSECRETVALUE|VOICELINKSECRET", logged), logged
    assert "/webhooks/sms/***" in logged and "/studio/voice/***/takes" in logged
    assert "6.6.6.6" not in logged and "127.0.0.2" in logged
