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

from api.audio import service as audio_service
from api.audio.models import AudioClip
from api.consent.models import Consent
from api.content.service import text_hash
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database, utcnow
from api.core.usage import count_use
from api.main import create_app
from api.recording import invitations, offers, takes
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
            _invitation, token = invitations.create_invitation(db, self.crypto, editor, purpose=purpose,
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
                   {"past": utcnow() - timedelta(minutes=1), "h": invitations._token_hash(expired)})
        found = db.scalar(select(RecordingInvitation).where(
            RecordingInvitation.token_hash == invitations._token_hash(revoked)))
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
    assert consent.subject_hash == person.subject_hash == invitations.consent_subject(campaign.crypto, person)
    assert consent.notice_version.startswith("2026-01.")
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


def test_only_reviewers_of_the_language_hear_a_take(campaign: Campaign, tmp_path: Path, client: TestClient) -> None:
    speaker = campaign.joined(campaign.invite(keys=[GREET]), phone_number="0912345678")
    take_id = speaker.record(voice(tmp_path)).json()["take"]["id"]
    other_speaker = campaign.joined(campaign.invite(keys=[FREE]), phone_number="0988888888")
    hmong_reviewer = campaign.joined(campaign.invite("review", "hmn"), phone_number="0977777777")
    reviewer = campaign.joined(campaign.invite("review", "tyz"), phone_number="0966666666")
    nobody = campaign.phone(campaign.invite("review", "tyz"))
    for stranger in (other_speaker, hmong_reviewer, nobody):
        assert stranger.browser.get(f"{stranger.page}/takes/{take_id}.mp3").status_code == 404
    staff_only = client.get(f"/studio/recording/takes/{take_id}.mp3", follow_redirects=False)
    assert staff_only.status_code == 303 and staff_only.headers["location"] == "/studio/login"
    assert f"takes/{take_id}.mp3" not in hmong_reviewer.html()
    assert f"takes/{take_id}.mp3" in reviewer.html()
    assert reviewer.browser.get(f"{reviewer.page}/takes/{take_id}.mp3").status_code == 200
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
    # Someone else typing the same phone number under another link is someone else: a phone is never
    # verified, so it ties no consent or recording to another's (a stranger could otherwise withdraw them).
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
    with campaign.database.read() as db:
        left = db.get(Take, waiting)
        assert left is not None
    assert {p.name.split(".")[0] for p in (campaign.settings.audio_dir / "takes").iterdir()} == {left.stem}
    with campaign.database.read() as db:
        restored, kept = db.get(AudioClip, placeholder_id), db.get(Take, waiting)
        assert restored is not None and restored.active
        assert kept is not None and kept.status == "in_review"
        assert {t.status for t in db.scalars(select(Take)) if t.id != waiting} == {"withdrawn"}
        # Name and phone are erased; the other one's consent stands.
        people = {v.id: v for v in db.scalars(select(Volunteer).where(Volunteer.role == "record"))}
        assert sorted((v.name_enc == "", v.withdrawn_at is not None) for v in people.values()) == [
            (False, False), (True, True)]
        assert sorted(c.withdrawn_at is None for c in db.scalars(select(Consent).where(
            Consent.purpose == "voice"))) == [False, True]
    # The link now asks who they are again; the old secret is no one. The other still records.
    assert "Bắt đầu" in speaker.html()
    assert "Chào Lý Thị Mai" in again.html()


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
                takes.accept(db, campaign.settings, campaign.crypto, takes.Reviewer.of_staff(editor), take_id)
            outcomes.append("published")
        except takes.TakeDecided:
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
        subjects = {v.subject_hash for v in db.scalars(select(Volunteer))}
        assert person.subject_hash == invitations.consent_subject(new_only, person)
        assert {c.subject_hash for c in db.scalars(select(Consent).where(Consent.purpose == "voice"))} == subjects
        take = db.get(Take, take_id)
        assert take is not None
        assert takes.take_audio(campaign.settings, new_only, take)[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
    # The links were not keyed: they still open, and the browser is still its volunteer.
    with campaign.database.read() as db:
        invitation = invitations.open_invitation(db, speaker.token)
        secret = speaker.browser.cookies.get(f"ksk_voice_{invitation.id}")
        assert invitations.volunteer_of(db, invitation, secret) is not None


def webm(tmp_path: Path, seconds: float) -> bytes:
    """What Chrome's MediaRecorder uploads: Opus in WebM written as it goes, its length never in the header."""
    done = subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                           f"sine=frequency=220:duration={seconds}:sample_rate=48000", "-af", "volume=0.5",
                           "-c:a", "libopus", "-b:a", "128k", "-f", "webm", "pipe:1"], capture_output=True, check=True)
    return done.stdout


def test_a_browsers_webm_of_half_a_minute_is_filed(campaign: Campaign, tmp_path: Path) -> None:
    phone = campaign.joined(campaign.invite(keys=[GREET]))
    data = webm(tmp_path, 30)
    assert len(data) > 256 * 1024  # larger than the API's default body limit
    sent = phone.record(data)
    assert sent.status_code == 201, sent.text
    with campaign.database.read() as db:
        take = db.scalars(select(Take)).one()
    assert 29_000 < take.duration_ms < 31_000
    huge = phone.record(b"\0" * (takes.TAKE_MAX_BYTES + 1), key=GREET, source_hash="0" * 64)
    assert huge.status_code == 413


def test_forged_csrf_values_of_any_shape_are_refused_not_failed(campaign: Campaign, tmp_path: Path) -> None:
    token = campaign.invite(keys=[GREET])
    stranger = campaign.phone(token)
    phone = campaign.joined(token)
    for value in ("\u00ff\u00fe", "é" * 40, "x"):
        joined = stranger.browser.post(f"{stranger.page}/join",
                                       data={"csrf": value, "name": "A B", "phone": "0912345678"})
        assert joined.status_code == 403
        for path in ("/skip", "/withdraw"):
            assert phone.browser.post(f"{phone.page}{path}", data={"csrf": value, "key": GREET}).status_code == 403
        assert phone.record(voice(tmp_path), csrf=value).status_code == 403


def test_after_the_link_ends_a_volunteer_still_sees_their_counts_and_can_withdraw(
        campaign: Campaign, tmp_path: Path) -> None:
    token = campaign.invite(keys=[GREET])
    phone = campaign.joined(token)
    csrf = phone.csrf()
    assert phone.record(voice(tmp_path)).status_code == 201
    with campaign.database.write() as db:
        db.execute(text("UPDATE recording_invitations SET expires_at = :past WHERE token_hash = :h"),
                   {"past": utcnow() - timedelta(minutes=1), "h": invitations._token_hash(token)})
    page = phone.html()
    assert "đã kết thúc" in page and 'id="n-review">1<' in page
    late = phone.browser.post(f"{phone.page}/takes", data={"csrf": csrf, "key": GREET, "source_hash": "0" * 64,
                                                           "upload_id": uuid.uuid4().hex},
                              files={"file": ("take.webm", voice(tmp_path), "audio/webm")})
    assert late.status_code == 404  # no more takes
    assert UNUSABLE in campaign.phone(token).browser.get(phone.page).text  # nor new people
    gone = phone.browser.post(f"{phone.page}/withdraw", data={"csrf": csrf})
    assert gone.status_code == 200 and "Đã rút lại đồng ý" in gone.text
    with campaign.database.read() as db:
        assert db.scalars(select(Take)).one().status == "withdrawn"


def test_withdrawing_also_deletes_a_recording_another_has_since_replaced(
        campaign: Campaign, tmp_path: Path, client: TestClient) -> None:
    first = campaign.joined(campaign.invite(keys=[GREET]), phone_number="0911111111")
    reviewer = campaign.joined(campaign.invite("review", "tyz"), phone_number="0966666666")
    assert reviewer.decide(first.record(voice(tmp_path)).json()["take"]["id"], "accept").status_code == 303
    played = heard(client, GREET, "tyz")
    assert played is not None
    old_file = "/" + played["url"].split("/", 3)[3]
    # The text changes, the message is recorded again by someone else, and the first speaker withdraws.
    with campaign.database.write() as db:
        db.execute(text("UPDATE bot_messages SET text = 'Xin chào bà con, trạm y tế xã xin kính chào.' "
                        "WHERE key = :key AND language = 'vi'"), {"key": GREET})
    second = campaign.joined(campaign.invite(keys=[GREET]), phone_number="0922222222")
    assert reviewer.decide(second.record(voice(tmp_path, 1.5)).json()["take"]["id"], "accept").status_code == 303
    assert client.get(old_file).status_code == 200
    assert first.browser.post(f"{first.page}/withdraw", data={"csrf": first.csrf()}).status_code == 200
    assert client.get(old_file).status_code == 404
    assert in_language(client, GREET, "tyz")  # the second speaker's recording plays on


def test_a_withdrawn_speakers_take_is_never_published_nor_a_late_one_filed(campaign: Campaign, tmp_path: Path) -> None:
    phone = campaign.joined(campaign.invite(keys=[GREET, FREE]))
    take_id = phone.record(voice(tmp_path)).json()["take"]["id"]
    with campaign.database.read() as db:
        volunteer = db.scalars(select(Volunteer)).one()
        db.expunge(volunteer)
    assert phone.browser.post(f"{phone.page}/withdraw", data={"csrf": phone.csrf()}).status_code == 200
    recording = audio_service.normalise(campaign.settings, voice(tmp_path), require_sound=True)
    with campaign.database.write() as db, pytest.raises(invitations.NotJoined):
        # The page had read the volunteer before the withdrawal; ffmpeg finished after it.
        takes.submit_take(db, campaign.settings, campaign.crypto, volunteer, key=FREE,
                            source_hash=text_hash(offers.recordable_texts(db)[FREE]),
                            upload_id=uuid.uuid4().hex, recording=recording)
    with campaign.database.write() as db:
        editor = create_staff(db=db, actor=None, username=f"editor-{uuid.uuid4().hex[:6]}", password="mat-khau-123",
                              role="editor")
        with pytest.raises(takes.TakeDecided):
            takes.accept(db, campaign.settings, campaign.crypto, takes.Reviewer.of_staff(editor), take_id)


def test_a_take_is_only_for_what_the_link_asks_and_the_language_lacks(campaign: Campaign, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    phone = campaign.joined(campaign.invite(keys=[GREET]))
    with campaign.database.read() as db:
        texts = offers.recordable_texts(db)
    other = phone.record(voice(tmp_path), key=FREE, source_hash=text_hash(texts[FREE]))
    assert other.status_code == 422 and other.json()["code"] == "recording_key_unknown"
    reviewer = campaign.joined(campaign.invite("review", "tyz"), phone_number="0966666666")
    assert reviewer.decide(phone.record(voice(tmp_path)).json()["take"]["id"], "accept").status_code == 303
    # Recorded now: a script replaying the form cannot queue a replacement of a good recording.
    again = phone.record(voice(tmp_path), key=GREET, source_hash=text_hash(texts[GREET]))
    assert again.status_code == 422
    monkeypatch.setattr(takes, "MAX_WAITING_PER_VOLUNTEER", 1)
    busy = campaign.joined(campaign.invite(keys=[FREE, BRING]), phone_number="0933333333")
    assert busy.record(voice(tmp_path)).status_code == 201
    full = busy.record(voice(tmp_path))
    assert full.status_code == 409 and full.json()["code"] == "takes_waiting_full"


def test_racing_joins_and_resends_keep_the_cap_and_file_once(campaign: Campaign, tmp_path: Path) -> None:
    import threading

    token = campaign.invite(keys=[GREET], max_people=1)
    phones = [campaign.phone(token) for _ in range(4)]
    forms = []
    for number, phone in enumerate(phones):
        html = phone.html()
        csrf = re.search(r'name="csrf" value="([^"]+)"', html)
        notice = re.search(r'name="notice_version" value="([^"]+)"', html)
        assert csrf and notice
        forms.append({"csrf": csrf.group(1), "notice_version": notice.group(1), "name": "Lý Thị Mai",
                      "phone": f"09{number}1234567", "agree": "on"})
    answers: list[int] = []
    gate = threading.Barrier(len(phones))

    def join(phone: Phone, form: dict[str, str]) -> None:
        gate.wait()
        answers.append(phone.browser.post(f"{phone.page}/join", data=form, follow_redirects=False).status_code)

    threads = [threading.Thread(target=join, args=pair) for pair in zip(phones, forms, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [303, 409, 409, 409], answers
    joined = next(p for p in phones if "Chào" in p.browser.get(p.page).text)
    offer, csrf, data, upload_id = joined.offer(), joined.csrf(), voice(tmp_path), uuid.uuid4().hex
    codes: list[int] = []
    gate = threading.Barrier(3)

    def send() -> None:
        gate.wait()
        codes.append(joined.record(data, key=offer["key"], source_hash=offer["source_hash"], upload_id=upload_id,
                                   csrf=csrf).status_code)

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [201, 201, 201], codes
    with campaign.database.read() as db:
        assert db.scalar(select(func.count(Take.id))) == 1
    assert len(list((campaign.settings.audio_dir / "takes").iterdir())) == 2


def test_two_takes_of_one_message_accepted_at_once_leave_one_clip_playing(campaign: Campaign, tmp_path: Path) -> None:
    import threading

    with campaign.database.read() as db:
        source_hash = text_hash(offers.recordable_texts(db)[GREET])
    # The second phone had the message on screen before the first's take arrived.
    sent = [campaign.joined(campaign.invite(keys=[GREET]), phone_number=number).record(
        voice(tmp_path), key=GREET, source_hash=source_hash).json() for number in ("0911111111", "0922222222")]
    with campaign.database.write() as db:
        editors = [create_staff(db=db, actor=None, username=f"editor-{uuid.uuid4().hex[:6]}",
                                password="mat-khau-123", role="editor") for _ in sent]
        db.expunge_all()
    gate = threading.Barrier(len(sent))
    outcomes: list[str] = []

    def accept(editor: Any, take_id: int) -> None:
        gate.wait()
        try:
            with campaign.database.write() as db:
                takes.accept(db, campaign.settings, campaign.crypto, takes.Reviewer.of_staff(editor), take_id)
            outcomes.append("published")
        except takes.SameMessageAccepted:
            outcomes.append("told")
        except Exception as error:  # noqa: BLE001 - SQLite may refuse a second writer ("database is locked")
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=accept, args=(editor, take["take"]["id"]))
               for editor, take in zip(editors, sent, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert "published" in outcomes, outcomes
    with campaign.database.read() as db:
        assert db.scalar(select(func.count(AudioClip.id)).where(
            AudioClip.key == GREET, AudioClip.language == "tyz", AudioClip.active.is_(True))) == 1


def test_a_reviewer_agrees_to_a_notice_and_can_leave(campaign: Campaign) -> None:
    reviewer = campaign.joined(campaign.invite("review", "tyz"), phone_number="0966666666")
    with campaign.database.read() as db:
        consent = db.scalars(select(Consent).where(Consent.purpose == "voice_review")).one()
        assert consent.withdrawn_at is None
    left = reviewer.browser.post(f"{reviewer.page}/withdraw", data={"csrf": reviewer.csrf()})
    assert left.status_code == 200
    with campaign.database.read() as db:
        person = db.scalars(select(Volunteer)).one()
        assert (person.name_enc, person.phone_enc) == ("", "") and person.withdrawn_at is not None
        assert db.scalars(select(Consent).where(Consent.purpose == "voice_review")).one().withdrawn_at is not None


def test_staff_refuse_every_take_waiting_from_a_leaked_link_at_once(
        campaign: Campaign, tmp_path: Path, studio_login: Callable[..., TestClient]) -> None:
    token = campaign.invite(keys=[GREET, FREE, BRING])
    noisy = [campaign.joined(token, phone_number=n) for n in ("0911111111", "0922222222")]
    for phone in noisy:
        assert phone.record(voice(tmp_path)).status_code == 201
    honest = campaign.joined(campaign.invite(keys=[BRING]), phone_number="0933333333")
    with campaign.database.read() as db:
        bring = text_hash(offers.recordable_texts(db)[BRING])
    assert honest.record(voice(tmp_path), key=BRING, source_hash=bring).status_code == 201
    with campaign.database.read() as db:
        invitation_id = invitations.open_invitation(db, token).id
    staff = studio_login("editor")
    page = staff.get("/studio/recording").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    empty = staff.post(f"/studio/recording/invitations/{invitation_id}/refuse-waiting",
                       data={"csrf": csrf.group(1), "reason": ""}, follow_redirects=False)
    assert empty.status_code == 422
    done = staff.post(f"/studio/recording/invitations/{invitation_id}/refuse-waiting",
                      data={"csrf": csrf.group(1), "reason": "Đường dẫn bị lộ, bản ghi không rõ"},
                      follow_redirects=False)
    assert done.status_code == 303 and "refused=2" in done.headers["location"]
    assert "Đã không nhận 2 bản" in staff.get(done.headers["location"]).text
    assert staff.get("/studio/recording?refused=<b>x</b>").text.count("<b>x</b>") == 0
    with campaign.database.read() as db:
        states = sorted(t.status for t in db.scalars(select(Take)))
    assert states == ["in_review", "rejected", "rejected"]
    assert "Đường dẫn bị lộ" in noisy[0].html()
    assert len(list((campaign.settings.audio_dir / "takes").iterdir())) == 2  # the honest take's only


def test_two_speakers_of_a_language_at_once_are_offered_different_messages(campaign: Campaign) -> None:
    first = campaign.joined(campaign.invite(keys=[GREET, FREE]), phone_number="0911111111")
    second = campaign.joined(campaign.invite(keys=[GREET, FREE]), phone_number="0922222222")
    nung = campaign.joined(campaign.invite(language="nut", keys=[GREET, FREE]), phone_number="0933333333")
    assert {first.offer()["key"], second.offer()["key"]} == {GREET, FREE}
    assert nung.offer()["key"] == first.offer()["key"]  # another language's speakers do not count
