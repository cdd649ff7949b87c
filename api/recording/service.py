"""Volunteer recording: invitations, consent, the next message to record, takes and their review.

A take goes: recorded on a phone → checked and normalised like any clip → encrypted while it waits →
a reviewer who speaks the language accepts it (published: what residents hear, replacing a placeholder)
or rejects it with a reason (the recording deleted). A speaker who withdraws their consent has every
take of theirs unpublished and deleted, and the clips they replaced come back.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.audio import service as audio
from api.audio.models import AudioClip
from api.audit.service import record
from api.consent.models import Consent
from api.consent.service import notice_fingerprint, record_consent
from api.content.service import message_texts, text_for, text_hash
from api.core.clock import local_today
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import utcnow
from api.core.errors import Conflict, NotFound, PayloadTooLarge
from api.core.rawsql import Raw
from api.core.usage import UsageCount
from api.faq.models import FaqEntry, FaqQuestion
from api.recording.models import RecordingInvitation, Take, Volunteer
from api.staff.models import StaffUser
from common.errors import InvalidInput
from common.identity import normalize_name, normalize_phone
from common.vocabulary import LANGUAGES
from common.wording import placeholders
from vntext import nfc

# The notices a volunteer agrees to, editable by staff like every message (bot/texts/recording.yml).
NOTICES = {"record": "recording_notice_speaker", "review": "recording_notice_reviewer"}
# What a volunteer's consent is to: their voice published (a speaker), their name and phone kept (a reviewer).
CONSENT_PURPOSES = {"record": "voice", "review": "voice_review"}
MAX_DAYS = 90
MAX_PEOPLE = 200
# Shorter than this, the speaker tapped twice before saying anything.
MIN_TAKE_SECONDS = 0.8
# Which messages are listened to most is read over this many days of plays.
PLAYS_DAYS = 90
_TAKES_DIR = "takes"
# What may wait for a reviewer: enough for a good day's recording, not for a script to fill a disk.
MAX_WAITING_PER_VOLUNTEER = 60
MAX_WAITING_PER_INVITATION = 300
# A take's upload: three minutes of a phone's recording at its default bitrate, and the form around it.
TAKE_MAX_BYTES = 4 * 1024 * 1024


class InvitationUnusable(NotFound):
    # One answer for a link never issued, expired or withdrawn: the link's holder needs a new one either way.
    code = "invitation_unusable"
    message = ("Đường dẫn ghi âm này không còn dùng được (đã hết hạn hoặc đã bị thu hồi). "
               "Xin hỏi cán bộ đã gửi cho anh/chị một đường dẫn mới.")


class InvitationFull(Conflict):
    code = "invitation_full"
    message = "Đường dẫn này đã đủ số người tham gia. Xin hỏi cán bộ một đường dẫn mới."


class ConsentRequired(InvalidInput):
    code = "consent_required"
    message = "Xin đọc và đánh dấu đồng ý với thông báo trước khi bắt đầu."


class NotJoined(NotFound):
    code = "volunteer_unknown"
    message = "Chưa nhận ra anh/chị trên điện thoại này. Xin mở lại đường dẫn và điền tên, số điện thoại."


class KeyNotOffered(InvalidInput):
    code = "recording_key_unknown"
    message = "Câu này không cần thu âm bằng ngôn ngữ này. Xin tải lại trang để nhận câu khác."


class TakeOutdated(Conflict):
    code = "take_outdated"
    message = "Lời tiếng Việt của câu này vừa được sửa. Xin đọc lời mới rồi thu lại."


class TakeNotFound(NotFound):
    code = "take_not_found"
    message = "Không tìm thấy bản thu này."


class TakeDecided(Conflict):
    code = "take_already_reviewed"
    message = "Bản thu này đã được duyệt hoặc không còn chờ duyệt."


class ReasonRequired(InvalidInput):
    code = "reason_required"
    message = "Xin ghi lý do không nhận (ví dụ: đọc sai chữ, nhiều tiếng ồn) để người thu biết sửa."


class UnknownKeys(InvalidInput):
    code = "recording_keys_unknown"
    message = ("Có mã tin nhắn không thu âm được (không có, hoặc có chỗ điền thông tin riêng của người dân). "
               "Xin xem danh sách mã ở trang Bản ghi âm.")


class InvitationNotFound(NotFound):
    code = "invitation_not_found"
    message = "Không có lời mời này."


class TakeTooLarge(PayloadTooLarge):
    code = "take_too_large"
    message = "Bản ghi quá lớn (tối đa 3 phút). Xin ghi ngắn hơn."


class TooManyWaiting(Conflict):
    code = "takes_waiting_full"
    message = ("Đã có nhiều bản ghi đang chờ người biết tiếng nghe duyệt. "
               "Xin chờ duyệt xong rồi thu tiếp; bản vừa ghi chưa được gửi.")


class SameMessageAccepted(Conflict):
    code = "take_same_message_accepted"
    message = "Vừa có người nhận một bản khác của câu này. Xin tải lại trang để xem."


class BadInvitation(InvalidInput):
    code = "invitation_invalid"
    message = "Lời mời chưa đúng: xin chọn ngôn ngữ, mục đích, số ngày (1–90) và số người (1–200)."


# --- invitations ------------------------------------------------------------------------------------

def _token_hash(token: str) -> str:
    # A random 192-bit secret needs no key: its plain hash cannot be reversed, and a key rotation, which
    # cannot see the tokens, leaves every live link working.
    return hashlib.sha256(("recording-invitation:" + token).encode()).hexdigest()


def create_invitation(db: Session, crypto: Crypto, actor: StaffUser, *, purpose: str, language: str, days: int,
                      max_people: int, label: str = "", keys: list[str] | None = None,
                      ) -> tuple[RecordingInvitation, str]:
    """A new invitation and the secret its link carries (shown once; only its hash is kept)."""
    if (purpose not in NOTICES or language not in LANGUAGES or language == "vi" and purpose == "review"
            or not 1 <= days <= MAX_DAYS or not 1 <= max_people <= MAX_PEOPLE):
        raise BadInvitation()
    wanted = list(dict.fromkeys(keys or []))
    unknown = sorted(set(wanted) - set(recordable_texts(db)))
    if unknown:
        raise UnknownKeys(keys=unknown[:10])
    token = secrets.token_urlsafe(24)
    invitation = RecordingInvitation(
        token_hash=_token_hash(token), purpose=purpose, language=language, keys=" ".join(wanted),
        label=nfc(label).strip()[:120], max_people=max_people, expires_at=utcnow() + timedelta(days=days),
        created_by=actor.username)
    db.add(invitation)
    db.flush()
    record(db, actor=actor, action="recording.invite", entity="recording_invitation", entity_id=invitation.id,
           purpose=purpose, language=language, days=days, keys=len(wanted))
    return invitation, token


def revoke_invitation(db: Session, actor: StaffUser, invitation_id: int) -> None:
    invitation = db.get(RecordingInvitation, invitation_id)
    if invitation is None:
        raise InvitationNotFound()
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        record(db, actor=actor, action="recording.revoke", entity="recording_invitation", entity_id=invitation.id)


def invitations(db: Session, limit: int = 200) -> list[tuple[RecordingInvitation, int]]:
    """The latest invitations, each with how many people joined through it."""
    joined = dict(db.execute(select(Volunteer.invitation_id, func.count(Volunteer.id))
                             .group_by(Volunteer.invitation_id)).all())
    return [(invitation, joined.get(invitation.id, 0)) for invitation in db.scalars(
        select(RecordingInvitation).order_by(RecordingInvitation.id.desc()).limit(limit))]


def usable(invitation: RecordingInvitation | None, now: datetime) -> bool:
    return invitation is not None and invitation.revoked_at is None and invitation.expires_at > now


def open_invitation(db: Session, token: str, *, ended_ok: bool = False) -> RecordingInvitation:
    """The invitation a link's secret opens, if it is still usable; with `ended_ok` also one expired or
    revoked (its volunteers may still see their counts and withdraw)."""
    invitation = None
    if 16 <= len(token) <= 64 and token.isascii():
        invitation = db.scalar(select(RecordingInvitation).where(RecordingInvitation.token_hash == _token_hash(token)))
    if invitation is None or not ended_ok and not usable(invitation, utcnow()):
        raise InvitationUnusable()
    return invitation


# --- volunteers -----------------------------------------------------------------------------------------

def notice_text(db: Session, purpose: str) -> str:
    key = NOTICES[purpose]
    return text_for(message_texts(db, [key]), key, "vi")


def join(db: Session, crypto: Crypto, invitation: RecordingInvitation, *, name: str, phone: str, agreed: bool,
         notice_version: str) -> tuple[Volunteer, str]:
    """The person who opened `invitation` and agreed to its notice; returns them and the secret their
    browser keeps (only its hash is stored). The notice they agreed to is the one shown now: a page
    loaded before staff changed its words is asked to agree again."""
    if not agreed:
        raise ConsentRequired()
    shown = notice_fingerprint(notice_text(db, invitation.purpose))
    if notice_version != shown:
        raise ConsentRequired(reason="notice_changed")
    clean_name, clean_phone = normalize_name(name), normalize_phone(phone)
    # Locked while counting: people joining at once cannot all take the last place.
    db.scalar(select(RecordingInvitation.id).where(RecordingInvitation.id == invitation.id).with_for_update())
    taken = db.scalar(select(func.count(Volunteer.id)).where(Volunteer.invitation_id == invitation.id))
    if (taken or 0) >= invitation.max_people:
        raise InvitationFull()
    secret = secrets.token_urlsafe(32)
    volunteer = Volunteer(invitation_id=invitation.id, role=invitation.purpose, language=invitation.language,
                          name_enc=crypto.encrypt(clean_name), phone_enc=crypto.encrypt(clean_phone),
                          subject_hash="", secret_hash=secret_hash(secret))
    db.add(volunteer)
    db.flush()
    volunteer.subject_hash = consent_subject(crypto, volunteer)
    record_consent(Raw(db.connection()), subject_hash=volunteer.subject_hash, resident_id=None,
                   purpose=CONSENT_PURPOSES[invitation.purpose], notice_version=shown, channel="web", now=utcnow())
    record(db, actor=None, actor_label=f"volunteer:{volunteer.id}", action="recording.join", entity="volunteer",
           entity_id=volunteer.id, invitation=invitation.id, role=invitation.purpose, notice=shown)
    return volunteer, secret


def consent_subject(crypto: Crypto, volunteer: Volunteer) -> str:
    """What a volunteer's consent is filed under: this volunteer (their phone is typed, never verified, so
    it must not tie anyone's consent or recordings to anyone else's)."""
    return crypto.lookup_hash(f"recording-volunteer:{volunteer.id}")


def secret_hash(secret: str) -> str:
    # A random 256-bit secret needs no key or stretching: its plain hash cannot be reversed.
    return hashlib.sha256(secret.encode()).hexdigest()


def volunteer_of(db: Session, invitation: RecordingInvitation, secret: str | None) -> Volunteer | None:
    """The volunteer this browser is, under this invitation, unless they withdrew."""
    if not secret or len(secret) > 100:
        return None
    volunteer = db.scalar(select(Volunteer).where(Volunteer.secret_hash == secret_hash(secret)))
    if volunteer is None or volunteer.invitation_id != invitation.id or volunteer.withdrawn_at is not None:
        return None
    return volunteer


def display_name(crypto: Crypto, volunteer: Volunteer) -> str:
    """The volunteer's name; empty once they withdrew (it is erased then)."""
    return crypto.decrypt(volunteer.name_enc) if volunteer.name_enc else ""


# --- what to record ---------------------------------------------------------------------------------------

def recordable_texts(db: Session) -> dict[str, str]:
    """Messages and FAQ answers a speaker can record, by key: what the coverage matrix lists, less the
    texts with values filled in per resident (a recording cannot say someone's booking code)."""
    return {key: text for key, _kind, text, _cells in audio.coverage(db) if not placeholders(text)}


@dataclass(frozen=True)
class Offer:
    key: str
    text: str
    source_hash: str
    note: str
    state: str  # the language's cell in the coverage matrix: missing | stale | placeholder
    current_url: str | None  # what residents hear now in this language (a placeholder or an older text's)
    left: int  # messages still to record after this one


def plays(db: Session) -> Counter[str]:
    """How often each message's recordings were played lately (any language): demand, to record first."""
    since = local_today() - timedelta(days=PLAYS_DAYS)
    rows = db.execute(select(UsageCount.key, func.sum(UsageCount.count)).where(
        UsageCount.kind == "clip_play", UsageCount.day >= since).group_by(UsageCount.key))
    return Counter({key: int(count) for key, count in rows})


def in_review_keys(db: Session, language: str) -> set[str]:
    return set(db.scalars(select(Take.key).where(Take.language == language, Take.status == "in_review")))


def wanted(db: Session, language: str, keys: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(key, text, state) of what `language` still needs, most-played first: missing recordings, recordings
    of an older text (stale) and generated placeholders; a message already waiting in review is not asked
    for twice."""
    waiting = in_review_keys(db, language)
    rows = [(key, text, cells[language]) for key, _kind, text, cells in audio.coverage(db)
            if cells[language] in ("missing", "stale", "placeholder") and not placeholders(text)
            and key not in waiting and (keys is None or key in keys)]
    demand = plays(db)
    order = {"stale": 0, "missing": 1, "placeholder": 2}
    return sorted(rows, key=lambda row: (-demand[row[0]], order[row[2]], row[0]))


def still_wanted(db: Session, language: str, keys: list[str] | None = None) -> dict[str, str]:
    """The texts a take in `language` may be filed for: not recorded yet in it (missing, stale, a placeholder;
    another's take in review does not stop a second), of the invitation's keys if it names any."""
    return {key: text for key, _kind, text, cells in audio.coverage(db)
            if cells[language] != "recorded" and not placeholders(text) and (keys is None or key in keys)}


def next_offer(db: Session, settings: Settings, volunteer: Volunteer, invitation: RecordingInvitation,
               audio_base: str) -> Offer | None:
    """The message this volunteer should record next, or None when there is nothing left for them."""
    skipped = set(volunteer.skipped.split())
    keys = invitation.keys.split() or None
    rows = [row for row in wanted(db, volunteer.language, keys) if row[0] not in skipped]
    if not rows:
        return None
    key, text, state = rows[0]
    clip = db.scalar(select(AudioClip).where(AudioClip.key == key, AudioClip.language == volunteer.language,
                                             AudioClip.active.is_(True)))
    return Offer(key=key, text=text, source_hash=text_hash(text), note=meaning_note(db, key), state=state,
                 current_url=f"{audio_base}/{clip.mp3_name}" if clip else None, left=len(rows) - 1)


def meaning_note(db: Session, key: str) -> str:
    """What the speaker is told about a text's meaning: an FAQ answer's question; for the assistant's own
    messages, the campaign's general advice (the page says it)."""
    question = db.scalar(select(FaqQuestion.text).join(FaqEntry).where(FaqEntry.key == key)
                         .order_by(FaqQuestion.id).limit(1))
    return question or ""


def skip(db: Session, volunteer: Volunteer, key: str) -> None:
    if key not in recordable_texts(db):
        raise KeyNotOffered()
    skipped = volunteer.skipped.split()
    if key not in skipped:
        # Bounded: a list of every key at most.
        volunteer.skipped = " ".join([*skipped, key])


# --- takes ------------------------------------------------------------------------------------------------

def _take_path(settings: Settings, stem: str, kind: str) -> str:
    return str(settings.audio_dir / _TAKES_DIR / f"{stem}.{kind}.enc")


def submit_take(db: Session, settings: Settings, crypto: Crypto, volunteer: Volunteer, *, key: str, source_hash: str,
                upload_id: str, recording: audio.Normalised) -> Take:
    """Files a normalised take for review. The same upload again (a retry after a lost answer) is the same
    take; a take of a text that changed meanwhile is refused, so nobody publishes words no longer meant; so
    is one of a message the invitation does not ask for or the language already has."""
    person: Volunteer | None = _locked(db, Volunteer, volunteer.id)
    if person is None or person.withdrawn_at is not None:
        raise NotJoined()
    existing = db.scalar(select(Take).where(Take.volunteer_id == person.id, Take.upload_id == upload_id))
    if existing is not None:
        return existing
    invitation = db.get(RecordingInvitation, person.invitation_id)
    if not usable(invitation, utcnow()):
        raise InvitationUnusable()
    assert invitation is not None
    texts = still_wanted(db, person.language, invitation.keys.split() or None)
    if key not in texts:
        raise KeyNotOffered()
    if text_hash(texts[key]) != source_hash:
        raise TakeOutdated()
    waiting_mine = db.scalar(select(func.count(Take.id)).where(Take.volunteer_id == person.id,
                                                               Take.status == "in_review"))
    waiting_all = db.scalar(select(func.count(Take.id)).join(Volunteer).where(
        Volunteer.invitation_id == invitation.id, Take.status == "in_review"))
    if (waiting_mine or 0) >= MAX_WAITING_PER_VOLUNTEER or (waiting_all or 0) >= MAX_WAITING_PER_INVITATION:
        raise TooManyWaiting()
    take = Take(volunteer_id=person.id, upload_id=upload_id, key=key, language=person.language,
                source_hash=source_hash, stem=secrets.token_hex(16), duration_ms=int(recording.seconds * 1000))
    db.add(take)
    db.flush()
    folder = settings.audio_dir / _TAKES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    # Written once the row exists; removed again if the transaction does not commit.
    files = [folder / f"{take.stem}.{kind}.enc" for kind in ("mp3", "ogg")]
    _on_rollback(db, lambda: _unlink(files))
    for path, data in zip(files, (recording.mp3, recording.ogg), strict=True):
        path.write_bytes(crypto.fernet.encrypt(data))
    record(db, actor=None, actor_label=f"volunteer:{person.id}", action="recording.take", entity="take",
           entity_id=take.id, key=key, language=person.language, seconds=round(recording.seconds, 1))
    return take


def _unlink(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _on_commit(db: Session, work: Callable[[], None]) -> None:
    """Deletes files only once the change that stops them being needed is kept: a failed commit leaves
    a take or a clip with its recording."""
    event.listen(db, "after_commit", lambda _session: work(), once=True)


def _on_rollback(db: Session, work: Callable[[], None]) -> None:
    event.listen(db, "after_rollback", lambda _session: work(), once=True)


def existing_take(db: Session, volunteer: Volunteer, upload_id: str) -> tuple[int, str] | None:
    """(id, status) of the take this upload already made, if a retry brings it again."""
    found = db.execute(select(Take.id, Take.status).where(Take.volunteer_id == volunteer.id,
                                                        Take.upload_id == upload_id)).first()
    return (found[0], found[1]) if found else None


def take_for_listener(db: Session, volunteer: Volunteer, take_id: int) -> Take:
    """A take this volunteer may hear: their own, or, for a reviewer, one of their language by someone else."""
    take = db.get(Take, take_id)
    if take is None:
        raise TakeNotFound()
    if take.volunteer_id != volunteer.id and (volunteer.role != "review" or take.language != volunteer.language):
        raise TakeNotFound()
    return take


def take_audio(settings: Settings, crypto: Crypto, take: Take, kind: str = "mp3") -> bytes:
    """A take's recording, decrypted, for its reviewer or its speaker; gone once rejected or withdrawn."""
    if take.status != "in_review" or kind not in ("mp3", "ogg"):
        raise TakeNotFound()
    try:
        with open(_take_path(settings, take.stem, kind), "rb") as handle:
            return crypto.fernet.decrypt(handle.read())
    except FileNotFoundError:
        raise TakeNotFound() from None


def _delete_take_files(db: Session, settings: Settings, take: Take) -> None:
    files = [settings.audio_dir.joinpath(_TAKES_DIR, f"{take.stem}.{kind}.enc") for kind in ("mp3", "ogg")]
    _on_commit(db, lambda: _unlink(files))


@dataclass(frozen=True)
class Reviewer:
    """Who decides: a staff editor (any language), or an invited reviewer of one language."""

    label: str
    staff: StaffUser | None = None
    volunteer: Volunteer | None = None

    @classmethod
    def of_staff(cls, user: StaffUser) -> Reviewer:
        return cls(label=user.username, staff=user)

    @classmethod
    def of_volunteer(cls, volunteer: Volunteer) -> Reviewer:
        return cls(label=f"volunteer:{volunteer.id}", volunteer=volunteer)


def _locked(db: Session, model: type[Volunteer] | type[Take], row_id: int) -> Any:
    """A row re-read under a lock held until the transaction ends. Always the volunteer before their takes:
    a decision, a new take and a withdrawal of the same person then wait for each other in one order."""
    return db.scalar(select(model).where(model.id == row_id).with_for_update()
                     .execution_options(populate_existing=True))


def _take_for_review(db: Session, reviewer: Reviewer, take_id: int) -> Take:
    found = db.get(Take, take_id)
    if found is None or reviewer.volunteer is not None and found.language != reviewer.volunteer.language:
        raise TakeNotFound()
    speaker: Volunteer | None = _locked(db, Volunteer, found.volunteer_id)
    # Locked until the decision is written: two reviewers pressing at once decide once, the other is told.
    take: Take | None = _locked(db, Take, take_id)
    if take is None or speaker is None or speaker.withdrawn_at is not None or take.status != "in_review":
        raise TakeDecided()
    return take


def review_queue(db: Session, language: str | None) -> list[tuple[Take, bool]]:
    """Takes waiting for a decision (of one language, or all), oldest first, each with whether its text
    changed since it was recorded (such a take can only be refused: it would never be played)."""
    query = select(Take).where(Take.status == "in_review").order_by(Take.id)
    if language is not None:
        query = query.where(Take.language == language)
    takes = list(db.scalars(query.limit(200)))
    texts = recordable_texts(db) if takes else {}
    return [(take, take.key not in texts or text_hash(texts[take.key]) != take.source_hash) for take in takes]


def accept(db: Session, settings: Settings, crypto: Crypto, reviewer: Reviewer, take_id: int) -> AudioClip:
    """Publishes a take: from now on it is what residents of its language hear for its message."""
    take = _take_for_review(db, reviewer, take_id)
    texts = recordable_texts(db)
    if take.key not in texts or text_hash(texts[take.key]) != take.source_hash:
        raise TakeOutdated(message="Lời tiếng Việt đã đổi sau khi thu: bản này không phát được nữa. "
                                   "Xin chọn “Không nhận” để người nói thu lại lời mới.")
    recording = audio.Normalised(mp3=take_audio(settings, crypto, take, "mp3"),
                                 ogg=take_audio(settings, crypto, take, "ogg"), seconds=take.duration_ms / 1000)
    replaced = db.scalar(select(AudioClip.id).where(AudioClip.key == take.key, AudioClip.language == take.language,
                                                    AudioClip.active.is_(True)))
    try:
        clip = audio.publish(db=db, settings=settings, actor=reviewer.staff, key=take.key, language=take.language,
                             audio=recording, source_hash=take.source_hash,
                             uploaded_by=f"volunteer:{take.volunteer_id}")
    except IntegrityError:
        # Another take of the same message was accepted at the same moment (one clip per message and language).
        raise SameMessageAccepted() from None
    take.status, take.clip_id, take.replaced_clip_id = "accepted", clip.id, replaced
    take.reviewed_by, take.reviewed_at = reviewer.label, utcnow()
    _delete_take_files(db, settings, take)
    record(db, actor=reviewer.staff, actor_label=None if reviewer.staff else reviewer.label, action="recording.accept",
           entity="take", entity_id=take.id, key=take.key, language=take.language, clip=clip.id)
    return clip


def reject(db: Session, settings: Settings, reviewer: Reviewer, take_id: int, reason: str) -> None:
    """Refuses a take with a reason its speaker reads; the recording is deleted (a refused voice is not kept)
    and the message is offered again."""
    reason = nfc(reason).strip()
    if not 2 <= len(reason) <= 300:
        raise ReasonRequired()
    take = _take_for_review(db, reviewer, take_id)
    take.status, take.reason = "rejected", reason
    take.reviewed_by, take.reviewed_at = reviewer.label, utcnow()
    _delete_take_files(db, settings, take)
    record(db, actor=reviewer.staff, actor_label=None if reviewer.staff else reviewer.label, action="recording.reject",
           entity="take", entity_id=take.id, key=take.key, language=take.language)


def refuse_waiting(db: Session, settings: Settings, actor: StaffUser, invitation_id: int, reason: str) -> int:
    """Refuses every take waiting from one link's volunteers at once (a leaked link a script filled with
    noise): each is deleted and its speaker reads `reason`. Returns how many."""
    reason = nfc(reason).strip()
    if not 2 <= len(reason) <= 300:
        raise ReasonRequired()
    if db.get(RecordingInvitation, invitation_id) is None:
        raise InvitationNotFound()
    refused = 0
    people = select(Volunteer.id).where(Volunteer.invitation_id == invitation_id)
    for take in db.scalars(select(Take).where(Take.volunteer_id.in_(people), Take.status == "in_review")
                           .with_for_update()):
        take.status, take.reason, take.reviewed_by, take.reviewed_at = "rejected", reason, actor.username, utcnow()
        _delete_take_files(db, settings, take)
        refused += 1
    record(db, actor=actor, action="recording.refuse_waiting", entity="recording_invitation", entity_id=invitation_id,
           refused=refused)
    return refused


def withdraw(db: Session, settings: Settings, volunteer: Volunteer) -> int:
    """The speaker takes their consent back: every take of theirs is unpublished or deleted (clips since
    replaced by another's included: their files stay reachable by name), the clip each replaced comes back,
    the consent is stamped withdrawn, and name and phone are erased. Returns how many clips residents were
    hearing and no longer do."""
    now = utcnow()
    person: Volunteer | None = _locked(db, Volunteer, volunteer.id)
    if person is None or person.withdrawn_at is not None:
        return 0
    unpublished = 0
    for take in db.scalars(select(Take).where(Take.volunteer_id == person.id,
                                              Take.status.in_(("in_review", "accepted"))).with_for_update()):
        if take.status == "accepted":
            unpublished += _unpublish(db, settings, take)
        _delete_take_files(db, settings, take)
        take.status = "withdrawn"
    person.withdrawn_at = now
    # Name and phone were kept for credit and contact, which end here; the consent keeps its proof.
    person.name_enc = person.phone_enc = ""
    person.secret_hash = secret_hash(secrets.token_urlsafe(32))
    db.execute(update(Consent).where(Consent.subject_hash == person.subject_hash,
                                     Consent.purpose.in_(CONSENT_PURPOSES.values()),
                                     Consent.withdrawn_at.is_(None)).values(withdrawn_at=now))
    record(db, actor=None, actor_label=f"volunteer:{person.id}", action="recording.withdraw", entity="volunteer",
           entity_id=person.id, unpublished=unpublished)
    return unpublished


def _unpublish(db: Session, settings: Settings, take: Take) -> int:
    clip = db.get(AudioClip, take.clip_id) if take.clip_id else None
    if clip is None:
        return 0
    was_playing = clip.active
    clip.active = False
    db.flush()  # one active clip per message and language, at every step
    replaced = db.get(AudioClip, take.replaced_clip_id) if take.replaced_clip_id else None
    someone_else = db.scalar(select(AudioClip.id).where(AudioClip.key == clip.key, AudioClip.language == clip.language,
                                                        AudioClip.active.is_(True)))
    # What residents heard before comes back, unless it too was a volunteer's voice or another took its place.
    if (was_playing and replaced is not None and someone_else is None
            and not replaced.uploaded_by.startswith("volunteer:")):
        replaced.active = True
    files = [settings.audio_dir / name for name in (clip.mp3_name, clip.ogg_name)
             if db.scalar(select(func.count(AudioClip.id)).where(
                 (AudioClip.mp3_name == name) | (AudioClip.ogg_name == name), AudioClip.id != clip.id)) == 0]
    _on_commit(db, lambda: _unlink(files))
    return 1 if was_playing else 0


# --- counts -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tally:
    accepted: int = 0
    in_review: int = 0
    rejected: int = 0


def tally(db: Session, volunteer: Volunteer) -> Tally:
    """A speaker's takes by state."""
    counts = dict(db.execute(select(Take.status, func.count(Take.id)).where(
        Take.volunteer_id == volunteer.id).group_by(Take.status)).all())
    return Tally(accepted=counts.get("accepted", 0), in_review=counts.get("in_review", 0),
                 rejected=counts.get("rejected", 0))


def latest_rejections(db: Session, volunteer: Volunteer, limit: int = 5) -> list[Take]:
    """The speaker's most recent refused takes, so they read why."""
    return list(db.scalars(select(Take).where(Take.volunteer_id == volunteer.id, Take.status == "rejected")
                           .order_by(Take.id.desc()).limit(limit)))


@dataclass(frozen=True)
class LanguageCampaign:
    language: str
    recorded: int
    in_review: int
    missing: int
    stale: int
    placeholder: int
    total: int


@dataclass(frozen=True)
class Speaker:
    volunteer_id: int
    language: str
    role: str
    name: str
    accepted: int
    in_review: int
    rejected: int
    withdrawn: bool
    joined_at: datetime


def campaign(db: Session, crypto: Crypto) -> tuple[list[LanguageCampaign], list[Speaker]]:
    """Per minority language, where its recordings stand; and the people taking part, with their takes."""
    rows = [(key, cells) for key, _kind, text, cells in audio.coverage(db) if not placeholders(text)]
    waiting: dict[str, set[str]] = {}
    for key, language in db.execute(select(Take.key, Take.language).where(Take.status == "in_review")):
        waiting.setdefault(language, set()).add(key)
    languages = []
    for language in LANGUAGES[1:]:
        states = Counter(cells[language] for _key, cells in rows)
        review = sum(1 for key, cells in rows if key in waiting.get(language, ()) and cells[language] != "recorded")
        languages.append(LanguageCampaign(
            language=language, recorded=states["recorded"], in_review=review, missing=states["missing"],
            stale=states["stale"], placeholder=states["placeholder"], total=len(rows)))
    counts: dict[int, Counter[str]] = {}
    for volunteer_id, status, count in db.execute(select(Take.volunteer_id, Take.status, func.count(Take.id))
                                                   .group_by(Take.volunteer_id, Take.status)):
        counts.setdefault(volunteer_id, Counter())[status] = count
    speakers = [Speaker(volunteer_id=v.id, language=v.language, role=v.role, name=display_name(crypto, v),
                        accepted=counts.get(v.id, Counter())["accepted"],
                        in_review=counts.get(v.id, Counter())["in_review"],
                        rejected=counts.get(v.id, Counter())["rejected"], withdrawn=v.withdrawn_at is not None,
                        joined_at=v.created_at)
                for v in db.scalars(select(Volunteer).order_by(Volunteer.language, Volunteer.id))]
    return languages, speakers


def missing_sheet(db: Session, language: str) -> list[tuple[str, str, str]]:
    """(key, text, state) of what `language` still needs, for a printed sheet a speaker reads from."""
    return wanted(db, language)


def rotate_keys(db: Session, settings: Settings, crypto: Crypto) -> dict[str, str]:
    """Re-encrypts volunteers' names, phones and waiting takes with the current key and recomputes what their
    consents are filed under (`crypto` reads the old data too: see api.privacy.service.rotate_keys).
    Returns {old subject: new subject} for those consents."""
    moved: dict[str, str] = {}
    for volunteer in db.scalars(select(Volunteer)):
        moved[volunteer.subject_hash] = volunteer.subject_hash = consent_subject(crypto, volunteer)
        if volunteer.phone_enc:
            volunteer.phone_enc = crypto.reencrypt(volunteer.phone_enc)
            volunteer.name_enc = crypto.reencrypt(volunteer.name_enc)
    for take in db.scalars(select(Take).where(Take.status == "in_review")):
        for kind in ("mp3", "ogg"):
            path = settings.audio_dir / _TAKES_DIR / f"{take.stem}.{kind}.enc"
            if path.exists():
                partial = path.with_suffix(".part")
                partial.write_bytes(crypto.fernet.rotate(path.read_bytes()))
                partial.replace(path)
    return moved
