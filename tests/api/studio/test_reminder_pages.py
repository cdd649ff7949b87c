"""Staff pages of reminders outside the chat: the ZNS/SMS templates per message kind (who may edit, the
checks in Vietnamese, preview without saving, the audit) and a campaign day's reminders — counts by
kind × step × outcome, the list of people to phone, scoped to a station's commune, and the full number
shown only to those who may see it, audited."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.audit.models import AuditEntry
from api.bookings.models import Booking
from api.core.clock import to_local
from api.core.db import Database, utcnow
from api.notifications import report, templates
from api.notifications.models import ReminderLog, ReminderTemplate
from api.sessions.models import ExamSession
from tests.support.world import World, booked, csrf_of, person

Login = Callable[..., TestClient]
TEMPLATES = "/studio/reminders/templates"
REPORT = "/studio/reminders/report"
REVEAL = "/studio/reminders/report/phone"
# What the pages' Content-Security-Policy would block (tests/security/test_web_hardening.py): none of it.
INLINE_CODE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<[^>]+\son[a-z]+\s*=|<style|\sstyle\s*=", re.IGNORECASE)


# --- templates ----------------------------------------------------------------------------------------

def template_form(page: str, **fields: str) -> dict[str, str]:
    form = {"csrf": csrf_of(page), "zns_template_id": "", "sms_text": "", "action": "save"}
    form.update(fields)
    return form


def audit_actions(database: Database, action: str) -> list[AuditEntry]:
    with database.read() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_only_editors_and_admins_open_the_template_pages(studio_login: Login, client: TestClient,
                                                         world: World) -> None:
    assert client.get(TEMPLATES, follow_redirects=False).headers["location"] == "/studio/login"
    for role in ("cadre", "station"):
        browser = studio_login(role, commune_id=world.commune()["id"] if role == "station" else None)
        for path in (TEMPLATES, f"{TEMPLATES}/day_before"):
            page = browser.get(path)
            assert page.status_code == 403 and "không có quyền" in page.text, (role, path)
        assert browser.post(f"{TEMPLATES}/day_before", data={"csrf": "x", "sms_text": "x"}).status_code == 403
    for role in ("editor", "admin"):
        listing = studio_login(role).get(TEMPLATES)
        assert listing.status_code == 200, role
    assert 'href="/studio/reminders/templates"' in listing.text  # in the menu


def test_the_list_shows_each_kind_with_its_zns_template_or_sms(studio_login: Login) -> None:
    page = studio_login("editor").get(TEMPLATES)
    for kind in ("booked", "day_before", "two_hours", "followup"):
        assert f'href="{TEMPLATES}/{kind}"' in page.text
    assert page.text.count("chưa có mẫu ZNS — gửi SMS") == len(templates.KINDS)
    assert not INLINE_CODE.search(page.text)
    assert "Nhac lich kham suc khoe mien phi: ngay mai {time} {date}" in page.text
    assert studio_login("editor").get(f"{TEMPLATES}/no_such_kind").status_code == 404


def test_preview_fills_the_sample_data_and_keeps_nothing(studio_login: Login, database: Database) -> None:
    editor = studio_login("editor")
    page = editor.get(f"{TEMPLATES}/day_before")
    assert page.status_code == 200 and "Xem trước" in page.text and not INLINE_CODE.search(page.text)
    shown = editor.post(f"{TEMPLATES}/day_before", data=template_form(
        page.text, action="preview", zns_template_id="231456", param_name_0="gio_kham", param_field_0="time",
        param_name_1="noi_kham", param_field_1="place", sms_text="Nhắc lịch: {time} {date} tại {place}."))
    assert shown.status_code == 200, shown.text
    result = shown.text.split('id="preview-result"')[1]
    # ZNS data as Zalo receives it, the SMS as the phone shows it (GSM-7: without diacritics).
    assert "<code>gio_kham</code></td><td>07:30</td>" in result
    assert "<code>noi_kham</code></td><td>Trạm Y tế xã Hữu Liên</td>" in result
    sms = "Nhac lich: 07:30 02/12/2026 tai Tram Y te xa Huu Lien."
    assert f'<div class="bubble" id="preview-sms">{sms}</div>' in result
    assert f"Dài {len(sms)} / 160 ký tự." in result
    assert 'value="231456"' in shown.text and 'value="gio_kham"' in shown.text  # the form as typed
    with database.read() as db:
        assert db.scalar(select(ReminderTemplate)) is None
    assert audit_actions(database, "reminder_template.save") == []


@pytest.mark.parametrize(("kind", "fields", "said"), [
    ("day_before", {"zns_template_id": "231456", "param_name_0": "ten", "param_field_0": "ho_ten",
                    "sms_text": "Nhac lich {time} tai {place}"},
     "Tham số ZNS “ten” lấy từ trường không có: “ho_ten”."),
    ("day_before", {"sms_text": "Nhac lich {time} tai {place}, ma {code}"},
     "Tin SMS không được dùng “{code}” (mã đặt lịch chỉ gửi trong tin xác nhận)."),
    ("two_hours", {"sms_text": "Nhac lich {time} tai {place}." + " Xin den som." * 12},
     "tối đa 160."),
    ("followup", {"zns_template_id": "mau-cam-on", "param_name_0": "gio", "param_field_0": "time",
                  "sms_text": "Cam on ban. Hoi them: {station_phone}"},
     "Mã mẫu ZNS là dãy số Zalo cấp khi duyệt mẫu."),
    ("booked", {"zns_template_id": "231456", "param_name_0": "gio", "param_field_0": "time",
                "param_name_1": "gio", "param_field_1": "date", "sms_text": "Da dat lich {time}. Ma {code}"},
     "Tham số ZNS “gio” có hai dòng; mỗi tham số một dòng."),
])
def test_a_wrong_template_is_refused_in_vietnamese_and_the_form_keeps_what_was_typed(
        studio_login: Login, database: Database, kind: str, fields: dict[str, str], said: str) -> None:
    editor = studio_login("editor")
    page = editor.get(f"{TEMPLATES}/{kind}")
    refused = editor.post(f"{TEMPLATES}/{kind}", data=template_form(page.text, **fields))
    assert refused.status_code == 422, refused.text
    assert 'role="alert"' in refused.text and said in refused.text
    assert "Chưa lưu được" in refused.text
    assert f">{fields['sms_text']}</textarea>" in refused.text
    if fields.get("zns_template_id"):
        assert f'value="{fields["zns_template_id"]}"' in refused.text
    with database.read() as db:
        assert db.scalar(select(ReminderTemplate)) is None
    assert audit_actions(database, "reminder_template.save") == []


def test_saving_a_template_is_audited_and_listed(studio_login: Login, database: Database) -> None:
    admin = studio_login("admin")
    page = admin.get(f"{TEMPLATES}/day_before")
    form = template_form(page.text, zns_template_id="231456", param_name_0="gio_kham", param_field_0="time",
                         param_name_2="noi_kham", param_field_2="place",
                         sms_text="Nhac lich kham: {weekday} {time} {date} tai {place}. Dung: TC gui {stop_number}")
    forged = admin.post(f"{TEMPLATES}/day_before", data={**form, "csrf": "0" * 40})
    assert forged.status_code == 403 and "tải lại trang" in forged.text
    saved = admin.post(f"{TEMPLATES}/day_before", data=form, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"{TEMPLATES}/day_before?saved=1"
    again = admin.get(saved.headers["location"])
    assert "Đã lưu" in again.text and 'value="gio_kham"' in again.text and 'value="noi_kham"' in again.text
    with database.read() as db:
        row = db.get(ReminderTemplate, "day_before")
        assert row is not None and row.zns_template_id == "231456"
        assert json.loads(row.zns_params) == {"gio_kham": "time", "noi_kham": "place"}
    entries = audit_actions(database, "reminder_template.save")
    assert [(e.entity, e.entity_id, e.actor.startswith("admin-"), e.actor_id is not None) for e in entries] == [
        ("reminder_template", "day_before", True, True)]
    listing = admin.get(TEMPLATES).text
    row_html = listing.split('id="kind-day_before"')[1].split("</tr>")[0]
    assert "<code>231456</code>" in row_html and "<code>gio_kham</code> ← giờ khám (08:00)" in row_html
    assert listing.count("chưa có mẫu ZNS — gửi SMS") == len(templates.KINDS) - 1


# --- a campaign day's reminders ----------------------------------------------------------------------

@pytest.fixture
def campaign(client: TestClient, world: World, database: Database) -> dict[str, Any]:
    """Two communes' appointments of one exam day and how their reminders went:
    - Lan (commune A): confirmation delivered by ZNS, day-before reminder undeliverable after every step → to call;
    - Minh (A): day-before reminder delivered by ZNS after the chat's window closed, two-hours undeliverable
      (no channel) → reached, not to call;
    - Hoa (A): confirmation being retried by SMS → nothing failed for good, not to call;
    - Tuan (A): day-before reminder sent in Telegram;
    - Nam (A, another day): undeliverable, but not on this day's list;
    - Binh (commune B): day-before reminder undeliverable (outside the window, no other step) → B's list."""
    place_a, place_b = world.place(capacity=10), world.place(capacity=10)
    later = world.session(place_a["site"]["id"], capacity=10, days=5)
    people: dict[str, dict[str, Any]] = {}
    for name, session in (("Lan", place_a["session"]), ("Minh", place_a["session"]), ("Hoa", place_a["session"]),
                          ("Tuan", place_a["session"]), ("Nam", later), ("Binh", place_b["session"])):
        commune = place_b["commune"] if name == "Binh" else place_a["commune"]
        resident = {**person(commune["id"]), "full_name": f"Nguyễn Văn {name}"}
        people[name] = {"resident": resident, "code": booked(client, session["id"], resident)["code"]}
    log = {
        "Lan": [("booked", "zns", "sent", True, "", ""),
                ("day_before", "sms", "undeliverable", False, "channel_off",
                 "chat:outside_window zns:not_on_zalo sms:channel_off")],
        "Minh": [("day_before", "zns", "sent", True, "", "chat:outside_window"),
                 ("two_hours", "", "undeliverable", False, "no_channel", "")],
        "Hoa": [("booked", "sms", "retry", False, "retry", "zns:quota")],
        "Tuan": [("day_before", "telegram", "sent", False, "", "")],
        "Nam": [("day_before", "zalo", "undeliverable", False, "outside_window", "chat:outside_window")],
        "Binh": [("day_before", "zalo", "undeliverable", False, "outside_window", "chat:outside_window")],
    }
    with database.write() as db:
        for name, rows in log.items():
            booking_id, starts_at = db.execute(
                select(Booking.id, ExamSession.starts_at).join(ExamSession, Booking.session_id == ExamSession.id)
                .where(Booking.code == people[name]["code"])).one()
            for kind, channel, status, delivered, detail, trail in rows:
                db.add(ReminderLog(booking_id=booking_id, kind=kind, starts_at=starts_at, channel=channel,
                                   language="vi", status=status, attempts=1, detail=detail, trail=trail,
                                   delivered_at=utcnow() if delivered else None))
    starts = datetime.fromisoformat(place_a["session"]["starts_at"])
    return {"a": place_a["commune"]["id"], "b": place_b["commune"]["id"], "people": people,
            "day": to_local(starts).date()}


def test_a_days_reminders_are_counted_by_kind_step_and_outcome(
        campaign: dict[str, Any], database: Database) -> None:
    with database.read() as db:
        counts = report.day_counts(db, campaign["day"], campaign["a"])
        everywhere = report.day_counts(db, campaign["day"], None)
        next_day = report.day_counts(db, campaign["day"] + timedelta(days=1), campaign["a"])
    lines = {(line.kind, line.channel): dict(line.counts) for line in counts.lines}
    assert lines == {("booked", "zns"): {"delivered": 1}, ("booked", "sms"): {"pending": 1},
                     ("day_before", "telegram"): {"sent": 1}, ("day_before", "zns"): {"delivered": 1},
                     ("day_before", "sms"): {"undeliverable": 1}, ("two_hours", ""): {"undeliverable": 1}}
    assert [(line.kind, line.channel) for line in counts.lines][:2] == [("booked", "zns"), ("booked", "sms")]
    assert dict(counts.totals) == {"delivered": 2, "pending": 1, "sent": 1, "undeliverable": 2}
    assert dict(counts.undeliverable) == {"channel_off": 1, "no_channel": 1}
    assert dict(counts.gave_way) == {("chat", "outside_window"): 2, ("zns", "not_on_zalo"): 1,
                                     ("sms", "channel_off"): 1, ("", "no_channel"): 1, ("zns", "quota"): 1}
    assert everywhere.totals["undeliverable"] == 3  # Binh's, in the other commune
    assert next_day.lines == []


def test_the_station_sees_its_communes_day_and_whom_to_phone(
        campaign: dict[str, Any], studio_login: Login) -> None:
    people = campaign["people"]
    station = studio_login("station", commune_id=campaign["a"])
    page = station.get(REPORT, params={"day": campaign["day"].isoformat()})
    assert page.status_code == 200, page.text
    assert not INLINE_CODE.search(page.text) and page.headers["Cache-Control"] == "no-store"
    to_call = page.text.split('id="to-call"')[1].split("</table>")[0]
    assert f'id="booking-{people["Lan"]["code"]}"' in to_call
    for name in ("Minh", "Hoa", "Tuan", "Nam", "Binh"):
        assert people[name]["code"] not in to_call, name
    lan = to_call.split(f'id="booking-{people["Lan"]["code"]}"')[1].split("</tr>")[0]
    phone = people["Lan"]["resident"]["phone"]
    assert "Nguyễn Văn Lan" in lan and "07:30" in lan and "Trạm Y tế xã" in lan
    assert "•" * (len(phone) - 3) + phone[-3:] in lan and phone not in lan
    assert ("Nhắc hôm trước:</strong> không gửi được — Trò chuyện: quá 48 giờ từ tin nhắn cuối trên Zalo; "
            "Zalo ZNS: số không dùng Zalo; SMS: kênh chưa cấu hình") in lan
    assert "Xác nhận đặt lịch:</strong> đã đến máy (có báo nhận)" in lan
    counts = page.text.split('id="counts"')[1].split("</table>")[0]
    assert re.search(r"Tổng</th><td></td><td>1</td><td>2</td><td>1</td><td>2</td>", counts)
    assert "không có kênh nào được đồng ý" in page.text.split('id="reasons"')[1]
    # Asking for another commune changes nothing for a station.
    asked = station.get(REPORT, params={"day": campaign["day"].isoformat(), "commune_id": campaign["b"]})
    assert people["Binh"]["code"] not in asked.text and people["Lan"]["code"] in asked.text
    assert 'href="/studio/reminders/report"' in page.text  # in the menu
    assert station.get(REPORT, params={"day": "02/12/2026"}).status_code == 422


def test_other_communes_staff_and_other_roles_do_not_see_it(
        campaign: dict[str, Any], studio_login: Login, client: TestClient) -> None:
    people, day = campaign["people"], campaign["day"].isoformat()
    other = studio_login("station", commune_id=campaign["b"]).get(REPORT, params={"day": day})
    assert people["Binh"]["code"] in other.text
    assert all(people[name]["code"] not in other.text for name in ("Lan", "Minh", "Hoa", "Tuan"))
    admin = studio_login("admin").get(REPORT, params={"day": day})
    assert people["Binh"]["code"] in admin.text and people["Lan"]["code"] in admin.text
    only_b = studio_login("admin").get(REPORT, params={"day": day, "commune_id": campaign["b"]})
    assert people["Binh"]["code"] in only_b.text and people["Lan"]["code"] not in only_b.text
    for role in ("editor", "cadre"):
        assert studio_login(role).get(REPORT).status_code == 403
    assert client.get(REPORT, follow_redirects=False).headers["location"] == "/studio/login"


def reveal(browser: TestClient, code: str, day: date) -> Any:
    page = browser.get(REPORT, params={"day": day.isoformat()})
    return browser.post(REVEAL, data={"csrf": csrf_of(page.text), "code": code, "commune_id": ""})


def test_the_full_number_is_shown_to_the_residents_station_and_audited(
        campaign: dict[str, Any], studio_login: Login, database: Database) -> None:
    lan = campaign["people"]["Lan"]
    station = studio_login("station", commune_id=campaign["a"])
    shown = reveal(station, lan["code"], campaign["day"])
    assert shown.status_code == 200, shown.text
    row = shown.text.split(f'id="booking-{lan["code"]}"')[1].split("</tr>")[0]
    assert f'href="tel:{lan["resident"]["phone"]}"' in row and shown.headers["Cache-Control"] == "no-store"
    entries = audit_actions(database, "reminder.reveal_phone")
    assert [(e.entity, e.entity_id, e.actor.startswith("station-")) for e in entries] == [
        ("booking", lan["code"], True)]


def test_nobody_else_gets_the_number_nor_learns_whether_a_code_exists(
        campaign: dict[str, Any], studio_login: Login, client: TestClient, database: Database) -> None:
    people, day = campaign["people"], campaign["day"]
    lan = people["Lan"]
    other = studio_login("station", commune_id=campaign["b"])
    elsewhere = reveal(other, lan["code"], day)
    unknown = reveal(other, "ACEFGHJK", day)
    not_listed = reveal(studio_login("station", commune_id=campaign["a"]), people["Minh"]["code"], day)
    for answer in (elsewhere, unknown, not_listed):
        assert answer.status_code == 403 and lan["resident"]["phone"] not in answer.text
    assert elsewhere.text == unknown.text
    for role in ("editor", "cadre"):
        assert studio_login(role).post(REVEAL, data={"csrf": "x", "code": lan["code"]}).status_code == 403
    station = studio_login("station", commune_id=campaign["a"])
    page = station.get(REPORT, params={"day": day.isoformat()})
    forged = station.post(REVEAL, data={"csrf": "0" * 40, "code": lan["code"]})
    assert forged.status_code == 403 and lan["resident"]["phone"] not in forged.text
    anonymous = client.post(REVEAL, data={"csrf": csrf_of(page.text), "code": lan["code"]}, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/studio/login"
    assert audit_actions(database, "reminder.reveal_phone") == []
    # Admins, like for a roster's export with phone numbers: any commune, and a plain "not found".
    admin = studio_login("admin")
    assert reveal(admin, "ACEFGHJK", day).status_code == 404
    assert reveal(admin, "không phải mã", day).status_code == 404
    shown = reveal(admin, people["Binh"]["code"], day)
    assert shown.status_code == 200 and f'href="tel:{people["Binh"]["resident"]["phone"]}"' in shown.text
    assert [e.entity_id for e in audit_actions(database, "reminder.reveal_phone")] == [people["Binh"]["code"]]

