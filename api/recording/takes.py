"""Takes and their review. A take goes: recorded on a phone → checked and normalised like any clip →
encrypted while it waits → a reviewer who speaks the language accepts it (published: what residents hear,
replacing a placeholder) or refuses it with a reason (the recording deleted). A speaker who withdraws has
every take unpublished and deleted, and the clips they replaced come back."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.audio import service as audio
from api.audio.models import AudioClip
from api.audit.service import record
from api.consent.models import Consent
from api.content.service import text_hash
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import utcnow
from api.core.errors import Conflict, NotFound, PayloadTooLarge
from api.recording.invitations import (
    CONSENT_PURPOSES,
    InvitationNotFound,
    InvitationUnusable,
    NotJoined,
    consent_subject,
    secret_hash,
    usable,
)
from api.recording.models import RecordingInvitation, Take, Volunteer
from api.recording.offers import KeyNotOffered, recordable_texts, still_wanted
from api.staff.models import StaffUser
from common.errors import InvalidInput
from vntext import nfc

# Shorter than this, the speaker tapped twice before saying anything.
MIN_TAKE_SECONDS = 0.8


_TAKES_DIR = "takes"


# What may wait for a reviewer: enough for a good day's recording, not for a script to fill a disk.
MAX_WAITING_PER_VOLUNTEER = 60


MAX_WAITING_PER_INVITATION = 300


# A take's upload: three minutes of a phone's recording at its default bitrate, and the form around it.
TAKE_MAX_BYTES = 4 * 1024 * 1024


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


DECISIONS = ("accept", "reject")


def decide(db: Session, settings: Settings, crypto: Crypto, reviewer: Reviewer, take_id: int, decision: str,
           reason: str = "") -> None:
    """A reviewer's decision as the review pages post it (`decision` one of DECISIONS)."""
    if decision == "accept":
        accept(db, settings, crypto, reviewer, take_id)
    else:
        reject(db, settings, reviewer, take_id, reason)


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
