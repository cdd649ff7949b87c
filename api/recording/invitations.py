"""Recording invitations and the people who answer them: links (only a hash of their secret kept), the
notice agreed to, volunteers with encrypted name and phone, each its own person (a typed phone is never
verified, so it ties nobody to anybody)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.consent.service import notice_fingerprint, record_consent
from api.content.service import message_texts, text_for
from api.core.crypto import Crypto
from api.core.db import utcnow
from api.core.errors import Conflict, NotFound
from api.core.rawsql import Raw
from api.recording.models import RecordingInvitation, Volunteer
from api.recording.offers import recordable_texts
from api.staff.models import StaffUser
from common.errors import InvalidInput
from common.identity import normalize_name, normalize_phone
from common.vocabulary import LANGUAGES
from vntext import nfc

# The notices a volunteer agrees to, editable by staff like every message (bot/texts/recording.yml).
NOTICES = {"record": "recording_notice_speaker", "review": "recording_notice_reviewer"}


# What a volunteer's consent is to: their voice published (a speaker), their name and phone kept (a reviewer).
CONSENT_PURPOSES = {"record": "voice", "review": "voice_review"}


MAX_DAYS = 90


MAX_PEOPLE = 200


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


class UnknownKeys(InvalidInput):
    code = "recording_keys_unknown"
    message = ("Có mã tin nhắn không thu âm được (không có, hoặc có chỗ điền thông tin riêng của người dân). "
               "Xin xem danh sách mã ở trang Bản ghi âm.")


class InvitationNotFound(NotFound):
    code = "invitation_not_found"
    message = "Không có lời mời này."


class BadInvitation(InvalidInput):
    code = "invitation_invalid"
    message = "Lời mời chưa đúng: xin chọn ngôn ngữ, mục đích, số ngày (1–90) và số người (1–200)."


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
