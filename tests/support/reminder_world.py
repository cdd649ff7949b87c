"""Reminders end to end without the internet: the API served over HTTP (the gateway reports deliveries
and "TC" to it), the real gateway, and local fakes of Zalo (OA messages and ZNS) and of an SMS provider.
Residents book and agree to reminders through the API as the assistant does; how long ago a Zalo chat
last wrote is set in the gateway's inbox, since Zalo's 48 hours are counted from it.

Used by the delivery-plan tests and by `bench/reminders.py` (the reached share of a scripted campaign).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database
from api.core.notify import GatewayNotifier
from api.notifications.dispatch import Outcome, dispatch_due
from api.notifications.models import ReminderLog
from tests.support.env import chat_headers
from tests.support.fake_sms import FakeSms, running_fake_sms
from tests.support.fake_zalo import FakeOa, running_fake_oa
from tests.support.servers import app_in_thread, wait_for
from tests.support.world import World, person

EVERY_WAY = ["chat", "zns", "sms"]


@dataclass
class Services:
    gateway: str
    zalo: FakeOa
    sms: FakeSms
    notifier: GatewayNotifier
    gateway_db: str


@contextmanager
def running_services(settings: Settings, database: Database, tmp_path: Path) -> Iterator[Services]:
    """API (HTTP), fakes and gateway; the caller sets SECRET_KEY to the tests' secret first."""
    from api.main import create_app as create_api
    from gateway.app import create_app as create_gateway
    from gateway.config import GatewaySettings

    gateway_db = f"sqlite:///{tmp_path / 'gateway.db'}"
    with app_in_thread(create_api(settings, database)) as api_url, running_fake_oa() as zalo, \
            running_fake_sms() as sms:
        gateway_settings = GatewaySettings(
            gateway_database_url=gateway_db, api_url=api_url, rasa_url="http://127.0.0.1:9", rasa_retry_s=0.0,
            per_chat_interval_s=0.0, **zalo.gateway_settings(), **sms.gateway_settings())
        with app_in_thread(create_gateway(gateway_settings)) as url, \
                GatewayNotifier(url, Crypto.from_settings(settings).internal_token) as notifier:
            yield Services(url, zalo, sms, notifier, gateway_db)


def wrote_last(services: Services, zalo_user: str, ago: timedelta) -> None:
    """The Zalo chat's last message to the OA, `ago` before now (what the 48-hour window counts from)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from gateway.store import InboxItem

    engine = create_engine(services.gateway_db)
    with Session(engine) as session, session.begin():
        session.add(InboxItem(key=f"zalo:msg:seed-{zalo_user}-{ago.total_seconds()}", chat=f"zalo:{zalo_user}",
                              done=True, received_at=datetime.now(UTC) - ago))
    engine.dispose()


def book(client: TestClient, commune_id: int, session_id: int, index: int, *, channel: str, chat: str,
         reach: list[str] | None) -> str:
    """A booking made in `chat`, then (unless `reach` is None: the resident said no) a "yes" to reminders
    by the ways in `reach`. The booking's code."""
    headers = chat_headers(channel, chat)
    booking = client.post("/api/v1/bookings", headers={"Idempotency-Key": f"plan-booking-{index}", **headers},
                          json={"session_id": session_id, "channel": channel,
                                "resident": person(commune_id, index=index)})
    assert booking.status_code == 201, booking.text
    code = str(booking.json()["code"])
    if reach is not None:
        agreed = client.post("/api/v1/reminders/subscribe", headers=headers, json={
            "booking_code": code, "channel": channel, "chat_id": chat, "consent_notice": "2026-12.test",
            "reach": reach})
        assert agreed.status_code == 204, agreed.text
    return code


def international(index: int) -> str:
    """The phone `person(index=…)` gives, as ZNS and the SMS provider receive it."""
    return f"849{index:08d}"


def dispatch(settings: Settings, database: Database, notifier: Any, now: datetime) -> Outcome:
    return dispatch_due(database=database, crypto=Crypto.from_settings(settings), settings=settings,
                        notifier=notifier, now=now)


def log_rows(database: Database) -> list[ReminderLog]:
    with database.read() as db:
        rows = list(db.scalars(select(ReminderLog).order_by(ReminderLog.id)))
        db.expunge_all()
        return rows


@dataclass
class Campaign:
    """A scripted campaign day: who was reached by which way, and what must never happen."""

    reached: Counter[str]
    residents: int
    duplicates: int
    without_consent: int


def campaign(client: TestClient, world: World, settings: Settings, database: Database, services: Services,
             *, size: int = 100, reach: list[str] | None = None, first_index: int = 7000) -> Campaign:
    """`size` residents who booked on Zalo for one session three days ahead; their chats last wrote at
    ages spread over two weeks; one in four has a number not on Zalo; one in ten said no to reminders and
    one in ten agreed under the old notice (the chat only); every other yes names `reach` (default: every
    way). The day-before reminders go out, two schedulers at once and then later runs, and what each
    resident received, by which way, is counted — a resident reached twice by any ways is a duplicate."""
    from api.notifications.dispatch import window

    commune = world.commune("Hữu Liên")
    site = world.site(commune["id"])
    session = world.session(site["id"], capacity=size + 10, days=3)
    # Who may be written to by which way: a chat id or a phone number -> the resident, and the ways.
    resident_of: dict[str, int] = {}
    allowed: dict[int, set[str]] = {}
    for n in range(size):
        index, user = first_index + n, f"77{first_index + n:08d}"
        # One in ten said no; one in ten agreed under the old notice (the chat only).
        agreed = None if n % 10 == 9 else ["chat"] if n % 10 == 8 else (reach or EVERY_WAY)
        book(client, commune["id"], session["id"], index, channel="zalo", chat=user, reach=agreed)
        wrote_last(services, user, timedelta(hours=6 + (n * 37) % (14 * 24)))
        if n % 4 == 1:
            services.zalo.zns_numbers[international(index)] = -118
        resident_of[user] = resident_of[international(index)] = index
        allowed[index] = set(agreed or ())
    opens = window("day_before", datetime.fromisoformat(session["starts_at"]))[0]
    # Two schedulers at once, then later runs (a restart, retries).
    both = [threading.Thread(target=dispatch, args=(settings, database, services.notifier, opens)) for _ in "ab"]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join()
    for minutes in (6, 12):
        dispatch(settings, database, services.notifier, opens + timedelta(minutes=minutes))
    # Chat messages leave through the gateway's outbox, a moment later.
    in_chat = sum(1 for row in log_rows(database) if row.status == "sent" and row.channel == "zalo")
    wait_for(lambda: len(services.zalo.sent) >= in_chat, what=lambda: len(services.zalo.sent))
    sent = [("chat", m["recipient"]["user_id"]) for m in services.zalo.sent] + \
        [("zns", m["phone"]) for m in services.zalo.zns_sent] + [("sms", m["Phone"]) for m in services.sms.sent]
    reached = Counter(way for way, _who in sent)
    reached["not reached"] = size - len({resident_of[who] for _way, who in sent})
    residents = [resident_of[who] for _way, who in sent]
    return Campaign(reached, size, duplicates=len(residents) - len(set(residents)),
                    without_consent=sum(1 for way, who in sent if way not in allowed[resident_of[who]]))
