"""The staff pages pass axe-core's WCAG 2.x A/AA audit with no serious or critical violation, on a
desktop screen (1366×768) and on a 412 px phone, where nothing makes the page scroll sideways.

One API in a thread (the demo province, the content seed, and a little of everything a list can show:
a link, a broadcast, a revision waiting for review, an unanswered question, an alert) and the module's
one Chromium; every page is audited at both sizes, the login page logged out. On the phone every control
is at least 44 px in both directions.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.communes.models import Site
from api.content.service import seed_messages
from api.core.config import Settings, get_settings
from api.core.db import Database, utcnow
from api.core.migrate import upgrade
from api.demo import seed_demo
from api.faq.schemas import UnansweredIn
from api.faq.service import record_unanswered, seed_content
from api.main import create_app
from api.security.alerts import raise_alert
from api.sessions.models import ExamSession
from api.staff.service import create_staff
from tests.support.browser import axe_violations, overflowing, unusable
from tests.support.env import TEST_SECRET, make_settings
from tests.support.servers import app_in_thread
from tests.support.world import csrf_of, person

pytestmark = pytest.mark.slow

PASSWORD = "mat-khau-a11y-123"
DESKTOP = (1366, 768)
PHONE = 412
# What a finger presses on a phone: the menu, the forms' controls and the links that stand alone in a table
# cell (radio buttons and check boxes are pressed through their 44 px labels).
CONTROLS = ("header a, header button, main button, main select, main textarea, td a, "
            "main input:not([type=hidden]):not([type=checkbox]):not([type=radio])")


@dataclass
class StaffSite:
    base: str
    username: str
    commune_id: int
    people: Iterator[dict[str, Any]]


# (name, path); "booked" and "broadcast preview" are what a submitted form shows, reached by submitting it.
PAGES = [
    ("login", "/studio/login"),
    ("faq list", "/studio/faq"),
    ("faq new", "/studio/faq/new?question=kham%20o%20dau"),
    ("faq edit", "/studio/faq/free_of_charge"),
    ("messages", "/studio/messages"),
    ("message edit", "/studio/messages/utter_greet"),
    ("review", "/studio/review"),
    ("unanswered", "/studio/unanswered"),
    ("audio matrix", "/studio/audio"),
    ("audio key", "/studio/audio/utter_greet"),
    ("links", "/studio/links"),
    ("book", "/studio/book?commune_id={commune_id}"),
    ("booked", "/studio/book?commune_id={commune_id}"),
    ("broadcasts", "/studio/broadcasts"),
    ("broadcast preview", "/studio/broadcasts"),
    ("reports", "/studio/reports"),
    ("alerts", "/studio/alerts"),
    ("notice", "/studio/faq/no_such_question"),
    ("reminder templates", "/studio/reminders/templates"),
    ("reminder template edit", "/studio/reminders/templates/day_before"),
    ("reminder report", "/studio/reminders/report"),
    ("desk sessions", "/studio/desk/sessions?commune_id={commune_id}"),
    # The roster, its session's form and the walk-in form are reached from the commune's list of sessions.
    ("desk roster", "/studio/desk/sessions?commune_id={commune_id}"),
    ("desk session edit", "/studio/desk/sessions?commune_id={commune_id}"),
    ("desk walk-in", "/studio/desk/sessions?commune_id={commune_id}"),
    # The import's preview and result are reached by choosing a file and confirming it.
    ("records import", "/studio/records/import"),
    ("records import preview", "/studio/records/import"),
    ("records import result", "/studio/records/import"),
    ("recording campaign", "/studio/recording"),
    ("recording review", "/studio/recording/review"),
    ("recording sheet", "/studio/recording/sheet?language=hmn"),
]


def populate(settings: Settings, database: Database) -> tuple[str, int]:
    """The demo province and content, an admin, and one item for each list; (admin's name, a commune)."""
    upgrade(database.writer)
    with database.write() as db:
        seed_content(db)
        seed_messages(db)
    # seed_demo encrypts with get_settings()'s key: make it this test's, never the developer's var/ key.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SECRET_KEY", TEST_SECRET)
        patch.setenv("DATABASE_URL", settings.database_url)
        get_settings.cache_clear()
        seed_demo(database, weeks=2)
    get_settings.cache_clear()
    username = f"admin-{uuid.uuid4().hex[:6]}"
    with database.write() as db:
        create_staff(db=db, actor=None, username=username, password=PASSWORD, role="admin")
        record_unanswered(db=db, body=UnansweredIn(text="Khám ở đâu gần nhà tôi nhất?", channel="zalo",
                                                   best_key="free_of_charge", best_score=0.4))
        raise_alert(db, kind="phone_clash", subject="a11y", now=utcnow(), detail="2 hồ sơ")
        # A commune with sessions to come, so "book" shows its whole form.
        commune_id = db.scalar(select(Site.commune_id).join(ExamSession, ExamSession.site_id == Site.id)
                               .where(ExamSession.starts_at > utcnow(), ExamSession.status == "open").limit(1))
        assert commune_id is not None
    with TestClient(create_app(settings, database)) as staff:
        staff.post("/studio/login", data={"username": username, "password": PASSWORD})
        faq = {"category": "chung", "questions": "kham co mat tien khong", "answer_vi": "Khám MIỄN PHÍ.",
               "action": "submit"}
        message = {"text_vi": "Xin chào, tôi là trợ lý khám sức khỏe.", "action": "submit"}
        link = {"organisation": "phu_nu", "commune_id": str(commune_id), "label": "chi hội thôn"}
        broadcast = {"commune_id": str(commune_id), "text": "Đội khám lưu động sẽ đến nhà văn hóa thôn."}
        for form_page, target, form in (
            ("/studio/links", "/studio/links", link),
            ("/studio/broadcasts", "/studio/broadcasts/preview", broadcast),
            ("/studio/faq/free_of_charge", "/studio/faq/free_of_charge", faq),
            ("/studio/messages/utter_greet", "/studio/messages/utter_greet", message),
        ):
            csrf = csrf_of(staff.get(form_page).text)
            response = staff.post(target, data={"csrf": csrf, **form}, follow_redirects=False)
            assert response.status_code in (200, 303), (target, response.status_code, response.text[:300])
    return username, commune_id


@pytest.fixture(scope="module")
def staff_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaffSite]:
    tmp: Path = tmp_path_factory.mktemp("a11y")
    settings = make_settings(f"sqlite:///{tmp / 'a11y.db'}", tmp)
    database = Database.from_settings(settings)
    username, commune_id = populate(settings, database)
    people = (person(commune_id, index=900_000 + n) for n in range(1000))
    with app_in_thread(create_app(settings, database)) as base:
        yield StaffSite(base, username, commune_id, people)
    database.dispose()


def screen(driver: Any, size: str) -> None:
    """The desktop screen, or a phone 412 px wide (a touch screen, default text size)."""
    width, height = DESKTOP if size == "desktop" else (PHONE, 915)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1 if size == "desktop" else 2.625,
        "mobile": size != "desktop"})
    driver.execute_cdp_cmd("Page.setFontSizes", {"fontSizes": {"standard": 16, "fixed": 13}})


def log_in(driver: Any, site: StaffSite) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{site.base}/studio/login")
    driver.find_element(By.ID, "username").send_keys(site.username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 15).until(lambda d: "/studio/login" not in d.current_url)


def open_page(driver: Any, site: StaffSite, name: str, path: str) -> None:
    """Shows the page `name` as staff reach it: logged out for the login page, else as the admin."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    logged_in = driver.get_cookie("ksk_staff") is not None if driver.current_url.startswith(site.base) else False
    if name == "login":
        driver.get(f"{site.base}/studio/login")
        driver.delete_all_cookies()
        driver.get(f"{site.base}/studio/login")
        return
    if not logged_in:
        log_in(driver, site)
    driver.get(site.base + path.format(commune_id=site.commune_id))
    wait = WebDriverWait(driver, 15)
    if name == "booked":
        resident = next(site.people)
        for field in ("full_name", "birth_date", "cccd", "phone"):
            # The date field's text entry depends on the locale: set the value as the form would send it.
            driver.execute_script("document.getElementById(arguments[0]).value = arguments[1];", field,
                                  str(resident[field]))
        driver.find_element(By.CSS_SELECTOR, "input[name=consent_method]").click()
        driver.find_element(By.CSS_SELECTOR, "input[name=consent_confirmed]").click()
        driver.find_element(By.ID, "book").click()
        wait.until(lambda d: d.find_elements(By.ID, "code"))
    elif name == "broadcast preview":
        driver.find_element(By.ID, "preview").click()
        wait.until(lambda d: d.find_elements(By.ID, "send"))
    elif name in ("records import preview", "records import result"):
        import_a_file(driver, site, confirm=name == "records import result")
    elif name in ("desk roster", "desk session edit", "desk walk-in"):
        driver.find_element(By.CSS_SELECTOR, ".desk-sessions tbody td a").click()
        wait.until(lambda d: d.find_elements(By.ID, "check-in"))
        if name != "desk roster":
            driver.find_element(By.CSS_SELECTOR, "#walk-in-link" if name == "desk walk-in"
                                else '.desk-links a[href$="/edit"]').click()
            wait.until(lambda d: d.find_elements(By.ID, "walk-in-form" if name == "desk walk-in" else "edit-form"))


def import_a_file(driver: Any, site: StaffSite, *, confirm: bool) -> None:
    """Chooses a station's CSV file (two people, one bad row) on the import page, previews it, and imports it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 15)
    rows = "".join(f"{p['cccd']},{p['birth_date']},created\n" for p in (next(site.people), next(site.people)))
    with tempfile.TemporaryDirectory() as folder:
        chosen = Path(folder) / "so-suc-khoe.csv"
        chosen.write_text(f"cccd,ngay_sinh,trang_thai\n{rows}12345,1958-03-05,created\n", encoding="utf-8")
        driver.find_element(By.ID, "file").send_keys(str(chosen))
        driver.find_element(By.ID, "preview").click()
        wait.until(lambda d: d.find_elements(By.ID, "row-errors"))
    if confirm:
        driver.find_element(By.ID, "import").click()
        wait.until(lambda d: d.find_elements(By.ID, "imported"))


def described(violations: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {v['impact']}: {v['id']} — {v['help']} — {', '.join(v['nodes'])}" for v in violations)


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize(("name", "path"), PAGES, ids=[name for name, _ in PAGES])
def test_staff_page_passes_axe_and_reflows(browser: Any, staff_site: StaffSite, size: str, name: str,
                                           path: str) -> None:
    screen(browser, size)
    open_page(browser, staff_site, name, path)
    violations = axe_violations(browser)
    assert violations == [], f"{name} ({size}): axe-core finds serious/critical violations:\n{described(violations)}"
    if size == "phone":
        wide = overflowing(browser)
        assert wide == [], f"{name} at {PHONE} px: the page scrolls sideways: {wide[:5]}"
        small = unusable(browser, CONTROLS, min_px=44)
        assert small == [], f"{name} at {PHONE} px: controls a finger cannot press: {small[:5]}"


def test_the_keyboard_can_skip_the_menu_and_sees_where_it_is(browser: Any, staff_site: StaffSite) -> None:
    """The first Tab offers the way past the menu (shown only then), and focus is drawn with an outline."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    screen(browser, "desktop")
    open_page(browser, staff_site, "faq list", "/studio/faq")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    skip = browser.switch_to.active_element
    assert skip.get_attribute("class") == "skip" and skip.is_displayed() and skip.rect["y"] >= 0
    assert skip.value_of_css_property("outline-style") != "none"
    skip.send_keys(Keys.ENTER)
    assert browser.switch_to.active_element.get_attribute("id") == "main"


def test_every_studio_page_is_audited() -> None:
    """A page added to the studio is added here too (the GET routes' templates, minus partials)."""
    templates = {p.stem for p in (Path(__file__).parents[2] / "api" / "studio" / "templates").glob("[!_]*.html")}
    covered = {"login", "faq_list", "faq_edit", "message_list", "message_edit", "review", "unanswered",
               "audio_matrix", "audio_key", "links", "book", "booked", "broadcasts", "broadcast_preview",
               "reports", "alerts", "notice", "reminder_templates", "reminder_template_edit", "reminder_report",
               "desk_sessions", "desk_roster", "desk_session_edit", "desk_walk_in",
               "records_import", "records_import_preview", "records_import_result",
               "recording_campaign", "recording_review", "recording_sheet"}
    # The volunteer's phone pages: join and recorder audited in tests/system/test_voice_recording_in_a_browser.py.
    audited_elsewhere = {"voice_base", "voice_join", "voice_record"}
    # Not audited in a browser yet (named here so that a new page still fails this test): the link shown
    # once after creating an invitation, the invited reviewer's queue, the ended-link and notice pages.
    not_yet = {"recording_created", "voice_review", "voice_ended", "voice_notice"}
    assert templates <= covered | audited_elsewhere | not_yet | {"base"}, templates - covered
