"""What a volunteer records next: what the coverage matrix lacks in their language (recordings of an older
text, missing ones, placeholders), the most played first, never a text filled in per resident."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audio import service as audio
from api.audio.models import AudioClip
from api.content.service import text_hash
from api.core.clock import local_today
from api.core.config import Settings
from api.core.db import utcnow
from api.core.usage import UsageCount
from api.faq.models import FaqEntry, FaqQuestion
from api.recording.models import RecordingInvitation, Take, Volunteer
from common.errors import InvalidInput
from common.wording import placeholders

# Which messages are listened to most is read over this many days of plays.
PLAYS_DAYS = 90


class KeyNotOffered(InvalidInput):
    code = "recording_key_unknown"
    message = "Câu này không cần thu âm bằng ngôn ngữ này. Xin tải lại trang để nhận câu khác."


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
    # Speakers of one language recording at the same time are spread over the most wanted messages (each
    # starts at their own place among them) instead of all being handed the first and recording it twice.
    peers = list(db.scalars(select(Volunteer.id).join(RecordingInvitation).where(
        Volunteer.language == volunteer.language, Volunteer.role == "record", Volunteer.withdrawn_at.is_(None),
        RecordingInvitation.revoked_at.is_(None), RecordingInvitation.expires_at > utcnow()).order_by(Volunteer.id)))
    place = peers.index(volunteer.id) if volunteer.id in peers else 0
    key, text, state = rows[place % min(len(rows), max(len(peers), 1))]
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


def missing_sheet(db: Session, language: str) -> list[tuple[str, str, str]]:
    """(key, text, state) of what `language` still needs, for a printed sheet a speaker reads from."""
    return wanted(db, language)
