"""The station's desk: a commune's sessions (create, weekly copies, change, cancel, mobile-team stops), the
day's roster, check-in by code (idempotent: a queued check-in sent again is recorded once), walk-ins with
their in-person consent and the audited seat beyond capacity — station staff their commune only, on
SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.audit.models import AuditEntry
from api.bookings.models import Booking
from api.consent.models import Consent
from api.core.clock import local_tz
from api.core.db import Database
from api.records.models import HealthRecord
from api.sessions.models import ExamSession
from api.studio import desk_pages
from tests.support.world import World, booked, csrf_of, person

Login = Callable[..., TestClient]
DESK = "/studio/desk/sessions"
# What the pages' Content-Security-Policy would block (tests/security/test_web_hardening.py): none of it.
INLINE_CODE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<[^>]+\son[a-z]+\s*=|<style|\sstyle\s*=", re.IGNORECASE)


def audit(database: Database, action: str) -> list[AuditEntry]:
    with database.read() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def status_of(database: Database, code: str) -> str:
    with database.read() as db:
        return str(db.scalar(select(Booking.status).where(Booking.code == code)))


def username_of(page: str) -> str:
    found = re.search(r"<span>([a-z]+-[0-9a-f]{6}) \(", page)
    assert found, "the page names who is logged in"
    return found.group(1)


def check_in(browser: TestClient, session_id: int, csrf: str, code: str, attended: bool = True,
             **extra: Any) -> Any:
    return browser.post(f"{DESK}/{session_id}/attendance", json={"code": code, "attended": attended, **extra},
                        headers={"X-CSRF-Token": csrf})


@pytest.fixture
def desk(world: World, studio_login: Login) -> dict[str, Any]:
    """Two communes, each with a station and a session in three days; a station worker of the first."""
    home, away = world.place(capacity=3), world.place(capacity=3)
    station = studio_login("station", commune_id=home["commune"]["id"])
    return {"home": home, "away": away, "station": station}


# --- who may open the desk ---------------------------------------------------------------------------

def test_only_station_staff_and_admins_open_the_desk(desk: dict[str, Any], studio_login: Login,
                                                     client: TestClient) -> None:
    assert client.get(DESK, follow_redirects=False).headers["location"] == "/studio/login"
    for role in ("cadre", "editor"):
        browser = studio_login(role)
        assert browser.get(DESK).status_code == 403, role
        assert browser.get(f"{DESK}/{desk['home']['session']['id']}").status_code == 403, role
    page = desk["station"].get(DESK)
    assert page.status_code == 200 and 'href="/studio/desk/sessions"' in page.text  # in the menu
    assert studio_login("admin").get(DESK).status_code == 200
    assert not INLINE_CODE.search(page.text)


def test_a_station_sees_and_changes_only_its_own_communes_sessions(desk: dict[str, Any],
                                                                   database: Database) -> None:
    station, home, away = desk["station"], desk["home"], desk["away"]
    page = station.get(DESK)
    assert f'id="session-{home["session"]["id"]}"' in page.text
    assert f'id="session-{away["session"]["id"]}"' not in page.text
    # Asking for another commune's list still shows its own.
    assert f'id="session-{away["session"]["id"]}"' not in station.get(
        DESK, params={"commune_id": away["commune"]["id"]}).text
    csrf = csrf_of(page.text)
    theirs = away["session"]["id"]
    for path in (f"{DESK}/{theirs}", f"{DESK}/{theirs}/edit", f"{DESK}/{theirs}/walk-in"):
        refused = station.get(path)
        assert refused.status_code == 403 and "xã/phường của mình" in refused.text, path
    for path, form in ((f"{DESK}/{theirs}/edit", {"day": "2030-01-01", "start": "07:00", "end": "09:00",
                                                  "capacity": "9"}),
                       (f"{DESK}/{theirs}/cancel", {"confirm": "on"}),
                       (f"{DESK}/{theirs}/walk-in", {"full_name": "A", "consent_confirmed": "on"}),
                       (DESK, {"site_id": str(away["site"]["id"]), "day": "2030-01-01", "start": "07:00",
                               "end": "09:00", "capacity": "5"})):
        refused = station.post(path, data={"csrf": csrf, **form})
        assert refused.status_code == 403, (path, refused.text[:300])
    with database.read() as db:
        theirs_now = db.get_one(ExamSession, theirs)
        assert (theirs_now.capacity, theirs_now.status) == (3, "open")
        assert db.scalar(select(func.count()).select_from(ExamSession)) == 2


def test_check_in_and_lookup_of_another_communes_booking_are_refused_without_saying_where(
        desk: dict[str, Any], client: TestClient, database: Database) -> None:
    away = desk["away"]
    code = booked(client, away["session"]["id"], person(away["commune"]["id"]))["code"]
    station = desk["station"]
    csrf = csrf_of(station.get(f"{DESK}/{desk['home']['session']['id']}").text)
    # Another commune's session: refused outright (its id is not this station's).
    refused = check_in(station, away["session"]["id"], csrf, code)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden", refused.text
    assert station.post(f"{DESK}/{away['session']['id']}/find", json={"code": code},
                        headers={"X-CSRF-Token": csrf}).status_code == 403
    # Its booking's code at this station's own session: answered exactly as a code nobody issued.
    home = desk["home"]["session"]["id"]
    unknown = "".join(reversed(code)) if "".join(reversed(code)) != code else code[1:] + code[0]
    for path, body in (("check-in", None), ("find", {"code": code})):
        if body is None:
            answers = [check_in(station, home, csrf, asked) for asked in (code, unknown)]
        else:
            answers = [station.post(f"{DESK}/{home}/find", json={"code": asked}, headers={"X-CSRF-Token": csrf})
                       for asked in (code, unknown)]
        assert answers[0].status_code == answers[1].status_code == 404, path
        assert answers[0].json() == answers[1].json() and "Trạm Y tế" not in answers[0].text
    form = station.post(f"{DESK}/{away['session']['id']}/attendance", data={"csrf": csrf, "mark": f"{code}:1"})
    assert form.status_code == 403
    assert status_of(database, code) == "confirmed" and audit(database, "booking.attendance") == []


# --- sessions ----------------------------------------------------------------------------------------

def test_a_session_and_its_weekly_copies_are_created_in_one_form_and_audited(
        desk: dict[str, Any], database: Database) -> None:
    station, home = desk["station"], desk["home"]
    page = station.get(DESK)
    day = (datetime.now(local_tz()) + timedelta(days=5)).date()
    created = station.post(DESK, data={
        "csrf": csrf_of(page.text), "site_id": str(home["site"]["id"]), "day": day.isoformat(), "start": "07:30",
        "end": "11:00", "capacity": "40", "target_groups": ["elderly", "chronic"], "note": "Mang theo CCCD",
        "repeat_weeks": "2"}, follow_redirects=False)
    assert created.status_code == 303 and created.headers["location"] == f"{DESK}?created=3"
    listing = station.get(created.headers["location"]).text
    assert "Đã tạo 3 buổi khám." in listing
    with database.read() as db:
        made = list(db.scalars(select(ExamSession).where(ExamSession.capacity == 40).order_by(ExamSession.starts_at)))
    starts = [s.starts_at.astimezone(local_tz()) for s in made]
    assert [s.date() for s in starts] == [day, day + timedelta(weeks=1), day + timedelta(weeks=2)]
    assert {(s.hour, s.minute) for s in starts} == {(7, 30)}
    assert all(s.target_groups == ["elderly", "chronic"] and s.note == "Mang theo CCCD" for s in made)
    assert [e.entity_id for e in audit(database, "session.create")][-3:] == [str(s.id) for s in made]
    # At a glance: seats, booked, waiting, and the groups in words.
    row = listing.split(f'id="session-{made[0].id}"')[1].split("</tr>")[0]
    assert "0 / 40" in row and "Còn 40 chỗ" in row and "Người cao tuổi, Người có bệnh mạn tính" in row


def test_a_refused_session_comes_back_next_to_the_form_as_typed(desk: dict[str, Any], database: Database) -> None:
    station, home = desk["station"], desk["home"]
    csrf = csrf_of(station.get(DESK).text)
    refused = station.post(DESK, data={"csrf": csrf, "site_id": str(home["site"]["id"]), "day": "2030-03-02",
                                       "start": "11:00", "end": "07:30", "capacity": "25", "note": "Ghi chú",
                                       "repeat_weeks": "4"})
    assert refused.status_code == 422 and 'role="alert"' in refused.text
    assert "Giờ kết thúc phải sau giờ bắt đầu" in refused.text
    assert 'value="2030-03-02"' in refused.text and 'value="25"' in refused.text and 'value="4"' in refused.text
    too_many = station.post(DESK, data={"csrf": csrf, "site_id": str(home["site"]["id"]), "day": "2030-03-02",
                                        "start": "07:00", "end": "09:00", "capacity": "25", "repeat_weeks": "30"})
    assert too_many.status_code == 422 and "từ 0 đến 12" in too_many.text
    forged = station.post(DESK, data={"csrf": "0" * 40, "site_id": str(home["site"]["id"])})
    assert forged.status_code == 403 and "tải lại trang" in forged.text
    with database.read() as db:
        assert db.scalar(select(func.count()).select_from(ExamSession)) == 2


def test_more_seats_take_people_from_the_waitlist(desk: dict[str, Any], client: TestClient,
                                                  database: Database) -> None:
    station, home = desk["station"], desk["home"]
    session_id = home["session"]["id"]
    codes = [booked(client, session_id, person(home["commune"]["id"]))["code"] for _ in range(4)]
    assert status_of(database, codes[3]) == "waitlisted"
    page = station.get(f"{DESK}/{session_id}/edit")
    assert "Đã đặt 3 / 3 chỗ · 1 người đang chờ" in page.text
    form = {"csrf": csrf_of(page.text), "day": re.search(r'name="day" value="([^"]+)"', page.text).group(1),
            "start": "07:30", "end": "10:30", "capacity": "4", "target_groups": "elderly", "note": "Nhịn ăn sáng"}
    lower = station.post(f"{DESK}/{session_id}/edit", data={**form, "capacity": "2"})
    assert lower.status_code == 409 and "thấp hơn số người đã đặt" in lower.text and 'value="2"' in lower.text
    saved = station.post(f"{DESK}/{session_id}/edit", data=form, follow_redirects=False)
    assert saved.status_code == 303
    assert status_of(database, codes[3]) == "confirmed"
    entry = audit(database, "session.update")[-1]
    assert entry.detail["promoted"] == 1 and entry.entity_id == str(session_id)
    assert "Đã lưu." in station.get(saved.headers["location"]).text


def test_cancelling_a_session_cancels_its_bookings_once_confirmed(desk: dict[str, Any], client: TestClient,
                                                                  database: Database) -> None:
    station, home = desk["station"], desk["home"]
    session_id = home["session"]["id"]
    code = booked(client, session_id, person(home["commune"]["id"]))["code"]
    page = station.get(f"{DESK}/{session_id}/edit")
    assert "Tôi hiểu: 1 lịch hẹn của buổi này sẽ bị hủy" in page.text
    unconfirmed = station.post(f"{DESK}/{session_id}/cancel", data={"csrf": csrf_of(page.text)})
    assert unconfirmed.status_code == 422 and status_of(database, code) == "confirmed"
    done = station.post(f"{DESK}/{session_id}/cancel", data={"csrf": csrf_of(page.text), "confirm": "on"})
    assert done.status_code == 200 and 'id="cancelled"' in done.text
    assert status_of(database, code) == "cancelled"
    with database.read() as db:
        assert db.get_one(ExamSession, session_id).status == "cancelled"
    assert audit(database, "session.update")[-1].detail["fields"] == ["status"]
    assert "Đã hủy" in station.get(DESK).text.split(f'id="session-{session_id}"')[1].split("</tr>")[0]


def test_a_mobile_teams_stop_is_a_site_with_its_own_address(desk: dict[str, Any], database: Database,
                                                            studio_login: Login) -> None:
    station, home = desk["station"], desk["home"]
    csrf = csrf_of(station.get(DESK).text)
    made = station.post("/studio/desk/sites", data={
        "csrf": csrf, "name": "Nhà văn hóa thôn Bản Nầng", "address": "Thôn Bản Nầng, xã Hữu Liên",
        "commune_id": str(desk["away"]["commune"]["id"])}, follow_redirects=False)  # ignored for a station
    assert made.status_code == 303
    site_id = int(re.search(r"site=(\d+)", made.headers["location"]).group(1))
    with database.read() as db:
        from api.communes.models import Site
        site = db.get_one(Site, site_id)
        assert (site.kind, site.commune_id, site.address) == ("mobile", home["commune"]["id"],
                                                              "Thôn Bản Nầng, xã Hữu Liên")
    assert [e.entity_id for e in audit(database, "site.create")][-1] == str(site_id)
    listing = station.get(made.headers["location"]).text
    assert f'<option value="{site_id}" selected>Nhà văn hóa thôn Bản Nầng (lưu động)</option>' in listing
    assert "Điểm khám lưu động" in listing and "Thôn Bản Nầng, xã Hữu Liên" in listing
    short = station.post("/studio/desk/sites", data={"csrf": csrf, "name": "A"})
    assert short.status_code == 422 and "Tên điểm khám cần từ 2 đến 200 ký tự." in short.text
    # An admin names the commune; without one nothing is made.
    admin = studio_login("admin")
    admin_csrf = csrf_of(admin.get(DESK).text)
    assert admin.post("/studio/desk/sites", data={"csrf": admin_csrf, "name": "Điểm dừng"}).status_code == 422


def test_an_admin_sees_every_commune_and_filters_by_one(desk: dict[str, Any], studio_login: Login) -> None:
    admin = studio_login("admin")
    everything = admin.get(DESK).text
    for place in (desk["home"], desk["away"]):
        assert f'id="session-{place["session"]["id"]}"' in everything
    one = admin.get(DESK, params={"commune_id": desk["away"]["commune"]["id"]}).text
    assert f'id="session-{desk["away"]["session"]["id"]}"' in one
    assert f'id="session-{desk["home"]["session"]["id"]}"' not in one
    assert admin.get(DESK, params={"commune_id": "x"}).status_code == 422


# --- the roster -------------------------------------------------------------------------------------

def test_the_roster_shows_who_is_booked_masked_and_how(desk: dict[str, Any], client: TestClient,
                                                       staff_token: Callable[..., dict[str, str]]) -> None:
    home = desk["home"]
    session_id, commune_id = home["session"]["id"], home["commune"]["id"]
    elder = {**person(commune_id, year=1950), "full_name": "Nông Văn Lả"}
    young = {**person(commune_id, year=1995), "full_name": "Hoàng Thị Hoa"}
    chat = booked(client, session_id, elder, channel="zalo")
    cadre = staff_token("cadre")
    behalf = client.post("/api/v1/bookings/on-behalf", headers=cadre, json={
        "session_id": session_id, "resident": young, "consent_notice": "2026-01.staff",
        "consent_method": "phone", "channel": "cadre"})
    assert behalf.status_code == 201, behalf.text
    link = client.post("/api/v1/referrals", headers=cadre, json={"organisation": "phu_nu", "commune_id": commune_id})
    assert link.status_code == 201, link.text
    third = booked(client, session_id, person(commune_id), channel="telegram", referral_code=link.json()["code"])
    waiting = booked(client, session_id, {**person(commune_id), "full_name": "Lý Văn Chờ"}, channel="web")
    assert waiting["status"] == "waitlisted"
    page = desk["station"].get(f"{DESK}/{session_id}")
    assert page.status_code == 200 and not INLINE_CODE.search(page.text)
    seated = page.text.split('id="roster"')[1].split("</table>")[0]
    row = seated.split(f'id="booking-{chat["code"]}"')[1].split("</tr>")[0]
    assert "Nông Văn Lả" in row and "1950 · Người cao tuổi (từ 60)" in row and "Zalo" in row
    assert "•••••••••" + elder["cccd"][-3:] in row and elder["phone"][-3:] in row
    assert elder["phone"] not in page.text and elder["cccd"] not in page.text  # masked everywhere
    row = seated.split(f'id="booking-{behalf.json()["code"]}"')[1].split("</tr>")[0]
    assert "Người lớn (16–59)" in row and "Cán bộ đặt giúp · cadre-" in row  # who booked, from the audit
    row = seated.split(f'id="booking-{third["code"]}"')[1].split("</tr>")[0]
    assert "Telegram · Hội Liên hiệp Phụ nữ" in row  # through a cadre's link
    assert waiting["code"] not in seated
    waitlist = page.text.split('id="waiting"')[1].split("</table>")[0]
    assert "Lý Văn Chờ" in waitlist and "<td>1</td>" in waitlist
    assert "Đã đặt <strong>3</strong>/3" in page.text
    assert '<script src="/studio/static/desk.js" defer></script>' in page.text
    assert 'href="/studio/static/desk.css"' in page.text


def test_the_qr_decoder_is_loaded_when_its_file_is_there(desk: dict[str, Any], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(desk_pages, "STATIC", tmp_path)
    roster = f"{DESK}/{desk['home']['session']['id']}"
    assert "qr-scan.js" not in desk["station"].get(roster).text
    (tmp_path / "qr-scan.js").write_text("window.kskScanQr = function () {};")
    page = desk["station"].get(roster).text
    assert page.index('src="/studio/static/qr-scan.js"') < page.index('src="/studio/static/desk.js"')
    assert 'data-scan="Quét mã QR"' in page and 'id="scan-video"' in page  # desk.js adds the button


# --- check-in ---------------------------------------------------------------------------------------

def test_check_in_by_a_typed_code_is_recorded_once_however_often_it_is_sent(
        desk: dict[str, Any], client: TestClient, database: Database) -> None:
    home, station = desk["home"], desk["station"]
    session_id = home["session"]["id"]
    resident = {**person(home["commune"]["id"]), "full_name": "Đinh Văn Tới"}
    code = booked(client, session_id, resident)["code"]
    csrf = csrf_of(station.get(f"{DESK}/{session_id}").text)
    typed = f"{code[:4].lower()}-{code[4:].lower()} "  # as a nurse types it off a slip of paper
    first = check_in(station, session_id, csrf, typed, client_id="device-1")
    assert first.status_code == 200, first.text
    assert first.json() == {"code": code, "status": "attended", "full_name": "Đinh Văn Tới", "replayed": False,
                            "client_id": "device-1"}
    again = check_in(station, session_id, csrf, code, client_id="device-1")
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert len(audit(database, "booking.attendance")) == 1
    with database.read() as db:  # the e-health book waits for this exam's results
        assert db.scalar(select(HealthRecord.status)) == "exam_done_pending_update"
    changed = check_in(station, session_id, csrf, code, attended=False)
    assert changed.json()["status"] == "no_show" and changed.json()["replayed"] is False
    assert status_of(database, code) == "no_show" and len(audit(database, "booking.attendance")) == 2


def test_copies_of_one_check_in_sent_at_once_are_recorded_once(
        desk: dict[str, Any], client: TestClient, database: Database) -> None:
    home, station = desk["home"], desk["station"]
    session_id = home["session"]["id"]
    code = booked(client, session_id, person(home["commune"]["id"]))["code"]
    csrf = csrf_of(station.get(f"{DESK}/{session_id}").text)
    answers: list[dict[str, Any]] = []
    start = threading.Barrier(6)

    def send() -> None:
        start.wait()
        answers.append(check_in(station, session_id, csrf, code).json())

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a["replayed"] for a in answers) == [False] + [True] * 5, answers
    assert len(audit(database, "booking.attendance")) == 1


def test_the_json_check_in_needs_the_pages_token_and_a_login(desk: dict[str, Any], client: TestClient,
                                                             settings: Any, database: Database) -> None:
    home, station = desk["home"], desk["station"]
    session_id = home["session"]["id"]
    code = booked(client, session_id, person(home["commune"]["id"]))["code"]
    forged = check_in(station, session_id, "0" * 40, code)
    assert forged.status_code == 403 and forged.json()["code"] == "csrf_failed"
    csrf = csrf_of(station.get(f"{DESK}/{session_id}").text)
    with TestClient(station.app, raise_server_exceptions=False) as stranger:  # no login cookie
        answer = check_in(stranger, session_id, csrf, code)
    assert answer.status_code == 401 and answer.json()["code"] == "login_required"
    assert station.post(f"{DESK}/{session_id}/attendance", content=b"{", headers={
        "X-CSRF-Token": csrf, "Content-Type": "application/json"}).status_code == 422
    assert status_of(database, code) == "confirmed"


def test_codes_of_another_session_unknown_codes_and_the_waitlist_are_refused_in_words(
        desk: dict[str, Any], client: TestClient, world: World) -> None:
    home, station = desk["home"], desk["station"]
    session_id = home["session"]["id"]
    later = world.session(home["site"]["id"], capacity=1, days=9)
    elsewhere = booked(client, later["id"], person(home["commune"]["id"]))["code"]
    waiting = booked(client, later["id"], person(home["commune"]["id"]))["code"]
    csrf = csrf_of(station.get(f"{DESK}/{session_id}").text)
    wrong = check_in(station, session_id, csrf, elsewhere)
    assert wrong.status_code == 409 and wrong.json()["code"] == "desk_wrong_session"
    assert "buổi khám khác" in wrong.json()["message"] and "Trạm Y tế xã" in wrong.json()["message"]
    unknown = check_in(station, session_id, csrf, "AAAAAAAA")
    assert unknown.status_code == 404 and "Xin kiểm tra lại mã" in unknown.json()["message"]
    assert check_in(station, session_id, csrf, "not a code").status_code == 404
    held = check_in(station, later["id"], csrf, waiting)
    assert held.status_code == 409 and held.json()["code"] == "booking_not_active"


def test_the_name_behind_a_code_is_found_for_the_nurse_to_compare(desk: dict[str, Any], client: TestClient) -> None:
    home, station = desk["home"], desk["station"]
    session_id = home["session"]["id"]
    resident = {**person(home["commune"]["id"], year=1948), "full_name": "Vi Thị Sáu"}
    code = booked(client, session_id, resident)["code"]
    csrf = csrf_of(station.get(f"{DESK}/{session_id}").text)
    found = station.post(f"{DESK}/{session_id}/find", json={"code": code.lower()}, headers={"X-CSRF-Token": csrf})
    assert found.status_code == 200, found.text
    assert found.json() == {"code": code, "status": "confirmed", "full_name": "Vi Thị Sáu", "birth_year": 1948,
                            "age_group": "Người cao tuổi (từ 60)", "cccd_masked": "•" * 9 + resident["cccd"][-3:],
                            "disputed": False}
    assert station.post(f"{DESK}/{session_id}/find", json={"code": "AAAAAAAA"},
                        headers={"X-CSRF-Token": csrf}).status_code == 404


def test_the_page_checks_in_without_script_too(desk: dict[str, Any], client: TestClient,
                                               database: Database) -> None:
    home, station = desk["home"], desk["station"]
    session_id = home["session"]["id"]
    first = booked(client, session_id, {**person(home["commune"]["id"]), "full_name": "La Văn Một"})["code"]
    second = booked(client, session_id, {**person(home["commune"]["id"]), "full_name": "La Văn Hai"})["code"]
    page = station.get(f"{DESK}/{session_id}")
    csrf = csrf_of(page.text)
    assert f'name="mark" value="{first}:1"' in page.text
    row = station.post(f"{DESK}/{session_id}/attendance", data={"csrf": csrf, "mark": f"{first}:1"})
    assert row.status_code == 200 and f"La Văn Một ({first}): Đã đến" in row.text
    typed = station.post(f"{DESK}/{session_id}/attendance", data={"csrf": csrf, "code": second.lower(),
                                                                   "attended": "0"})
    assert f"La Văn Hai ({second}): Không đến" in typed.text
    again = station.post(f"{DESK}/{session_id}/attendance", data={"csrf": csrf, "code": second, "attended": "0"})
    assert "đã ghi từ trước" in again.text
    assert (status_of(database, first), status_of(database, second)) == ("attended", "no_show")
    assert 'id="n-attended">1<' in again.text and 'id="n-no_show">1<' in again.text
    bad = station.post(f"{DESK}/{session_id}/attendance", data={"csrf": csrf, "code": "xyz", "attended": "1"})
    assert bad.status_code == 404 and 'id="check-in-error"' in bad.text


# --- walk-ins ---------------------------------------------------------------------------------------

def walk_in_form(page: str, resident: dict[str, Any], **extra: str) -> dict[str, str]:
    key = re.search(r'name="key" value="([0-9a-f]+)"', page)
    assert key
    return {"csrf": csrf_of(page), "key": key.group(1), "full_name": resident["full_name"],
            "birth_date": resident["birth_date"], "cccd": resident["cccd"], "phone": resident["phone"],
            "commune_id": str(resident["commune_id"]), "consent_confirmed": "on", **extra}


def test_a_walk_in_is_registered_with_consent_given_in_person(desk: dict[str, Any], database: Database) -> None:
    home, station = desk["home"], desk["station"]
    session_id = home["session"]["id"]
    page = station.get(f"{DESK}/{session_id}/walk-in")
    assert page.status_code == 200 and not INLINE_CODE.search(page.text)
    resident = {**person(home["commune"]["id"]), "full_name": "  nông  thị   bến "}
    form = walk_in_form(page.text, resident)
    unconsented = station.post(f"{DESK}/{session_id}/walk-in", data={**form, "consent_confirmed": ""})
    assert unconsented.status_code == 422 and "đồng ý" in unconsented.text
    assert f'value="{resident["cccd"]}"' in unconsented.text  # kept as typed
    done = station.post(f"{DESK}/{session_id}/walk-in", data=form)
    assert done.status_code == 200, done.text
    code = re.search(r'id="code" class="desk-code">([A-Z0-9]+)<', done.text).group(1)
    assert "Nông Thị Bến" in done.text and status_of(database, code) == "confirmed"
    twice = station.post(f"{DESK}/{session_id}/walk-in", data=form)  # a double tap, a resent form
    assert f">{code}<" in twice.text
    with database.read() as db:
        assert db.scalar(select(func.count()).select_from(Booking)) == 1
        consent = db.scalar(select(Consent))
        assert consent is not None
        assert (consent.given_by, consent.method, consent.recorded_by, consent.purpose) == (
            "station", "in_person", username_of(page.text), "booking")
        assert db.scalar(select(Booking.channel).where(Booking.code == code)) == "station"
    [entry] = audit(database, "booking.walk_in")
    assert entry.entity_id == code and entry.detail == {"session_id": session_id, "over_capacity": False}
    assert [e.entity_id for e in audit(database, "booking.on_behalf")] == [code]
    roster = station.get(f"{DESK}/{session_id}").text.split(f'id="booking-{code}"')[1].split("</tr>")[0]
    assert "Trạm y tế đặt" in roster and "đến không hẹn trước" in roster


def test_a_full_session_takes_a_walk_in_beyond_its_seats_only_with_a_reason(
        desk: dict[str, Any], client: TestClient, database: Database) -> None:
    home, station = desk["home"], desk["station"]
    session_id = home["session"]["id"]
    for _ in range(3):
        booked(client, session_id, person(home["commune"]["id"]))
    page = station.get(f"{DESK}/{session_id}/walk-in")
    assert 'id="reason"' in page.text  # full: the reason is asked at once
    form = walk_in_form(page.text, person(home["commune"]["id"]))
    refused = station.post(f"{DESK}/{session_id}/walk-in", data=form)
    assert refused.status_code == 409 and "xin ghi lý do" in refused.text
    with database.read() as db:
        assert db.get_one(ExamSession, session_id).capacity == 3
        assert db.scalar(select(func.count()).select_from(Booking)) == 3
    done = station.post(f"{DESK}/{session_id}/walk-in", data={
        **form, "reason": "Cụ 80 tuổi đi bộ 5 km đến, gọi 0912345678"})
    assert done.status_code == 200 and "ngoài số chỗ" in done.text
    code = re.search(r'id="code" class="desk-code">([A-Z0-9]+)<', done.text).group(1)
    assert status_of(database, code) == "confirmed"
    with database.read() as db:
        session = db.get_one(ExamSession, session_id)
        assert (session.capacity, session.booked) == (4, 4)
    [entry] = audit(database, "booking.walk_in")
    assert entry.detail["over_capacity"] is True and entry.detail["capacity"] == 4
    assert entry.detail["reason"] == "Cụ 80 tuổi đi bộ 5 km đến, gọi •••"  # no phone number in the audit
    again = station.post(f"{DESK}/{session_id}/walk-in", data={**form, "reason": "lần nữa"})
    assert f">{code}<" in again.text
    with database.read() as db:
        assert db.get_one(ExamSession, session_id).capacity == 4  # the replay took no second seat


def test_four_taps_at_once_on_a_full_sessions_walk_in_register_one_person_and_one_seat(
        desk: dict[str, Any], client: TestClient, database: Database) -> None:
    home, station = desk["home"], desk["station"]
    session_id = home["session"]["id"]
    for _ in range(3):
        booked(client, session_id, person(home["commune"]["id"]))
    page = station.get(f"{DESK}/{session_id}/walk-in")
    form = {**walk_in_form(page.text, person(home["commune"]["id"])), "reason": "Cụ đi bộ đến"}
    start = threading.Barrier(4)
    answers: list[int] = []

    def send() -> None:
        start.wait()
        answers.append(station.post(f"{DESK}/{session_id}/walk-in", data=form).status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers.count(200) >= 1 and set(answers) <= {200, 409}, answers
    with database.read() as db:
        session = db.get_one(ExamSession, session_id)
        assert (session.capacity, session.booked) == (4, 4)
    assert len(audit(database, "booking.walk_in")) == 1


def test_a_walk_in_refused_by_the_booking_rules_is_explained(desk: dict[str, Any], client: TestClient) -> None:
    home, station = desk["home"], desk["station"]
    session_id = home["session"]["id"]
    resident = person(home["commune"]["id"])
    booked(client, session_id, resident)
    page = station.get(f"{DESK}/{session_id}/walk-in")
    twice = station.post(f"{DESK}/{session_id}/walk-in", data=walk_in_form(page.text, resident))
    assert twice.status_code == 409 and "đã có một lịch khám" in twice.text
    shared = {**person(home["commune"]["id"]), "phone": resident["phone"]}
    clash = station.post(f"{DESK}/{session_id}/walk-in", data=walk_in_form(page.text, shared))
    assert clash.status_code == 409 and "Số điện thoại này đang dùng" in clash.text
    allowed = station.post(f"{DESK}/{session_id}/walk-in", data=walk_in_form(
        station.get(f"{DESK}/{session_id}/walk-in").text, shared, shared_phone="on"))
    assert allowed.status_code == 200 and 'id="walked-in"' in allowed.text


def under_way(world: World, site_id: int) -> int:
    start = datetime.now(local_tz()) - timedelta(hours=1)
    response = world.client.post("/api/v1/sessions", headers=world.admin, json={
        "site_id": site_id, "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=3)).isoformat(),
        "capacity": 5})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_a_walk_in_joins_the_session_under_way_and_not_one_that_ended(
        desk: dict[str, Any], world: World, database: Database, client: TestClient) -> None:
    station, home = desk["station"], desk["home"]
    session_id = under_way(world, home["site"]["id"])
    page = station.get(f"{DESK}/{session_id}/walk-in")
    done = station.post(f"{DESK}/{session_id}/walk-in", data=walk_in_form(page.text, person(home["commune"]["id"])))
    assert done.status_code == 200 and 'id="walked-in"' in done.text
    # Residents still book only before a session starts; and the desk not after it ended.
    booked = client.post("/api/v1/bookings", headers={"Idempotency-Key": "under-way-1"}, json={
        "session_id": session_id, "channel": "api", "resident": person(home["commune"]["id"])})
    assert booked.status_code == 409 and booked.json()["code"] == "session_closed"
    start = datetime.now(local_tz()) - timedelta(hours=4)
    ended = world.client.post("/api/v1/sessions", headers=world.admin, json={
        "site_id": home["site"]["id"], "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=3)).isoformat(), "capacity": 5}).json()["id"]
    page = station.get(f"{DESK}/{ended}/walk-in")
    refused = station.post(f"{DESK}/{ended}/walk-in", data=walk_in_form(page.text, person(home["commune"]["id"])))
    assert refused.status_code == 409
    with database.read() as db:
        assert db.scalar(select(func.count()).select_from(Booking)) == 1


# --- working without a connection ------------------------------------------------------------------

def test_the_service_worker_and_the_desks_files_are_served(desk: dict[str, Any]) -> None:
    station = desk["station"]
    worker = station.get("/studio/desk/sw.js")
    assert worker.status_code == 200 and worker.headers["content-type"].startswith("text/javascript")
    assert "ksk-desk-v1" in worker.text and worker.headers["Cache-Control"] == "no-store"
    for asset, kind in (("/studio/static/desk.js", "javascript"), ("/studio/static/desk.css", "text/css")):
        served = station.get(asset)
        assert served.status_code == 200 and kind in served.headers["content-type"], asset
    offline = station.get("/studio/desk/offline")
    assert offline.status_code == 200 and "chưa được lưu trên máy" in offline.text
