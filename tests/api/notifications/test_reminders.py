"""Reminders with a frozen clock: when they go out, once only across restarts and parallel runs, what
stops them (opt-out, withdrawn consent, cancellation), retries while the gateway is down — and, through
the real gateway, that they reach the Telegram and Zalo fakes (Zalo only inside its 48-hour window)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from api.consent.models import Consent
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database
from api.core.notify import Delivery, GatewayNotifier
from api.main import create_app
from api.notifications.dispatch import dispatch_due, window
from api.notifications.models import ReminderLog
from common.wording import seeds
from tests.api.conftest import PublishMessage
from tests.support.env import TEST_SECRET, chat_headers, service_credential
from tests.support.fake_zalo import signed_event
from tests.support.servers import PATIENT_S, wait_for
from tests.support.world import World, person

TELEGRAM_CHAT = "4242"


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    """The resident books and answers in their Telegram chat (signed by the gateway)."""
    headers = {"Authorization": f"Bearer {service_credential(database)}", **chat_headers("telegram", TELEGRAM_CHAT)}
    with TestClient(create_app(settings, database), raise_server_exceptions=False, headers=headers) as test_client:
        yield test_client


class FakeNotifier:
    """Stands in for the gateway: records what it is handed; can be told to be down."""

    def __init__(self) -> None:
        self.sent: list[Delivery] = []
        self.answer = "sent"
        self.lock = threading.Lock()

    def send(self, delivery: Delivery) -> str:
        with self.lock:
            if self.answer == "sent":
                self.sent.append(delivery)
            return self.answer


@pytest.fixture
def booked(client: TestClient, world: World, seeded_content: Database) -> dict[str, Any]:
    commune = world.commune()
    site = world.site(commune["id"])
    sessions = [world.session(site["id"], capacity=5, days=days) for days in (3, 5)]
    booking = client.post("/api/v1/bookings", headers={"Idempotency-Key": "reminder-1"}, json={
        "session_id": sessions[0]["id"], "channel": "telegram", "resident": person(commune["id"], index=1)}).json()
    subscribed = client.post("/api/v1/reminders/subscribe", json={
        "booking_code": booking["code"], "channel": "telegram", "chat_id": TELEGRAM_CHAT, "language": "tyz",
        "consent_notice": "2026-01"})
    assert subscribed.status_code == 204, subscribed.text
    return {"booking": booking, "sessions": sessions, "starts_at": datetime.fromisoformat(sessions[0]["starts_at"])}


def run(settings: Settings, database: Database, notifier: Any, now: datetime) -> dict[str, int]:
    outcome = dispatch_due(database=database, crypto=Crypto.from_settings(settings), settings=settings,
                           notifier=notifier, now=now)
    return dict(outcome.counts)


def test_day_before_and_two_hours_before_each_once(
        booked: dict[str, Any], settings: Settings, database: Database) -> None:
    notifier = FakeNotifier()
    starts = booked["starts_at"]
    opens, _ = window("day_before", starts)
    assert opens.hour == 9 and (starts - opens) > timedelta(hours=20)
    assert run(settings, database, notifier, opens - timedelta(minutes=1)) == {}  # too early
    assert run(settings, database, notifier, opens) == {"sent": 1}
    assert run(settings, database, notifier, opens + timedelta(minutes=30)) == {}  # not again
    day_before = notifier.sent[0]
    assert day_before.channel == "telegram" and day_before.chat_id == TELEGRAM_CHAT and day_before.language == "tyz"
    message = day_before.messages[0]
    assert booked["booking"]["code"] in message["text"] and "ngày mai" in message["text"]
    assert [title for title, _payload in message["buttons"]] == ["Tôi sẽ đến", "Đổi lịch", "Hủy lịch",
                                                                 "Không nhắc nữa"]
    assert booked["booking"]["code"] in message["buttons"][1][1]
    # A scheduler restarted (a new run, nothing in memory) two hours before: only the second reminder.
    assert run(settings, database, FakeNotifier(), starts - timedelta(hours=2)).get("sent") == 1
    assert run(settings, database, notifier, starts - timedelta(hours=1)) == {}
    assert run(settings, database, notifier, starts + timedelta(days=4)) == {}  # no follow-up: not examined


def test_parallel_schedulers_send_each_reminder_once(
        booked: dict[str, Any], settings: Settings, database: Database) -> None:
    notifier = FakeNotifier()
    moment = window("day_before", booked["starts_at"])[0] + timedelta(minutes=5)
    threads = [threading.Thread(target=run, args=(settings, database, notifier, moment)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(notifier.sent) == 1


def test_a_gateway_outage_delays_but_loses_nothing(
        booked: dict[str, Any], settings: Settings, database: Database) -> None:
    notifier = FakeNotifier()
    opens = window("day_before", booked["starts_at"])[0]
    notifier.answer = "retry"
    assert run(settings, database, notifier, opens) == {"retry": 1}
    assert run(settings, database, notifier, opens + timedelta(minutes=2)) == {}  # waits before retrying
    notifier.answer = "sent"
    assert run(settings, database, notifier, opens + timedelta(minutes=6)) == {"sent": 1}
    with database.read() as db:
        assert db.scalar(select(ReminderLog.attempts)) == 2
    # The scheduler itself was down all morning: the reminder still goes while it makes sense.
    other = FakeNotifier()
    assert run(settings, database, other, booked["starts_at"] - timedelta(minutes=100)) == {"sent": 1}
    assert [d.messages[0]["text"] for d in other.sent][0].count(booked["booking"]["code"]) == 1


def test_stopping_withdrawing_or_cancelling_ends_reminders(
        client: TestClient, booked: dict[str, Any], settings: Settings, database: Database) -> None:
    opens = window("day_before", booked["starts_at"])[0]
    stopped = client.post("/api/v1/reminders/stop", json={"channel": "telegram", "chat_id": TELEGRAM_CHAT})
    assert stopped.json() == {"stopped": 1}
    assert run(settings, database, FakeNotifier(), opens) == {}
    with database.read() as db:
        assert db.scalar(select(Consent.withdrawn_at).where(Consent.purpose == "reminders")) is not None
    # Subscribing again (a new "yes") brings them back; a consent withdrawn elsewhere is honoured even
    # if a subscription row were left behind.
    client.post("/api/v1/reminders/subscribe", json={
        "booking_code": booked["booking"]["code"], "channel": "telegram", "chat_id": TELEGRAM_CHAT,
        "consent_notice": "2026-01"})
    with database.write() as db:
        db.execute(update(Consent).where(Consent.purpose == "reminders").values(withdrawn_at=opens))
    assert run(settings, database, FakeNotifier(), opens) == {}
    with database.write() as db:
        db.execute(update(Consent).where(Consent.purpose == "reminders").values(withdrawn_at=None))
    client.post(f"/api/v1/bookings/{booked['booking']['code']}/cancel")
    assert run(settings, database, FakeNotifier(), opens) == {}


def test_rescheduled_appointments_get_reminders_for_the_new_time_and_followups_after_the_exam(
        client: TestClient, booked: dict[str, Any], settings: Settings, database: Database, staff_token: Any) -> None:
    notifier = FakeNotifier()
    code = booked["booking"]["code"]
    run(settings, database, notifier, window("day_before", booked["starts_at"])[0])
    moved = client.post(f"/api/v1/bookings/{code}/reschedule", json={"session_id": booked["sessions"][1]["id"]})
    assert moved.status_code == 200, moved.text
    new_start = datetime.fromisoformat(booked["sessions"][1]["starts_at"])
    assert run(settings, database, notifier, window("day_before", new_start)[0]) == {"sent": 1}
    assert len(notifier.sent) == 2
    with database.write() as db:  # the exam took place: the station marks it (the clock is frozen at "now")
        db.execute(text("UPDATE bookings SET status = 'attended' WHERE code = :code"), {"code": code})
    followup_opens = window("followup", new_start)[0]
    assert run(settings, database, notifier, followup_opens) == {"sent": 1}
    last = notifier.sent[-1].messages[0]
    assert "sổ sức khỏe" in last["text"].lower() and last["buttons"][0][1] == "/check_record_status"
    assert run(settings, database, notifier, followup_opens + timedelta(days=1)) == {}


def test_a_reminder_speaks_the_published_wording_in_the_residents_language_else_vietnamese(
        booked: dict[str, Any], settings: Settings, database: Database, publish_message: PublishMessage) -> None:
    # The resident chose Tày. Staff publish Tày for one button and for the reminder; another button
    # changes only in Vietnamese, which is what a Tày speaker then gets for it.
    publish_message("reminder_button_confirm", {"vi": "Vâng, tôi sẽ đến", "tyz": "Khỏi mà (Tày)"})
    publish_message("reminder_button_cancel", {"vi": "Hủy lịch hẹn"})
    publish_message("utter_reminder_day_before", {"vi": seeds()["utter_reminder_day_before"],
                                                  "tyz": "Mừa khám (Tày) {when} {place}, mã {code}."})
    notifier = FakeNotifier()
    assert run(settings, database, notifier, window("day_before", booked["starts_at"])[0]) == {"sent": 1}
    message = notifier.sent[0].messages[0]
    assert [title for title, _payload in message["buttons"]] == ["Khỏi mà (Tày)", "Đổi lịch", "Hủy lịch hẹn",
                                                                 "Không nhắc nữa"]
    assert message["text"].startswith("Mừa khám (Tày) ") and message["text"].endswith(
        f", mã {booked['booking']['code']}.") and "{" not in message["text"]


def test_subscribing_needs_a_real_booking_and_a_channel_that_can_write_first(
        client: TestClient, booked: dict[str, Any]) -> None:
    body = {"booking_code": booked["booking"]["code"], "channel": "web", "chat_id": "w123", "consent_notice": "2026-01"}
    # The web chat itself asks (the signed chat must be the one subscribed), with the booking's factor.
    web = {**chat_headers("web", "w123"), "X-Booking-Verifier": person(0, index=1)["phone"][-3:]}
    assert client.post("/api/v1/reminders/subscribe", json=body, headers=web).json()["code"] == "channel_cannot_remind"
    body.update(channel="zalo", booking_code="KHONGCO1")
    assert client.post("/api/v1/reminders/subscribe", json=body, headers=chat_headers("zalo", "w123")
                       ).json()["code"] == "booking_not_found"
    body.update(booking_code=booked["booking"]["code"], consent_notice="")
    assert client.post("/api/v1/reminders/subscribe", json=body).status_code == 422
    confirm = {"booking_code": booked["booking"]["code"], "channel": "telegram", "chat_id": "9999"}
    assert client.post("/api/v1/reminders/confirm", json=confirm, headers=chat_headers("telegram", "9999")
                       ).json()["code"] == "booking_not_found"
    confirm["chat_id"] = TELEGRAM_CHAT
    assert client.post("/api/v1/reminders/confirm", json=confirm).status_code == 204


# --- through the real gateway -----------------------------------------------------------------------

@pytest.fixture
def gateway_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any, Any]]:
    from gateway.app import create_app
    from gateway.config import GatewaySettings
    from tests.support.fake_telegram import running_fake_bot_api
    from tests.support.fake_zalo import running_fake_oa
    from tests.support.servers import app_in_thread

    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    with running_fake_bot_api() as bot_api, running_fake_oa() as zalo:
        settings = GatewaySettings(
            gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}", telegram_bot_token="42:TEST",
            telegram_mode="webhook", telegram_webhook_secret="s" * 20, telegram_api_base=bot_api.base,
            per_chat_interval_s=0.0, rasa_url="http://127.0.0.1:9", rasa_retry_s=0.0, **zalo.gateway_settings())
        with app_in_thread(create_app(settings)) as url:
            yield url, bot_api, zalo


def test_reminders_reach_telegram_and_zalo_through_the_gateway(
        client: TestClient, booked: dict[str, Any], settings: Settings, database: Database,
        gateway_url: tuple[str, Any, Any], world: World, request: pytest.FixtureRequest) -> None:
    url, bot_api, zalo = gateway_url
    crypto = Crypto.from_settings(settings)
    notifier = GatewayNotifier(url, crypto.internal_token)
    request.addfinalizer(notifier.close)
    opens = window("day_before", booked["starts_at"])[0]
    assert run(settings, database, notifier, opens) == {"sent": 1}
    bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
    sent = bot_api.sent("sendMessage")[0]
    assert sent.data["chat_id"] == TELEGRAM_CHAT and booked["booking"]["code"] in sent.data["text"]
    titles = [row[0]["text"] for row in json.loads(sent.data["reply_markup"])["inline_keyboard"]]
    assert titles == ["Tôi sẽ đến", "Đổi lịch", "Hủy lịch", "Không nhắc nữa"]
    # The same reminder handed over again (a crash after sending): the gateway drops it.
    assert notifier.send(Delivery(key="reminder-1", channel="telegram", chat_id=TELEGRAM_CHAT, language="vi",
                                  messages=[{"text": "x"}])) == "sent"
    assert len(bot_api.sent("sendMessage")) == 1
    # A wrong token is refused and sends nothing; the API's notifier takes it for its own fault (a key changed
    # mid-deploy) and tries again later, rather than giving up on the resident (api/core/notify.py).
    with GatewayNotifier(url, "0" * 64) as stranger:
        assert stranger.send(Delivery("k", "telegram", "1", "vi", [{"text": "x"}])) == "retry"
    assert len(bot_api.sent("sendMessage")) == 1
    # Zalo: a resident who wrote to the OA within 48 hours gets it; one silent for longer cannot.
    zalo_user = "8800112233"
    raw, headers = signed_event("xin chao", zalo_user, "z-1")
    assert httpx.post(f"{url}/webhooks/zalo", content=raw, headers=headers, timeout=PATIENT_S).status_code == 200
    wait_for(lambda: zalo.sent, what=lambda: zalo.attempts)  # the busy reply (no Rasa here)
    commune = world.commune("Thiện Tân")
    site = world.site(commune["id"])
    for index, chat in ((7, zalo_user), (8, "8800999999")):
        session = world.session(site["id"], capacity=5, days=3)
        zalo_chat = chat_headers("zalo", chat)
        booking = client.post("/api/v1/bookings", headers={"Idempotency-Key": f"zalo-booking-{index}", **zalo_chat},
                              json={"session_id": session["id"], "channel": "zalo",
                                    "resident": person(commune["id"], index=index)}).json()
        assert client.post("/api/v1/reminders/subscribe", headers=zalo_chat, json={
            "booking_code": booking["code"], "channel": "zalo", "chat_id": chat, "consent_notice": "2026-01"},
        ).status_code == 204, booking
    later = window("day_before", datetime.fromisoformat(session["starts_at"]))[0]
    assert run(settings, database, notifier, later) == {"sent": 1, "undeliverable": 1}
    wait_for(lambda: len(zalo.sent) == 2, what=lambda: zalo.sent)
    assert zalo.sent[1]["recipient"] == {"user_id": zalo_user} and "ngày mai" in zalo.sent[1]["message"]["text"]
    with database.read() as db:
        details = set(db.scalars(select(ReminderLog.detail).where(ReminderLog.status == "undeliverable")))
    assert details == {"outside_window"}
