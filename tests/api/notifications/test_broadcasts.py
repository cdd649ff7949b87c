"""Announcements: a broadcast to 10,000 subscribers, paced under the limit, survives a crash midway
with nobody reached twice; opt-outs and withdrawn consent are honoured; the staff pages preview,
send and cancel."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from api.consent.models import Consent
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database, utcnow
from api.core.notify import Delivery
from api.notifications import broadcasts
from api.notifications.models import AnnouncementSubscription, Broadcast, BroadcastDelivery
from api.notifications.reminders import address_hash
from api.residents.models import Resident
from api.staff.models import StaffUser
from common.wording import seeds
from tests.api.conftest import PublishMessage
from tests.support.world import World, csrf_of


class Gateway:
    """Stands in for the gateway: drops keys it has seen (as /notify does); can crash after N sends."""

    def __init__(self, crash_after: int | None = None) -> None:
        self.keys: set[str] = set()
        self.reached: Counter[str] = Counter()
        self.times: list[float] = []
        self.crash_after = crash_after
        self.handed = 0

    def send(self, delivery: Delivery) -> str:
        self.handed += 1
        if self.crash_after is not None and self.handed > self.crash_after:
            raise RuntimeError("the scheduler process is killed here")
        self.times.append(time.monotonic())
        if delivery.key not in self.keys:
            self.keys.add(delivery.key)
            self.reached[delivery.chat_id] += 1
        return "sent"


class Recorder:
    """Stands in for the gateway: keeps what it is handed."""

    def __init__(self) -> None:
        self.handed: list[Delivery] = []

    def send(self, delivery: Delivery) -> str:
        self.handed.append(delivery)
        return "sent"


def subscribers(database: Database, crypto: Crypto, commune_id: int, count: int) -> None:
    now = utcnow()
    with database.write() as db:
        conn = db.connection()
        conn.execute(insert(Resident), [{
            "cccd_hash": f"bulk-{i}", "cccd_enc": "-", "birth_date_enc": "-", "birth_year": 1950, "full_name": "x",
            "phone_enc": "-", "commune_id": commune_id, "created_at": now, "updated_at": now} for i in range(count)])
        ids = {h: i for i, h in db.execute(select(Resident.id, Resident.cccd_hash).where(
            Resident.cccd_hash.like("bulk-%")))}
        conn.execute(insert(Consent), [{
            "subject_hash": h, "resident_id": rid, "purpose": "announcements", "notice_version": "2026-01.test",
            "channel": "telegram", "given_at": now, "given_by": "self", "method": "chat", "recorded_by": ""}
            for h, rid in ids.items()])
        conn.execute(insert(AnnouncementSubscription), [{
            "resident_id": rid, "commune_id": commune_id, "channel": "telegram",
            "address_enc": crypto.encrypt(f"telegram:{rid}"), "address_hash": f"bulk-{rid}", "language": "vi",
            "created_at": now} for rid in ids.values()])


@pytest.fixture
def commune(world: World) -> dict[str, Any]:
    return world.commune()


def staff(database: Database, commune_id: int, role: str = "station") -> StaffUser:
    with database.write() as db:
        user = StaffUser(username=f"{role}-bc", password_hash="x", role=role, commune_id=commune_id)
        db.add(user)
        db.flush()
        return user


def test_ten_thousand_subscribers_paced_and_resumed_after_a_crash_without_double_sends(
        commune: dict[str, Any], database: Database, settings: Settings) -> None:
    crypto = Crypto.from_settings(settings)
    subscribers(database, crypto, commune["id"], 10_000)
    actor = staff(database, commune["id"])
    with database.write() as db:
        draft = broadcasts.create(db=db, actor=actor, commune_id=commune["id"],
                                  text="Đội khám lưu động đến thôn Nà Pàn sáng thứ Bảy. Khám miễn phí.")
        assert broadcasts.start(db=db, actor=actor, broadcast_id=draft.id) == 10_000
    rate = 2_500.0  # the test's pace; production hands over 25 a second (settings.broadcast_rate_per_s)
    gateway = Gateway(crash_after=4_000)
    started = time.monotonic()
    with pytest.raises(RuntimeError):
        broadcasts.dispatch(database=database, crypto=crypto, notifier=gateway, rate_per_s=rate, budget_s=60)
    # The restarted scheduler: the batch the dead one had claimed is taken back once it is stale.
    with database.write() as db:
        db.execute(update(BroadcastDelivery).where(BroadcastDelivery.status == "sending")
                   .values(updated_at=utcnow() - broadcasts.STALE_CLAIM - timedelta(seconds=1)))
    gateway.crash_after = None
    counts = broadcasts.dispatch(database=database, crypto=crypto, notifier=gateway, rate_per_s=rate, budget_s=60)
    elapsed = time.monotonic() - started
    assert len(gateway.reached) == 10_000 and set(gateway.reached.values()) == {1}  # everyone, once
    assert gateway.handed - 1 - 10_000 <= 50  # handed again: at most the one claimed batch (dropped by key)
    assert counts["sent"] >= 6_000
    with database.read() as db:
        assert broadcasts.progress(db, draft.id) == {"sent": 10_000}
        assert db.scalar(select(Broadcast.status).where(Broadcast.id == draft.id)) == "done"
    # Paced: in no second more than the rate (with one message of slack for timer granularity).
    window: list[float] = []
    busiest = 0
    for moment in gateway.times:
        window.append(moment)
        while window[0] <= moment - 1.0:
            window.pop(0)
        busiest = max(busiest, len(window))
    assert busiest <= rate + 1 and elapsed >= 10_000 / rate
    print(f"10,000 announcements at {rate:g}/s: {elapsed:.1f} s, busiest second {busiest}")


def test_opt_outs_and_withdrawn_consent_are_honoured(
        commune: dict[str, Any], database: Database, settings: Settings) -> None:
    crypto = Crypto.from_settings(settings)
    subscribers(database, crypto, commune["id"], 5)
    actor = staff(database, commune["id"])
    with database.write() as db:
        first_hash = db.scalar(select(Resident.cccd_hash).order_by(Resident.id))
        db.execute(update(Consent).where(Consent.subject_hash == first_hash).values(withdrawn_at=utcnow()))
        draft = broadcasts.create(db=db, actor=actor, commune_id=commune["id"], text="Thông báo đợt khám tháng 12.")
        assert broadcasts.start(db=db, actor=actor, broadcast_id=draft.id) == 4  # the withdrawn one is left out
        # One stops announcements after sending started: skipped, not sent.
        last = db.scalar(select(AnnouncementSubscription).order_by(AnnouncementSubscription.id.desc()))
        chat = crypto.decrypt(last.address_enc).split(":")[1]
        db.execute(update(AnnouncementSubscription).where(AnnouncementSubscription.id == last.id)
                   .values(address_hash=address_hash(crypto, "telegram", chat)))
        assert broadcasts.stop(db=db, crypto=crypto, channel="telegram", chat_id=chat) == 1
    gateway = Gateway()
    broadcasts.dispatch(database=database, crypto=crypto, notifier=gateway, rate_per_s=100, budget_s=10)
    assert len(gateway.reached) == 3
    with database.read() as db:
        assert broadcasts.progress(db, draft.id) == {"sent": 3, "skipped": 1}


def test_staff_preview_send_and_cancel_in_the_pages(
        studio_login: Any, commune: dict[str, Any], database: Database, settings: Settings, world: World) -> None:
    subscribers(database, Crypto.from_settings(settings), commune["id"], 3)
    station = studio_login("station", commune_id=commune["id"])
    page = station.get("/studio/broadcasts")
    assert page.status_code == 200
    text = "Đội khám lưu động đến xã vào thứ Bảy 5/12, từ 7 giờ 30. Khám miễn phí."
    preview = station.post("/studio/broadcasts/preview", data={"csrf": csrf_of(page.text),
                                                               "commune_id": str(commune["id"]), "text": text})
    assert preview.status_code == 200 and "telegram: 3" in preview.text and "Không nhận thông báo nữa" in preview.text
    draft_id = preview.text.split("/studio/broadcasts/")[1].split("/send")[0]
    sent = station.post(f"/studio/broadcasts/{draft_id}/send", data={"csrf": csrf_of(preview.text)},
                        follow_redirects=False)
    assert sent.status_code == 303
    listing = station.get("/studio/broadcasts").text
    assert "sending" in listing and "pending: 3" in listing
    again = station.post(f"/studio/broadcasts/{draft_id}/send", data={"csrf": csrf_of(listing)})
    assert again.status_code == 409
    cancelled = station.post(f"/studio/broadcasts/{draft_id}/cancel", data={"csrf": csrf_of(listing)},
                             follow_redirects=False)
    assert cancelled.status_code == 303 and "skipped: 3" in station.get("/studio/broadcasts").text
    too_short = station.post("/studio/broadcasts/preview", data={"csrf": csrf_of(listing),
                                                                 "commune_id": str(commune["id"]), "text": "hi"})
    assert too_short.status_code == 422
    other = world.commune("Thiện Tân")
    elsewhere = station.post("/studio/broadcasts/preview", data={"csrf": csrf_of(listing),
                                                                 "commune_id": str(other["id"]), "text": text})
    assert elsewhere.status_code == 403  # station staff announce to their own commune
    assert studio_login("cadre").get("/studio/broadcasts").status_code == 403


def test_listeners_in_a_minority_language_also_hear_it_read_in_vietnamese(
        commune: dict[str, Any], database: Database, settings: Settings) -> None:
    crypto = Crypto.from_settings(settings)
    subscribers(database, crypto, commune["id"], 2)
    actor = staff(database, commune["id"])
    with database.write() as db:
        first = db.scalar(select(AnnouncementSubscription.id).order_by(AnnouncementSubscription.id))
        db.execute(update(AnnouncementSubscription).where(AnnouncementSubscription.id == first)
                   .values(language="hmn"))
        draft = broadcasts.create(db=db, actor=actor, commune_id=commune["id"], text="Đợt khám lưu động thứ Bảy.")
        broadcasts.start(db=db, actor=actor, broadcast_id=draft.id)
    spoken: list[str] = []

    def speak(text: str) -> dict[str, Any]:
        spoken.append(text)
        return {"text": "", "buttons": [], "audio_url": "http://api/a.mp3", "voice_url": "http://api/a.ogg"}

    recorder = Recorder()
    broadcasts.dispatch(database=database, crypto=crypto, notifier=recorder, rate_per_s=100, budget_s=10,
                        speak=speak)
    by_language = {d.language: d.messages for d in recorder.handed}
    assert len(by_language["vi"]) == 1
    assert by_language["hmn"][1]["voice_url"] == "http://api/a.ogg" and "tiếng Việt" in by_language["hmn"][1]["text"]
    assert spoken == ["Đợt khám lưu động thứ Bảy."]  # synthesised once per broadcast


def test_an_announcements_buttons_follow_the_published_wording_in_each_language(
        commune: dict[str, Any], database: Database, settings: Settings, seeded_content: Database,
        publish_message: PublishMessage) -> None:
    publish_message("announcement_button_stop", {"vi": "Thôi nhận thông báo", "hmn": "Tsis txais xov xwm ntxiv"})
    publish_message("announcement_read_in_vietnamese", {"vi": seeds()["announcement_read_in_vietnamese"],
                                                        "hmn": "Nyeem ua lus Nyab Laj."})
    crypto = Crypto.from_settings(settings)
    subscribers(database, crypto, commune["id"], 3)
    actor = staff(database, commune["id"])
    with database.write() as db:
        ids = list(db.scalars(select(AnnouncementSubscription.id).order_by(AnnouncementSubscription.id)))
        for subscription, language in zip(ids, ("vi", "hmn", "nut"), strict=True):
            db.execute(update(AnnouncementSubscription).where(AnnouncementSubscription.id == subscription)
                       .values(language=language))
        draft = broadcasts.create(db=db, actor=actor, commune_id=commune["id"], text="Đợt khám lưu động thứ Bảy.")
        assert broadcasts.preview(db, actor, commune["id"], draft.text).buttons[0][0] == "Thôi nhận thông báo"
        broadcasts.start(db=db, actor=actor, broadcast_id=draft.id)
    recorder = Recorder()
    broadcasts.dispatch(database=database, crypto=crypto, notifier=recorder, rate_per_s=100, budget_s=10,
                        speak=lambda _text: {"text": "", "buttons": [], "voice_url": "http://api/a.ogg"})
    by_language = {d.language: d.messages for d in recorder.handed}
    assert {language: messages[0]["buttons"][0][0] for language, messages in by_language.items()} == {
        "vi": "Thôi nhận thông báo", "hmn": "Tsis txais xov xwm ntxiv", "nut": "Thôi nhận thông báo"}
    assert by_language["hmn"][1]["text"] == "Nyeem ua lus Nyab Laj."
    assert by_language["nut"][1]["text"] == seeds()["announcement_read_in_vietnamese"]
