"""Reminders that arrive when the chat cannot carry them: the delivery plan (chat → ZNS → SMS →
undeliverable) through the real gateway against local fakes of Zalo's OA and ZNS APIs and of an SMS
provider — each of Zalo's answers sends the plan the right way, retryable failures are retried and then
give way, nothing is sent twice or without consent, and delivery reports and "TC" reach the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.consent.models import Consent
from api.core.config import Settings
from api.core.db import Database
from api.main import create_app
from api.notifications import templates
from api.notifications.dispatch import window
from api.notifications.plan import STEP_ATTEMPTS, morning
from tests.support.env import TEST_SECRET, chat_headers, service_credential
from tests.support.fake_sms import WEBHOOK_SECRET
from tests.support.fake_zalo import signed_delivery
from tests.support.reminder_world import (
    EVERY_WAY,
    Services,
    book,
    campaign,
    dispatch,
    international,
    log_rows,
    running_services,
    wrote_last,
)
from tests.support.servers import PATIENT_S, wait_for
from tests.support.world import World

pytestmark = pytest.mark.usefixtures("seeded_content")
ZNS_TEMPLATE = "231456"


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    headers = {"Authorization": f"Bearer {service_credential(database)}"}
    with TestClient(create_app(settings, database), raise_server_exceptions=False, headers=headers) as test_client:
        yield test_client


@pytest.fixture
def services(settings: Settings, database: Database, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    with database.write() as db:  # staff configured the approved ZNS template for the reminders
        for kind in templates.KINDS:
            templates.save(db, templates.TemplateSet(
                kind, ZNS_TEMPLATE, {"gio_kham": "time", "ngay_kham": "date", "noi_kham": "place",
                                     **({"ma_dat_lich": "code"} if kind == "booked" else {})},
                templates.DEFAULT_SMS[kind]), actor=None)
    with running_services(settings, database, tmp_path) as running:
        yield running


@pytest.fixture
def place(world: World) -> dict[str, Any]:
    commune = world.commune()
    site = world.site(commune["id"])
    session = world.session(site["id"], capacity=20, days=3)
    return {"commune": commune["id"], "session": session["id"],
            "day_before": window("day_before", datetime.fromisoformat(session["starts_at"]))[0]}


def by_code(database: Database) -> dict[int, Any]:
    return {row.booking_id: row for row in log_rows(database) if row.kind != "booked"}


def test_each_answer_of_zalo_sends_the_plan_the_right_way(
        client: TestClient, services: Services, settings: Settings, database: Database,
        place: dict[str, Any]) -> None:
    # Residents who booked in the web chat and agreed to ZNS and SMS; Zalo answers differently per number.
    answers = {1: 0, 2: -118, 3: -119, 4: -139, 5: -131, 6: -144, 7: -108}
    codes = [book(client, place["commune"], place["session"], index, channel="web", chat=f"web-chat-{index:04d}",
                  reach=["zns", "sms"]) for index in answers]
    services.zalo.zns_numbers.update({international(index): code for index, code in answers.items() if code})
    outcome = dispatch(settings, database, services.notifier, place["day_before"])
    assert outcome.counts == {"sent": 7}
    assert outcome.reached == {"zns": 1, "sms": 6}
    assert [m["phone"] for m in services.zalo.zns_sent if m["template_id"] == ZNS_TEMPLATE][-1] == international(1)
    sent = services.zalo.zns_sent[-1]
    assert set(sent["template_data"]) == {"gio_kham", "ngay_kham", "noi_kham"}
    assert sent["tracking_id"].startswith("reminder-") and sent["tracking_id"].endswith("-zns")
    sms_to = [m["Phone"] for m in services.sms.sent]
    assert sorted(sms_to) == sorted(international(i) for i in answers if answers[i])
    text = services.sms.sent[0]["Content"]
    # GSM-7: no diacritics, one segment, the stop instruction, and no code, name, CCCD or birth date.
    assert text.isascii() and len(text) <= 160 and "TC gui 8077" in text
    assert not any(part in m["Content"] for m in services.sms.sent for part in ("Nong", "Mai", "1958", "05/03",
                                                                                 "0030580", *codes))
    trails = sorted(row.trail for row in log_rows(database) if row.channel == "sms")
    assert trails == sorted(f"zns:{reason}" for reason in
                            ("not_on_zalo", "not_on_zalo", "blocked", "template_rejected", "quota", "invalid_phone"))


def test_a_zalo_resident_silent_for_days_gets_zns_and_its_delivery_is_recorded(
        client: TestClient, services: Services, settings: Settings, database: Database,
        place: dict[str, Any]) -> None:
    recent, silent = "7700000001", "7700000002"
    book(client, place["commune"], place["session"], 11, channel="zalo", chat=recent, reach=EVERY_WAY)
    book(client, place["commune"], place["session"], 12, channel="zalo", chat=silent, reach=EVERY_WAY)
    wrote_last(services, recent, timedelta(hours=20))
    wrote_last(services, silent, timedelta(days=12))
    outcome = dispatch(settings, database, services.notifier, place["day_before"])
    assert outcome.reached == {"zalo": 1, "zns": 1}
    wait_for(lambda: services.zalo.sent, what=lambda: services.zalo.attempts)
    assert services.zalo.sent[0]["recipient"] == {"user_id": recent}
    assert [m["phone"] for m in services.zalo.zns_sent] == [international(12)]
    zns_row = next(row for row in log_rows(database) if row.channel == "zns")
    assert zns_row.trail == "chat:outside_window" and zns_row.delivered_at is None
    # Zalo's signed "user_received_message" for that ZNS: the reminder is marked delivered.
    raw, headers = signed_delivery(services.zalo.zns_sent[0]["tracking_id"])
    assert httpx.post(f"{services.gateway}/webhooks/zalo", content=raw, headers=headers,
                      timeout=PATIENT_S).status_code == 200
    wait_for(lambda: next(r for r in log_rows(database) if r.channel == "zns").delivered_at is not None)


def test_retryable_failures_are_retried_then_give_way_and_the_sms_report_is_recorded(
        client: TestClient, services: Services, settings: Settings, database: Database,
        place: dict[str, Any]) -> None:
    book(client, place["commune"], place["session"], 21, channel="web", chat="web-chat-0021", reach=["zns", "sms"])
    services.zalo.zns_plan = [-32] * STEP_ATTEMPTS  # Zalo's rate limit, every time
    services.sms.plan = [503]                       # the SMS provider down once
    at = place["day_before"]
    assert dispatch(settings, database, services.notifier, at).counts == {"retry": 1}
    for attempt in range(1, STEP_ATTEMPTS - 1):
        assert dispatch(settings, database, services.notifier, at + timedelta(minutes=6 * attempt)).counts == {
            "retry": 1}
    # The third refusal: ZNS gives way; the SMS provider is down: retried on its own step.
    later = at + timedelta(minutes=6 * STEP_ATTEMPTS)
    assert dispatch(settings, database, services.notifier, later).counts == {"retry": 1}
    [row] = log_rows(database)
    assert (row.channel, row.trail, row.attempts) == ("sms", "zns:gave_up", 1)
    assert dispatch(settings, database, services.notifier, later + timedelta(minutes=6)).counts == {"sent": 1}
    assert services.zalo.zns_sent == [] and len(services.sms.sent) == 1
    # The provider's delivery report (SendStatus 5) through the gateway's SMS webhook.
    report = {"RequestId": services.sms.sent[0]["RequestId"], "SendStatus": "5", "SMSID": "sms-1"}
    assert httpx.post(f"{services.gateway}/webhooks/sms/{WEBHOOK_SECRET}", json=report,
                      timeout=PATIENT_S).status_code == 200
    wait_for(lambda: log_rows(database)[0].delivered_at is not None)


def test_nothing_is_sent_twice_across_a_crash_and_two_schedulers(
        client: TestClient, services: Services, settings: Settings, database: Database,
        place: dict[str, Any]) -> None:
    import threading

    from sqlalchemy import update

    from api.notifications.models import ReminderLog

    for index in (31, 32):
        book(client, place["commune"], place["session"], index, channel="web", chat=f"web-chat-00{index}",
             reach=["zns", "sms"])
    services.zalo.zns_numbers[international(32)] = -118
    at = place["day_before"]
    both = [threading.Thread(target=dispatch, args=(settings, database, services.notifier, at)) for _ in "ab"]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join()
    assert sorted(m["phone"] for m in services.zalo.zns_sent) == [international(31)]
    assert [m["Phone"] for m in services.sms.sent] == [international(32)]
    # Runs that died after sending (31's ZNS) and between steps (32: Zalo refused, the SMS not yet written
    # down): their claims look stale to the next run, which hands the same keys over again — the gateway
    # drops the ZNS that went out, refuses 32's again, and drops the SMS that went out.
    with database.write() as db:
        db.execute(update(ReminderLog).values(status="sending", channel="zns", trail="", updated_at=at))
    assert dispatch(settings, database, services.notifier, at + timedelta(minutes=11)).reached == {
        "zns": 1, "sms": 1}
    assert len(services.zalo.zns_sent) == 1 and len(services.sms.sent) == 1
    assert dispatch(settings, database, services.notifier, at + timedelta(minutes=20)).counts == {}


def test_no_message_without_consent_for_that_way_and_stop_withdraws(
        client: TestClient, services: Services, settings: Settings, database: Database,
        place: dict[str, Any]) -> None:
    # Said no to reminders; agreed before the notice named ZNS and SMS (chat only); agreed to every way
    # (twice: one texts "TC" back, one cancels); agreed in the web chat to ZNS and SMS.
    book(client, place["commune"], place["session"], 41, channel="zalo", chat="7700000041", reach=None)
    book(client, place["commune"], place["session"], 42, channel="zalo", chat="7700000042", reach=["chat"])
    book(client, place["commune"], place["session"], 43, channel="zalo", chat="7700000043", reach=EVERY_WAY)
    cancelled = book(client, place["commune"], place["session"], 44, channel="zalo", chat="7700000044",
                     reach=EVERY_WAY)
    book(client, place["commune"], place["session"], 45, channel="web", chat="web-chat-0045", reach=["zns", "sms"])
    for user in ("7700000041", "7700000042", "7700000043", "7700000044"):
        wrote_last(services, user, timedelta(days=5))
    inbound = {"Phone": international(43), "Content": "TC"}
    assert httpx.post(f"{services.gateway}/webhooks/sms/{WEBHOOK_SECRET}", json=inbound,
                      timeout=PATIENT_S).status_code == 200

    def withdrawn() -> int:
        with database.read() as db:
            return len(list(db.scalars(select(Consent.id).where(Consent.purpose == "reminders",
                                                                Consent.withdrawn_at.is_not(None)))))
    wait_for(lambda: withdrawn() == 1)
    assert client.post(f"/api/v1/bookings/{cancelled}/cancel",
                       headers=chat_headers("zalo", "7700000044")).status_code == 200
    outcome = dispatch(settings, database, services.notifier, place["day_before"])
    # 41, 43 and 44 get nothing and have no reminder at all; 42's chat is closed and the chat was all
    # they agreed to; 45 gets the ZNS.
    assert outcome.counts == {"undeliverable": 1, "sent": 1}
    assert [(row.channel, row.detail, row.trail) for row in log_rows(database) if row.status == "undeliverable"
            ] == [("zalo", "outside_window", "chat:outside_window")]
    assert [m["phone"] for m in services.zalo.zns_sent] == [international(45)]
    assert services.sms.sent == []


def test_the_gateways_phone_paths_refuse_strangers(services: Services, client: TestClient) -> None:
    body = {"key": "reminder-1-zns", "via": "zns", "phone": "84912345678", "template_id": "1",
            "template_data": {"a": "b"}}
    assert httpx.post(f"{services.gateway}/notify/phone", timeout=PATIENT_S, json=body).status_code == 401
    assert httpx.post(f"{services.gateway}/notify/phone", timeout=PATIENT_S, json=body,
                      headers={"X-Internal-Token": "0" * 64}).status_code == 401
    assert httpx.post(f"{services.gateway}/webhooks/sms/{'x' * 24}", timeout=PATIENT_S,
                      json={"Phone": "84912345678", "Content": "TC"}).status_code == 403
    assert httpx.post(f"{services.gateway}/webhooks/sms/{WEBHOOK_SECRET}", content=b"[1,",
                      timeout=PATIENT_S).status_code == 400
    assert services.zalo.zns_sent == [] and services.sms.sent == []
    # The API's side of the reports: the gateway's token only.
    assert client.post("/api/v1/reminders/delivered", json={"key": "reminder-1-zns"}).status_code == 401
    assert client.post("/api/v1/reminders/delivered", json={"key": "reminder-1-zns"},
                       headers={"X-Internal-Token": "0" * 64}).status_code == 401


def test_a_scripted_campaign_reaches_more_residents_and_never_twice_or_without_consent(
        client: TestClient, world: World, services: Services, settings: Settings, database: Database) -> None:
    after = campaign(client, world, settings, database, services, size=100)
    assert after.duplicates == 0 and after.without_consent == 0
    # 10 said no; 10 agreed to the chat only and are reached only if they wrote within 48 hours; the chat
    # reaches those who did, ZNS or SMS everyone else who agreed to them.
    assert 10 < after.reached["not reached"] < 20
    assert after.reached["chat"] > 0 and after.reached["zns"] > 0 and after.reached["sms"] > 0


def test_a_booking_made_outside_a_chat_is_confirmed_with_its_code_by_zns_else_sms(
        client: TestClient, services: Services, settings: Settings, database: Database,
        place: dict[str, Any]) -> None:
    from api.core.db import utcnow

    on_zalo = book(client, place["commune"], place["session"], 51, channel="web", chat="web-chat-0051",
                   reach=["zns", "sms"])
    not_on_zalo = book(client, place["commune"], place["session"], 52, channel="web", chat="web-chat-0052",
                       reach=["zns", "sms"])
    book(client, place["commune"], place["session"], 53, channel="zalo", chat="7700000053", reach=EVERY_WAY)
    services.zalo.zns_numbers[international(52)] = -118
    # Phones are written to from 06:00 to 21:00: the confirmation goes now, or in the morning.
    soon = (morning(utcnow()) or utcnow()) + timedelta(minutes=1)
    outcome = dispatch(settings, database, services.notifier, soon)
    # The Zalo booker saw the code in the chat: no confirmation for them.
    assert outcome.reached == {"zns": 1, "sms": 1}
    assert [m["template_data"]["ma_dat_lich"] for m in services.zalo.zns_sent] == [on_zalo]
    assert not_on_zalo in services.sms.sent[0]["Content"]
    assert {row.kind for row in log_rows(database)} == {"booked"}
    # The next run does not confirm again.
    assert dispatch(settings, database, services.notifier, soon + timedelta(minutes=30)).counts == {}


def test_residents_of_a_session_staff_cancel_are_told_by_chat_zns_or_sms(
        client: TestClient, services: Services, settings: Settings, database: Database, world: World,
        place: dict[str, Any]) -> None:
    from api.core.db import utcnow

    book(client, place["commune"], place["session"], 61, channel="zalo", chat="7700000061", reach=EVERY_WAY)
    book(client, place["commune"], place["session"], 62, channel="web", chat="web-chat-0062", reach=["zns", "sms"])
    resident_cancelled = book(client, place["commune"], place["session"], 63, channel="zalo", chat="7700000063",
                              reach=EVERY_WAY)
    wrote_last(services, "7700000061", timedelta(hours=3))
    wrote_last(services, "7700000063", timedelta(hours=3))
    assert client.post(f"/api/v1/bookings/{resident_cancelled}/cancel",
                       headers=chat_headers("zalo", "7700000063")).status_code == 200
    services.zalo.zns_numbers[international(62)] = -118
    # Today's confirmation of the web booking goes first (phones: from 06:00 to 21:00).
    soon = (morning(utcnow()) or utcnow()) + timedelta(minutes=1)
    assert dispatch(settings, database, services.notifier, soon).reached == {"sms": 1}
    assert world.client.patch(f"/api/v1/sessions/{place['session']}", headers=world.admin,
                              json={"status": "cancelled"}).status_code == 200
    outcome = dispatch(settings, database, services.notifier, soon + timedelta(minutes=2))
    # The resident who had cancelled themselves is not told again.
    assert outcome.reached == {"zalo": 1, "sms": 1}
    wait_for(lambda: services.zalo.sent, what=lambda: services.zalo.attempts)
    said = services.zalo.sent[0]["message"]
    assert said["text"].startswith("Buổi khám") and "hủy" in said["text"]
    assert "huy" in services.sms.sent[-1]["Content"] and services.sms.sent[-1]["Content"].isascii()
    assert dispatch(settings, database, services.notifier, soon + timedelta(minutes=20)).counts == {}


def test_phones_wait_for_the_morning_and_a_reminder_that_never_went_expires(
        client: TestClient, services: Services, settings: Settings, database: Database,
        place: dict[str, Any]) -> None:
    from api.core.clock import to_local

    book(client, place["commune"], place["session"], 71, channel="web", chat="web-chat-0071", reach=["zns", "sms"])
    book(client, place["commune"], place["session"], 72, channel="web", chat="web-chat-0072", reach=["sms"])
    services.sms.plan = [503] * 50  # the SMS provider is down all day
    starts = datetime.fromisoformat(client.get(f"/api/v1/sessions/{place['session']}").json()["starts_at"])
    opens, closes = window("day_before", starts)
    assert dispatch(settings, database, services.notifier, opens).reached == {"zns": 1, "retry": 1}
    [waiting] = [row for row in log_rows(database) if row.status == "retry"]
    assert (waiting.channel, waiting.attempts) == ("sms", 1)
    # 21:30: phones are not written to until 06:00; the wait is not counted as an attempt.
    late = to_local(opens).replace(hour=21, minute=30)
    assert late < closes
    assert dispatch(settings, database, services.notifier, late).counts == {"retry": 1}
    waiting = next(row for row in log_rows(database) if row.id == waiting.id)
    assert waiting.detail == "night" and waiting.attempts == 1
    assert to_local(waiting.next_attempt_at).strftime("%H:%M") == "06:00"
    assert len(services.sms.plan) == 49  # only the 09:00 attempt reached the provider
    # Its window closes still unsent: it expires as undeliverable, and the station phones the resident.
    dispatch(settings, database, services.notifier, closes + timedelta(minutes=1))
    waiting = next(row for row in log_rows(database) if row.id == waiting.id)
    assert (waiting.status, waiting.detail, waiting.trail) == ("undeliverable", "expired", "sms:expired")
