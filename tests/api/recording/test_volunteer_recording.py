"""Volunteers record the assistant's messages from an invitation link; reviewers of the language decide.

Each phone is its own TestClient (its own cookies), as a script on the internet would be: what it can do
with a link, without one, with another language's link, or with its own voice in review."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from api.audio.models import AudioClip
from api.consent.models import Consent
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database, utcnow
from api.core.usage import count_use
from api.main import create_app
from api.recording import service
from api.recording.models import RecordingInvitation, Take, Volunteer
from api.staff.service import create_staff

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed (make setup-system)")

# Messages without values to fill in, seeded by `seeded_content`: what a volunteer can record.
GREET, FREE, BRING = "utter_greet", "free_of_charge", "what_to_bring"


def voice(tmp_path: Path, seconds: float = 2.0, volume: float = 0.5, name: str | None = None) -> bytes:
    """A phone's recording: a tone standing in for a voice (volume 0: a muted microphone)."""
    path = tmp_path / (name or f"{uuid.uuid4().hex}.wav")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency=220:duration={seconds}:sample_rate=16000", "-af", f"volume={volume}",
                    str(path)], check=True)
    return path.read_bytes()


@dataclass
class Phone:
    """One person's browser on the volunteer pages."""

    browser: TestClient
    token: str

    @property
    def page(self) -> str:
        return f"/studio/voice/{self.token}"

    def html(self) -> str:
        response = self.browser.get(self.page)
        assert response.status_code == 200, response.text
        return str(response.text)

    def csrf(self) -> str:
        found = re.search(r'(?:name="csrf" value|data-csrf)="([^"]+)"', self.html())
        assert found
        return found.group(1)

    def offer(self) -> dict[str, str]:
        html = self.html()
        key = re.search(r'data-key="([^"]*)"', html)
        source = re.search(r'data-source-hash="([^"]*)"', html)
        assert key and source
        return {"key": key.group(1), "source_hash": source.group(1)}

    def join(self, name: str = "Lý Thị Mai", phone: str = "0912345678", agree: bool = True) -> Any:
        html = self.html()
        csrf = re.search(r'name="csrf" value="([^"]+)"', html)
        notice = re.search(r'name="notice_version" value="([^"]+)"', html)
        assert csrf and notice, html
        form = {"csrf": csrf.group(1), "notice_version": notice.group(1), "name": name, "phone": phone}
        if agree:
            form["agree"] = "on"
        return self.browser.post(f"{self.page}/join", data=form, follow_redirects=False)

    def record(self, data: bytes, *, key: str | None = None, source_hash: str | None = None,
               upload_id: str | None = None, csrf: str | None = None) -> Any:
        offer = self.offer()
        return self.browser.post(f"{self.page}/takes", data={
            "csrf": self.csrf() if csrf is None else csrf, "key": key or offer["key"],
            "source_hash": source_hash or offer["source_hash"], "upload_id": upload_id or uuid.uuid4().hex},
            files={"file": ("take.webm", data, "audio/webm")})

    def decide(self, take_id: int, decision: str, reason: str = "") -> Any:
        return self.browser.post(f"{self.page}/takes/{take_id}/{decision}",
                                 data={"csrf": self.csrf(), "reason": reason}, follow_redirects=False)


@dataclass
class Campaign:
    settings: Settings
    database: Database
    crypto: Crypto
    phones: list[TestClient]

    def invite(self, purpose: str = "record", language: str = "tyz", keys: list[str] | None = None,
               days: int = 14, max_people: int = 20) -> str:
        with self.database.write() as db:
            editor = create_staff(db=db, actor=None, username=f"editor-{uuid.uuid4().hex[:6]}",
                                  password="mat-khau-123", role="editor")
            _invitation, token = service.create_invitation(db, self.crypto, editor, purpose=purpose,
                                                           language=language, days=days, max_people=max_people,
                                                           keys=keys)
        return token

    def phone(self, token: str) -> Phone:
        browser = TestClient(create_app(self.settings, self.database), raise_server_exceptions=False)
        self.phones.append(browser)
        return Phone(browser, token)

    def joined(self, token: str, phone_number: str = "0912345678", name: str = "Lý Thị Mai") -> Phone:
        phone = self.phone(token)
        assert phone.join(name=name, phone=phone_number).status_code == 303
        return phone


@pytest.fixture
def campaign(settings: Settings, seeded_content: Database) -> Iterator[Campaign]:
    made = Campaign(settings, seeded_content, Crypto.from_settings(settings), [])
    yield made
    for browser in made.phones:
        browser.close()


def heard(client: TestClient, key: str, language: str) -> dict[str, Any] | None:
    response = client.get("/api/v1/audio/for", params={"key": key, "lang": language})
    return response.json() if response.status_code == 200 else None


def in_language(client: TestClient, key: str, language: str) -> bool:
    """Whether residents of `language` hear a recording in it (else Vietnamese, or nothing)."""
    played = heard(client, key, language)
    return played is not None and played["language"] == language


UNUSABLE = "Đường dẫn ghi âm này không còn dùng được"


def test_a_link_never_issued_expired_or_revoked_reads_the_same_and_never_fails(campaign: Campaign) -> None:
    stranger = campaign.phone("x")
    expired, revoked = campaign.invite(), campaign.invite()
    with campaign.database.write() as db:
        db.execute(text("UPDATE recording_invitations SET expires_at = :past WHERE token_hash = :h"),
                   {"past": utcnow() - timedelta(minutes=1), "h": service._token_hash(campaign.crypto, expired)})
        found = db.scalar(select(RecordingInvitation).where(
            RecordingInvitation.token_hash == service._token_hash(campaign.crypto, revoked)))
        assert found is not None
        found.revoked_at = utcnow()
    for token in ("A" * 32, expired, revoked, "%E2%80%8B" * 8, "a" * 500, "x"):
        for method, path in (("GET", ""), ("POST", "/join"), ("POST", "/takes"), ("POST", "/skip"),
                             ("POST", "/withdraw"), ("GET", "/takes/1.mp3"), ("POST", "/takes/1/accept")):
            response = stranger.browser.request(method, f"/studio/voice/{token}{path}", data={"csrf": "x"})
            assert response.status_code == 404, (token, path, response.status_code, response.text[:200])
            assert UNUSABLE in response.json()["message"] if "json" in response.headers["content-type"] \
                else UNUSABLE in response.text
    assert campaign.phone(campaign.invite()).html().count("Bắt đầu") == 1


def test_joining_needs_the_notice_agreed_and_keeps_name_and_phone_encrypted(campaign: Campaign) -> None:
    token = campaign.invite(max_people=2)
    phone = campaign.phone(token)
    refused = phone.join(agree=False)
    assert refused.status_code == 422 and "đồng ý với thông báo" in refused.text
    assert phone.join(name="Lý Thị Mai", phone="0912 345 678").status_code == 303
    assert "Chào Lý Thị Mai" in phone.html()
    with campaign.database.read() as db:
        person = db.scalars(select(Volunteer)).one()
        consent = db.scalars(select(Consent).where(Consent.purpose == "voice")).one()
        dump = " ".join(str(v) for row in db.execute(text("SELECT * FROM recording_volunteers")) for v in row)
    assert "0912345678" not in dump and "Mai" not in dump
    assert campaign.crypto.decrypt(person.phone_enc) == "0912345678"
    assert consent.subject_hash == person.phone_hash and consent.notice_version.startswith("2026-01.")
    assert consent.withdrawn_at is None
    # A notice whose words changed since the page was loaded is not the one agreed to.
    late = campaign.phone(token)
    html = late.html()
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    assert csrf
    stale = late.browser.post(f"{late.page}/join", data={"csrf": csrf.group(1), "notice_version": "2026-01.000000",
                                                         "name": "Hoàng Văn Páo", "phone": "0987654321",
                                                         "agree": "on"}, follow_redirects=False)
    assert stale.status_code == 422
    assert campaign.phone(token).join(phone="0987654321").status_code == 303
    full = campaign.phone(token).join(phone="0977654321")
    assert full.status_code == 409 and "đủ số người" in full.text
    bad = campaign.phone(token).join(phone="12345")
    assert bad.status_code == 422


def test_a_take_is_checked_filed_once_and_the_next_message_offered(campaign: Campaign, tmp_path: Path) -> None:
    phone = campaign.joined(campaign.invite(keys=[GREET, FREE]))
    first = phone.offer()
    assert first["key"] in (GREET, FREE)
    assert phone.record(voice(tmp_path), csrf="forged").status_code == 403
    silent = phone.record(voice(tmp_path, volume=0))
    assert silent.status_code == 422 and silent.json()["code"] == "audio_silent"
    short = phone.record(voice(tmp_path, seconds=0.3))
    assert short.status_code == 422 and short.json()["code"] == "audio_too_short"
    garbage = phone.record(b"<html>not a sound</html>")
    assert garbage.status_code == 422 and garbage.json()["code"] == "audio_unreadable"
    outdated = phone.record(voice(tmp_path), source_hash="0" * 64)
    assert outdated.status_code == 409 and outdated.json()["code"] == "take_outdated"
    unknown = phone.record(voice(tmp_path), key="utter_ask_cccd_not_a_key")
    assert unknown.status_code == 422

    upload_id = uuid.uuid4().hex
    sent = phone.record(voice(tmp_path), upload_id=upload_id)
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert body["tally"] == {"accepted": 0, "in_review": 1, "rejected": 0}
    assert body["next"]["key"] != first["key"] and body["next"]["left"] == 0
    # The answer was lost and the phone sends the same take again: one take.
    again = phone.record(voice(tmp_path), key=first["key"], source_hash=first["source_hash"], upload_id=upload_id)
    assert again.status_code == 201 and again.json()["take"]["id"] == body["take"]["id"]
    with campaign.database.read() as db:
        assert db.scalar(select(func.count(Take.id))) == 1
        take = db.scalars(select(Take)).one()
    # Kept encrypted while it waits: no sound file on disk holds it in the clear.
    stored = list((campaign.settings.audio_dir / "takes").iterdir())
    assert len(stored) == 2 and all(not p.read_bytes().startswith((b"ID3", b"OggS", b"\xff")) for p in stored)
    assert phone.browser.get(f"{phone.page}/takes/{take.id}.mp3").content[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
    # Skipping the other message leaves nothing to record.
    skipped = phone.browser.post(f"{phone.page}/skip", data={"csrf": phone.csrf(), "key": body["next"]["key"]})
    assert skipped.status_code == 200 and skipped.json()["next"] is None
    assert "Đã hết câu cần thu" in phone.html()


def test_only_reviewers_of_the_language_hear_a_take_and_never_their_own(campaign: Campaign, tmp_path: Path,
                                                                        client: TestClient) -> None:
    speaker = campaign.joined(campaign.invite(keys=[GREET]), phone_number="0912345678")
    take_id = speaker.record(voice(tmp_path)).json()["take"]["id"]
    other_speaker = campaign.joined(campaign.invite(keys=[FREE]), phone_number="0988888888")
    hmong_reviewer = campaign.joined(campaign.invite("review", "hmn"), phone_number="0977777777")
    own_reviewer = campaign.joined(campaign.invite("review", "tyz"), phone_number="0912345678")
    reviewer = campaign.joined(campaign.invite("review", "tyz"), phone_number="0966666666")
    nobody = campaign.phone(campaign.invite("review", "tyz"))
    for stranger in (other_speaker, hmong_reviewer, own_reviewer, nobody):
        assert stranger.browser.get(f"{stranger.page}/takes/{take_id}.mp3").status_code == 404
    staff_only = client.get(f"/studio/recording/takes/{take_id}.mp3", follow_redirects=False)
    assert staff_only.status_code == 303 and staff_only.headers["location"] == "/studio/login"
    assert f"takes/{take_id}.mp3" not in hmong_reviewer.html()
    assert f"takes/{take_id}.mp3" in reviewer.html()
    assert reviewer.browser.get(f"{reviewer.page}/takes/{take_id}.mp3").status_code == 200
    # The speaker, invited to review too, cannot pass their own voice.
    assert own_reviewer.decide(take_id, "accept").status_code == 403
    assert hmong_reviewer.decide(take_id, "accept").status_code == 404
    # A speaker's page cannot decide, however it is asked.
    assert speaker.decide(take_id, "accept").status_code == 404
    assert not in_language(client, GREET, "tyz")


def test_an_accepted_take_is_what_residents_hear_and_a_rejected_one_never(campaign: Campaign, tmp_path: Path,
                                                                          client: TestClient) -> None:
    speaker = campaign.joined(campaign.invite(keys=[GREET, FREE]))
    reviewer = campaign.joined(campaign.invite("review", "tyz"), phone_number="0966666666")
    first = speaker.record(voice(tmp_path)).json()
    second = speaker.record(voice(tmp_path, seconds=1.5)).json()
    accepted_id, rejected_id = first["take"]["id"], second["take"]["id"]
    with campaign.database.read() as db:
        keys = {t.id: t.key for t in db.scalars(select(Take))}

    no_reason = reviewer.decide(rejected_id, "reject", reason=" ")
    assert no_reason.status_code == 422
    assert reviewer.decide(rejected_id, "reject", reason="Đọc sai chữ cuối").status_code == 303
    assert reviewer.decide(accepted_id, "accept").status_code == 303
    assert reviewer.decide(accepted_id, "accept").status_code == 409  # decided once

    played = heard(client, keys[accepted_id], "tyz")
    assert played is not None and played["language"] == "tyz" and not played["placeholder"]
    file = client.get("/" + played["url"].split("/", 3)[3])
    assert file.status_code == 200 and file.content
    assert not in_language(client, keys[rejected_id], "tyz")
    assert reviewer.browser.get(f"{reviewer.page}/takes/{rejected_id}.mp3").status_code == 404
    assert speaker.browser.get(f"{speaker.page}/takes/{rejected_id}.mp3").status_code == 404
    html = speaker.html()
    assert "Đọc sai chữ cuối" in html and 'id="n-accepted">1<' in html and 'id="n-rejected">1<' in html
    # Refused, the message is asked for again.
    assert speaker.offer()["key"] == keys[rejected_id]
    with campaign.database.read() as db:
        uploader = db.scalar(select(AudioClip.uploaded_by).where(
            AudioClip.key == keys[accepted_id], AudioClip.language == "tyz", AudioClip.active.is_(True)))
    assert uploader is not None and uploader.startswith("volunteer:")


def test_a_take_of_a_text_changed_later_is_stale_and_asked_for_again(
        campaign: Campaign, tmp_path: Path, client: TestClient, publish_message: Callable[..., Any]) -> None:
    speaker = campaign.joined(campaign.invite(keys=[GREET]))
    reviewer = campaign.joined(campaign.invite("review", "tyz"), phone_number="0966666666")
    assert reviewer.decide(speaker.record(voice(tmp_path)).json()["take"]["id"], "accept").status_code == 303
    assert "Đã hết câu cần thu" in speaker.html()
    publish_message(GREET, {"vi": "Xin chào bà con! Tôi là trợ lý khám sức khỏe miễn phí của trạm y tế xã."})
    assert not in_language(client, GREET, "tyz")
    offer = speaker.offer()
    assert offer["key"] == GREET and "trạm y tế xã" in speaker.html()
    # A take recorded from the old words while a new one is on screen is refused.
    with campaign.database.read() as db:
        old_hash = db.scalar(select(Take.source_hash).where(Take.key == GREET))
    assert speaker.record(voice(tmp_path), source_hash=old_hash).status_code == 409


def test_withdrawing_unpublishes_deletes_and_restores_what_was_replaced(
        campaign: Campaign, tmp_path: Path, client: TestClient) -> None:
    from api.audio import service as audio

    with campaign.database.write() as db:
        placeholder = audio.store_upload(db=db, settings=campaign.settings, actor=None, key=GREET, language="tyz",
                                         data=voice(tmp_path), placeholder=True)
        placeholder_id = placeholder.id
    first = heard(client, GREET, "tyz")
    assert first is not None and first["placeholder"] is True
    speaker = campaign.joined(campaign.invite(keys=[GREET]))
    # The same person joined another invitation too (found by the phone): their takes there go as well.
    again = campaign.joined(campaign.invite(keys=[FREE]))
    reviewer = campaign.joined(campaign.invite("review", "tyz"), phone_number="0966666666")
    offered = speaker.offer()
    assert offered["key"] == GREET  # a placeholder is what a language still needs
    assert "mẫu" in speaker.html() or "current-audio" in speaker.html()
    assert reviewer.decide(speaker.record(voice(tmp_path)).json()["take"]["id"], "accept").status_code == 303
    waiting = again.record(voice(tmp_path, seconds=1.2)).json()["take"]["id"]
    published = heard(client, GREET, "tyz")
    assert published is not None and published["placeholder"] is False
    name = published["url"].rsplit("/", 1)[1]
    assert (campaign.settings.audio_dir / name).exists()

    withdrawn = speaker.browser.post(f"{speaker.page}/withdraw", data={"csrf": speaker.csrf()})
    assert withdrawn.status_code == 200 and "Đã rút lại đồng ý" in withdrawn.text
    assert 'id="unpublished">Số bản ghi đã thôi phát: 1.' in withdrawn.text
    back = heard(client, GREET, "tyz")
    assert back is not None and back["placeholder"] is True
    assert not (campaign.settings.audio_dir / name).exists()
    assert list((campaign.settings.audio_dir / "takes").iterdir()) == []
    with campaign.database.read() as db:
        restored, kept = db.get(AudioClip, placeholder_id), db.get(Take, waiting)
        assert restored is not None and restored.active
        assert {t.status for t in db.scalars(select(Take))} == {"withdrawn"}
        assert kept is not None and kept.status == "withdrawn"
        assert all(c.withdrawn_at is not None for c in db.scalars(select(Consent).where(Consent.purpose == "voice")))
        # Name and phone are erased; the phone's hash stays as the consent's proof.
        assert {(v.name_enc, v.phone_enc) for v in db.scalars(select(Volunteer).where(
            Volunteer.role == "record"))} == {("", "")}
    # The link now asks who they are again; the old secret is no one.
    assert "Bắt đầu" in speaker.html()
    assert again.browser.get(again.page).text.count("Bắt đầu") == 1


def test_the_most_played_messages_are_asked_for_first(campaign: Campaign) -> None:
    with campaign.database.write() as db:
        for _ in range(5):
            count_use(db, kind="clip_play", key=BRING)
        count_use(db, kind="clip_play", key=FREE)
    phone = campaign.joined(campaign.invite(keys=[GREET, FREE, BRING]))
    assert phone.offer()["key"] == BRING
    skipped = phone.browser.post(f"{phone.page}/skip", data={"csrf": phone.csrf(), "key": BRING}).json()
    assert skipped["next"]["key"] == FREE


def test_a_script_with_a_link_is_held_to_a_pace(campaign: Campaign, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from api.studio import voice_pages

    monkeypatch.setattr(voice_pages, "TAKES_PER_TEN_MINUTES", 2)
    phone = campaign.joined(campaign.invite(keys=[GREET, FREE, BRING]))
    data = voice(tmp_path)
    assert phone.record(data).status_code == 201
    assert phone.record(data).status_code == 201
    refused = phone.record(data)
    assert refused.status_code == 429 and "retry_after_seconds" in refused.json()["details"]
    monkeypatch.setattr(voice_pages, "JOINS_PER_HOUR_PER_ADDRESS", 2)  # one joined above
    token = campaign.invite()
    assert campaign.phone(token).join(phone="0911111111").status_code == 303
    assert campaign.phone(token).join(phone="0922222222").status_code == 429


def test_two_reviewers_pressing_accept_at_once_publish_one_clip(campaign: Campaign, tmp_path: Path) -> None:
    import threading

    speaker = campaign.joined(campaign.invite(keys=[GREET]))
    take_id = speaker.record(voice(tmp_path)).json()["take"]["id"]
    with campaign.database.write() as db:
        editors = [create_staff(db=db, actor=None, username=f"editor-{uuid.uuid4().hex[:6]}", password="mat-khau-123",
                                role="editor") for _ in range(4)]
        db.expunge_all()
    outcomes: list[str] = []
    start = threading.Barrier(len(editors))

    def press(editor: Any) -> None:
        start.wait()
        try:
            with campaign.database.write() as db:
                service.accept(db, campaign.settings, campaign.crypto, service.Reviewer.of_staff(editor), take_id)
            outcomes.append("published")
        except service.TakeDecided:
            outcomes.append("told")
        except Exception as error:  # noqa: BLE001 - SQLite may refuse a second writer ("database is locked")
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=press, args=(editor,)) for editor in editors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("published") == 1, outcomes
    with campaign.database.read() as db:
        assert db.scalar(select(func.count(AudioClip.id)).where(AudioClip.key == GREET,
                                                                 AudioClip.language == "tyz")) == 1


def test_a_key_rotation_keeps_volunteers_their_consents_and_waiting_takes_readable(
        campaign: Campaign, tmp_path: Path) -> None:
    from api.privacy.service import rotate_keys

    speaker = campaign.joined(campaign.invite(keys=[GREET, FREE]), phone_number="0912345678")
    take_id = speaker.record(voice(tmp_path)).json()["take"]["id"]
    gone = campaign.joined(campaign.invite(keys=[BRING]), phone_number="0944444444")
    assert gone.browser.post(f"{gone.page}/withdraw", data={"csrf": gone.csrf()}).status_code == 200
    secret = campaign.settings.secret_key
    assert secret is not None
    rotated = campaign.settings.model_copy(update={"secret_key": type(secret)("a-brand-new-secret-0123456789abcdef"),
                                                   "previous_secret_keys": secret.get_secret_value()})
    with campaign.database.write() as db:
        result = rotate_keys(db, Crypto.from_settings(rotated), rotated)
    assert result.volunteers == 2 and result.consents_dropped == 0
    new_only = Crypto.from_settings(rotated.model_copy(update={"previous_secret_keys": ""}))
    with campaign.database.read() as db:
        person = db.scalars(select(Volunteer).where(Volunteer.withdrawn_at.is_(None))).one()
        assert new_only.decrypt(person.phone_enc) == "0912345678"
        assert person.phone_hash == new_only.lookup_hash("0912345678")
        assert {c.subject_hash for c in db.scalars(select(Consent).where(Consent.purpose == "voice"))} \
            >= {person.phone_hash}
        take = db.get(Take, take_id)
        assert take is not None
        assert service.take_audio(campaign.settings, new_only, take)[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
