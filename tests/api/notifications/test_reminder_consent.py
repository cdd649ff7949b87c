"""A reminders consent names the ways the resident agreed to (issue 19): the chat's yes names the chat,
ZNS and SMS; the web chat's names the booking's phone only and subscribes no chat; a cadre's or a
station's tick files it for the person booked on their behalf. A newer yes naming other ways replaces the
standing one. "TC" texted from a phone (relayed by the gateway alone) stops reminders for everyone booked
with that number, and answers the same whoever asks about whatever number."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.audit.models import AuditEntry
from api.consent.models import Consent
from api.consent.service import notice_fingerprint
from api.core.config import Settings
from api.core.db import Database
from api.main import create_app
from api.notifications.models import ReminderSubscription
from common.keys import internal_token
from common.wording import seeds
from tests.api.conftest import PublishMessage
from tests.support.env import TEST_SECRET, chat_headers, service_credential
from tests.support.world import World, csrf_of, person

SUBSCRIBE = "/api/v1/reminders/subscribe"
STOP_PHONE = "/api/v1/reminders/stop-phone"
GATEWAY = {"X-Internal-Token": internal_token(TEST_SECRET.encode())}
WEB_CHAT, ZALO_CHAT = "w0123456789", "8800112233"


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    """The action server: its service credential; each request signs the chat it is for."""
    headers = {"Authorization": f"Bearer {service_credential(database)}"}
    with TestClient(create_app(settings, database), raise_server_exceptions=False, headers=headers) as test_client:
        yield test_client


def book(client: TestClient, world: World, channel: str, chat_id: str, index: int) -> dict[str, Any]:
    commune = world.commune()
    session = world.session(world.site(commune["id"])["id"], capacity=5)
    booked = client.post("/api/v1/bookings", headers={"Idempotency-Key": f"consent-{index}-booking",
                                                      **chat_headers(channel, chat_id)},
                         json={"session_id": session["id"], "channel": channel,
                               "resident": person(commune["id"], index=index)})
    assert booked.status_code == 201, booked.text
    return dict(booked.json())


def subscribe(client: TestClient, code: str, channel: str, chat_id: str, *, headers: dict[str, str] | None = None,
              **extra: Any) -> Any:
    return client.post(SUBSCRIBE, headers=headers if headers is not None else chat_headers(channel, chat_id), json={
        "booking_code": code, "channel": channel, "chat_id": chat_id, "consent_notice": "2026-01.abc123", **extra})


def reminder_consents(database: Database) -> list[Consent]:
    with database.read() as db:
        return list(db.scalars(select(Consent).where(Consent.purpose == "reminders").order_by(Consent.id)))


def standing(database: Database) -> list[str]:
    return [c.channels for c in reminder_consents(database) if c.withdrawn_at is None]


def subscriptions(database: Database) -> int:
    with database.read() as db:
        return len(db.scalars(select(ReminderSubscription.id)).all())


# --- in the chat ---------------------------------------------------------------------------------------

def test_a_yes_in_a_zalo_chat_names_the_chat_zns_and_sms(client: TestClient, world: World, database: Database
                                                         ) -> None:
    booking = book(client, world, "zalo", ZALO_CHAT, 1)
    assert subscribe(client, booking["code"], "zalo", ZALO_CHAT, reach=["chat", "zns", "sms"]).status_code == 204
    [consent] = reminder_consents(database)
    assert (consent.channels, consent.channel, consent.given_by, consent.method) == (
        "chat zns sms", "zalo", "self", "chat")
    assert subscriptions(database) == 1
    # The same yes again (a double tap) files nothing new.
    assert subscribe(client, booking["code"], "zalo", ZALO_CHAT, reach=["sms", "chat", "zns"]).status_code == 204
    assert len(reminder_consents(database)) == 1


def test_a_yes_to_more_ways_replaces_an_older_chat_only_consent(client: TestClient, world: World,
                                                                database: Database) -> None:
    booking = book(client, world, "telegram", "4242", 2)
    # An action server from before the offer named ZNS and SMS sends no reach: the chat only.
    assert subscribe(client, booking["code"], "telegram", "4242").status_code == 204
    assert standing(database) == ["chat"]
    assert subscribe(client, booking["code"], "telegram", "4242", reach=["chat", "zns", "sms"]).status_code == 204
    older, newer = reminder_consents(database)
    assert older.withdrawn_at is not None and (newer.withdrawn_at, newer.channels) == (None, "chat zns sms")
    # A consent given before the channels column (empty: the chat only) is kept by a chat-only yes…
    with database.write() as db:
        db.get_one(Consent, newer.id).withdrawn_at = older.withdrawn_at
        db.get_one(Consent, older.id).withdrawn_at, db.get_one(Consent, older.id).channels = None, ""
    assert subscribe(client, booking["code"], "telegram", "4242").status_code == 204
    assert standing(database) == [""]
    # …and replaced by one that names more: exactly one stands, naming what was agreed to last.
    assert subscribe(client, booking["code"], "telegram", "4242", reach=["chat", "zns", "sms"]).status_code == 204
    assert standing(database) == ["chat zns sms"] and len(reminder_consents(database)) == 3


@pytest.mark.parametrize("reach", [[], ["chat", "chat"], ["zns", "sms", "zns"], ["email"], ["CHAT"], "chat",
                                   ["chat", "zns", "sms", "chat"], [None]])
def test_reach_is_a_list_of_known_ways_each_once(client: TestClient, world: World, database: Database,
                                                 reach: Any) -> None:
    booking = book(client, world, "zalo", ZALO_CHAT, 3)
    answer = subscribe(client, booking["code"], "zalo", ZALO_CHAT, reach=reach)
    assert answer.status_code == 422 and answer.json()["code"] == "validation_error"
    assert reminder_consents(database) == [] and subscriptions(database) == 0


def test_announcements_take_no_reach(client: TestClient, world: World) -> None:
    booking = book(client, world, "zalo", ZALO_CHAT, 4)
    body = {"booking_code": booking["code"], "channel": "zalo", "chat_id": ZALO_CHAT, "consent_notice": "2026-01"}
    assert client.post("/api/v1/announcements/subscribe", headers=chat_headers("zalo", ZALO_CHAT),
                       json=body).status_code == 204


# --- the web chat ---------------------------------------------------------------------------------------

def test_a_yes_in_the_web_chat_files_the_phones_ways_and_subscribes_no_chat(
        client: TestClient, world: World, database: Database) -> None:
    booking = book(client, world, "web", WEB_CHAT, 5)
    code = booking["code"]
    # The web chat cannot be written to first: asking for the chat is still refused.
    for reach in (None, ["chat", "zns", "sms"], ["chat"]):
        refused = subscribe(client, code, "web", WEB_CHAT, **({"reach": reach} if reach else {}))
        assert refused.json()["code"] == "channel_cannot_remind", reach
    assert reminder_consents(database) == []
    assert subscribe(client, code, "web", WEB_CHAT, reach=["zns", "sms"], language="tyz").status_code == 204
    [consent] = reminder_consents(database)
    assert (consent.channels, consent.channel, consent.given_by, consent.notice_version) == (
        "zns sms", "web", "self", "2026-01.abc123")
    assert subscriptions(database) == 0
    with database.read() as db:
        audited = db.scalars(select(AuditEntry).where(AuditEntry.action == "reminders.subscribe")).one()
    assert (audited.entity_id, audited.detail) == (code, {"channel": "web", "reach": "zns sms"})


def test_the_web_yes_keeps_the_subscribe_endpoints_guards(client: TestClient, world: World,
                                                          database: Database) -> None:
    booking = book(client, world, "web", WEB_CHAT, 6)
    by_phone = {"reach": ["zns", "sms"]}
    # Another chat's identity than the one in the body.
    mismatch = subscribe(client, booking["code"], "web", WEB_CHAT, headers=chat_headers("web", "w9999999999"),
                         **by_phone)
    assert mismatch.status_code == 403 and mismatch.json()["code"] == "chat_mismatch"
    # Another web chat, its own identity, without the booking's second factor: the code alone opens nothing.
    stranger = subscribe(client, booking["code"], "web", "w9999999999", **by_phone)
    assert stranger.status_code == 404 and stranger.json()["code"] == "booking_not_found"
    assert reminder_consents(database) == []
    # With the factor (the phone's last three digits) it may.
    factor = {**chat_headers("web", "w9999999999"), "X-Booking-Verifier": person(0, index=6)["phone"][-3:]}
    assert subscribe(client, booking["code"], "web", "w9999999999", headers=factor, **by_phone).status_code == 204
    assert standing(database) == ["zns sms"]
    # Without the service credential, nothing.
    bare = {"Authorization": "", **chat_headers("web", WEB_CHAT)}
    assert subscribe(client, booking["code"], "web", WEB_CHAT, headers=bare, **by_phone).status_code == 401


# --- a cadre or station books on behalf -----------------------------------------------------------------

def booking_form(page: str, place: dict[str, Any], index: int, **extra: str) -> dict[str, str]:
    """The page's form filled in; it sends back the version of the reminders notice it showed."""
    resident = person(place["commune"]["id"], index=index)
    shown = re.search(r'name="reminders_notice" value="([^"]*)"', page)
    assert shown is not None
    return {"csrf": csrf_of(page), "reminders_notice": shown[1], "commune_id": str(place["commune"]["id"]),
            "session_id": str(place["session"]["id"]), "full_name": resident["full_name"],
            "birth_date": resident["birth_date"], "cccd": resident["cccd"], "phone": resident["phone"],
            "consent_method": "in_person", "consent_confirmed": "on", **extra}


def test_the_booking_page_files_reminders_by_zns_or_sms_only_when_ticked(
        studio_login: Any, place: dict[str, Any], database: Database, seeded_content: Database,
        publish_message: PublishMessage) -> None:
    cadre = studio_login("cadre")
    page = cadre.get("/studio/book", params={"commune_id": place["commune"]["id"]}).text
    notice = seeds()["reminders_notice_in_person"]
    assert notice in page and "Người dân đồng ý nhận tin nhắc lịch qua Zalo (ZNS) hoặc SMS" in page
    assert 'name="reminders_consent"' in page and 'aria-describedby="reminders-notice"' in page

    unticked = cadre.post("/studio/book", data=booking_form(page, place, 21))
    assert unticked.status_code == 200 and "qua Zalo (ZNS) hoặc SMS đến số điện thoại này" not in unticked.text
    assert reminder_consents(database) == []

    ticked = cadre.post("/studio/book", data=booking_form(page, place, 22, reminders_consent="on"))
    assert ticked.status_code == 200 and "qua Zalo (ZNS) hoặc SMS đến số điện thoại này" in ticked.text
    [consent] = reminder_consents(database)
    assert (consent.channels, consent.given_by, consent.method, consent.channel) == (
        "zns sms", "cadre", "in_person", "cadre")
    assert consent.recorded_by.startswith("cadre-") and consent.notice_version == notice_fingerprint(notice)
    with database.read() as db:
        booking_consent = db.scalars(select(Consent).where(Consent.purpose == "booking")
                                     .order_by(Consent.id.desc())).first()
    assert booking_consent is not None and consent.subject_hash == booking_consent.subject_hash

    # Staff reword the notice: the page shows the new words, and a consent given on it names them. A
    # page still open from before sends back the version of the words it showed.
    stale = booking_form(page, place, 24, reminders_consent="on")
    reworded = "Nhắc lịch qua Zalo hoặc SMS; nhắn TC để dừng."
    publish_message("reminders_notice_in_person", {"vi": reworded})
    station = studio_login("station", commune_id=place["commune"]["id"])
    page = station.get("/studio/book", params={"commune_id": place["commune"]["id"]}).text
    assert reworded in page and notice not in page
    assert station.post("/studio/book", data=booking_form(page, place, 23, reminders_consent="on",
                                                          consent_method="paper")).status_code == 200
    latest = reminder_consents(database)[-1]
    assert (latest.given_by, latest.method, latest.channels) == ("station", "paper", "zns sms")
    assert latest.notice_version == notice_fingerprint(reworded)
    assert cadre.post("/studio/book", data=stale).status_code == 200
    assert reminder_consents(database)[-1].notice_version == notice_fingerprint(notice)
    # A form without the version (sent by a page from before this field): the words now.
    assert station.post("/studio/book", data={**booking_form(page, place, 25, reminders_consent="on"),
                                              "reminders_notice": ""}).status_code == 200
    assert reminder_consents(database)[-1].notice_version == notice_fingerprint(reworded)


def test_the_on_behalf_api_files_reminders_with_their_notice(
        client: TestClient, place: dict[str, Any], staff_token: Any, database: Database) -> None:
    body = {"session_id": place["session"]["id"], "resident": person(place["commune"]["id"], index=31),
            "consent_notice": "2026-01.staff", "consent_method": "phone", "channel": "cadre"}
    cadre = staff_token("cadre")
    assert client.post("/api/v1/bookings/on-behalf", headers=cadre,
                       json={**body, "reminders_notice": "not a version!"}).status_code == 422
    booked = client.post("/api/v1/bookings/on-behalf", headers={**cadre, "Idempotency-Key": "on-behalf-31"},
                         json={**body, "reminders_notice": "2026-01.abcdef"})
    assert booked.status_code == 201, booked.text
    replayed = client.post("/api/v1/bookings/on-behalf", headers={**cadre, "Idempotency-Key": "on-behalf-31"},
                           json={**body, "reminders_notice": "2026-01.abcdef"})
    assert replayed.json()["code"] == booked.json()["code"]
    [consent] = reminder_consents(database)  # the replay filed nothing more
    assert (consent.channels, consent.given_by, consent.method, consent.notice_version) == (
        "zns sms", "cadre", "phone", "2026-01.abcdef")
    with database.read() as db:
        audited = db.scalars(select(AuditEntry).where(AuditEntry.action == "booking.on_behalf")).one()
    assert audited.detail["reminders"] is True


# --- "TC" by SMS ----------------------------------------------------------------------------------------

def test_tc_from_a_phone_stops_everyone_booked_with_it(
        client: TestClient, world: World, place: dict[str, Any], staff_token: Any, database: Database) -> None:
    # A Zalo resident subscribed in the chat, and a couple sharing one phone booked by the station.
    zalo = book(client, world, "zalo", ZALO_CHAT, 41)
    assert subscribe(client, zalo["code"], "zalo", ZALO_CHAT, reach=["chat", "zns", "sms"]).status_code == 204
    station = staff_token("station", commune_id=place["commune"]["id"])
    shared = person(place["commune"]["id"], index=42)["phone"]
    for index, key in ((42, "couple-1"), (43, "couple-2")):
        resident = {**person(place["commune"]["id"], index=index), "phone": shared}
        booked = client.post("/api/v1/bookings/on-behalf", headers={**station, "Idempotency-Key": key}, json={
            "session_id": place["session"]["id"], "resident": resident, "consent_notice": "2026-01.staff",
            "consent_method": "in_person", "channel": "station", "shared_phone": True,
            "reminders_notice": "2026-01.abcdef"})
        assert booked.status_code == 201, booked.text
    assert len(standing(database)) == 3 and subscriptions(database) == 1

    # Unknown and malformed numbers: the same empty 204, nothing stopped.
    for phone in ("0999999999", "not a phone", "8077", "+1 202 555 0100"):
        answer = client.post(STOP_PHONE, headers=GATEWAY, json={"phone": phone})
        assert (answer.status_code, answer.content) == (204, b""), phone
    assert len(standing(database)) == 3

    # The provider's form of the couple's number ("84…") reaches both of them, not the Zalo resident.
    answer = client.post(STOP_PHONE, headers=GATEWAY, json={"phone": "84" + shared[1:]})
    assert (answer.status_code, answer.content) == (204, b"")
    assert standing(database) == ["chat zns sms"] and subscriptions(database) == 1
    # The Zalo resident's own number ("+84 …" with spaces): their chat subscription goes too.
    zalo_phone = person(0, index=41)["phone"]
    assert client.post(STOP_PHONE, headers=GATEWAY, json={"phone": f"+84 {zalo_phone[1:4]} {zalo_phone[4:]}"}
                       ).status_code == 204
    assert standing(database) == [] and subscriptions(database) == 0

    with database.read() as db:
        audited = [e.detail for e in db.scalars(select(AuditEntry).where(AuditEntry.entity_id == "sms")
                                                .order_by(AuditEntry.id))]
    assert [d["residents"] for d in audited] == [0, 0, 0, 0, 2, 1]
    assert not any(shared[-6:] in str(d) or zalo_phone[-6:] in str(d) for d in audited)


def test_only_the_gateway_may_stop_by_phone(client: TestClient, world: World, staff_token: Any,
                                            database: Database) -> None:
    booking = book(client, world, "web", WEB_CHAT, 51)
    assert subscribe(client, booking["code"], "web", WEB_CHAT, reach=["zns", "sms"]).status_code == 204
    phone = person(0, index=51)["phone"]
    # The test client carries the action server's credential, and a chat: that is not the gateway either.
    for headers in ({}, {"X-Internal-Token": ""}, {"X-Internal-Token": "0" * 64},
                    {"X-Internal-Token": GATEWAY["X-Internal-Token"][:-1]}, chat_headers("web", WEB_CHAT),
                    staff_token("admin")):
        answer = client.post(STOP_PHONE, headers=headers, json={"phone": phone})
        assert answer.status_code == 401 and answer.json()["code"] == "not_authenticated", headers
    assert standing(database) == ["zns sms"]
    # A body that is not one (no phone, a number too long to be any) is the usual 422, for the gateway alone.
    for body in ({}, {"phone": ""}, {"phone": "0" * 31}, {"phone": 912345678}):
        assert client.post(STOP_PHONE, headers=GATEWAY, json=body).status_code == 422, body
    assert client.post(STOP_PHONE, headers=GATEWAY, json={"phone": phone}).status_code == 204
    assert standing(database) == []
