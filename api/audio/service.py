"""The audio library: recordings per (message or FAQ key, language), checked, normalised, versioned."""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audio.media import AudioTooLong, probe, transcode
from api.audio.models import AudioClip
from api.audit.service import record
from api.content.models import BotMessage
from api.content.service import text_hash, vietnamese_text, vietnamese_texts
from api.core.config import Settings
from api.core.errors import NotFound, PayloadTooLarge
from api.staff.models import StaffUser
from common.errors import InvalidInput
from common.vocabulary import LANGUAGES
from common.wording import domain_keys

FILE_NAME = re.compile(r"^(tts-)?[a-f0-9]{24,64}\.(mp3|ogg)$")


class AudioTooLarge(PayloadTooLarge):
    code = "audio_too_large"
    message = "Tệp âm thanh quá lớn (tối đa 15 MB). Xin ghi âm ngắn hơn hoặc nén lại."


class AudioKeyUnknown(NotFound):
    code = "audio_key_unknown"
    message = "Không có tin nhắn hay câu hỏi thường gặp nào mang mã này để gắn bản ghi."


class ClipNotFound(NotFound):
    code = "clip_not_found"
    message = "Không tìm thấy bản ghi âm."


def store_upload(*, db: Session, settings: Settings, actor: StaffUser | None, key: str, language: str, data: bytes,
                 placeholder: bool = False) -> AudioClip:
    """Checks the bytes (size, that it is sound, length), normalises loudness, keeps MP3 + OGG. Nothing
    is stored, on disk or in the database, for a file that fails a check."""
    if language not in LANGUAGES:
        raise InvalidInput("Ngôn ngữ không được hỗ trợ.", field="language", allowed=list(LANGUAGES))
    if len(data) > settings.audio_max_bytes:
        raise AudioTooLarge(max_bytes=settings.audio_max_bytes)
    source_text = vietnamese_text(db, key)
    if source_text is None:
        raise AudioKeyUnknown(key=key)
    if not data:
        raise InvalidInput("Tệp rỗng.", field="file")
    stem = hashlib.sha256(data).hexdigest()[:32]
    settings.audio_dir.mkdir(parents=True, exist_ok=True)
    mp3, ogg = settings.audio_dir / f"{stem}.mp3", settings.audio_dir / f"{stem}.ogg"
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "upload"
        source.write_bytes(data)
        seconds = probe(source).seconds
        if seconds > settings.audio_max_seconds:
            raise AudioTooLong(seconds=round(seconds), max_seconds=settings.audio_max_seconds)
        if not (mp3.exists() and ogg.exists()):
            transcode(source, mp3, ogg)
    for old in db.scalars(select(AudioClip).where(AudioClip.key == key, AudioClip.language == language,
                                                   AudioClip.active.is_(True))):
        old.active = False
    clip = AudioClip(key=key, language=language, mp3_name=mp3.name, ogg_name=ogg.name,
                     duration_ms=int(seconds * 1000), source_hash=text_hash(source_text), placeholder=placeholder,
                     uploaded_by=actor.username if actor else "system")
    db.add(clip)
    db.flush()
    record(db, actor=actor, action="audio.upload", entity="audio", entity_id=f"{key}/{language}", clip=clip.id,
           seconds=round(seconds, 1), placeholder=placeholder)
    return clip


def remove_clip(*, db: Session, actor: StaffUser, clip_id: int) -> None:
    clip = db.get(AudioClip, clip_id)
    if clip is None or not clip.active:
        raise ClipNotFound()
    clip.active = False
    record(db, actor=actor, action="audio.remove", entity="audio", entity_id=f"{clip.key}/{clip.language}",
           clip=clip.id)


def current_hashes(db: Session, keys: Collection[str] | None = None) -> dict[str, str]:
    return {key: text_hash(text) for key, text in vietnamese_texts(db, keys).items()}


def active_clips(db: Session, keys: Collection[str] | None = None) -> list[AudioClip]:
    query = select(AudioClip).where(AudioClip.active.is_(True)).order_by(AudioClip.key)
    if keys is not None:
        query = query.where(AudioClip.key.in_(keys))
    return list(db.scalars(query))


@dataclass(frozen=True)
class Playable:
    clip: AudioClip
    language: str


def playable_clips(db: Session, keys: Collection[str] | None = None) -> dict[tuple[str, str], AudioClip]:
    """Clips (of every key, or of `keys`) that still match their text. A stale clip may announce an
    old policy, so residents never hear it; staff see it flagged until it is re-recorded."""
    hashes = current_hashes(db, keys)
    return {(c.key, c.language): c for c in active_clips(db, keys) if hashes.get(c.key) == c.source_hash}


def clip_for(db: Session, key: str, language: str) -> Playable | None:
    return pick(playable_clips(db, [key]), key, language)


def pick(clips: dict[tuple[str, str], AudioClip], key: str, language: str) -> Playable | None:
    """The resident's language if recorded, else Vietnamese (the caller tells the resident so)."""
    for wanted in dict.fromkeys((language, "vi")):
        clip = clips.get((key, wanted))
        if clip is not None:
            return Playable(clip, wanted)
    return None


def coverage(db: Session) -> list[tuple[str, str, str, dict[str, str]]]:
    """(key, kind, Vietnamese text, {language: state}) for every message and FAQ answer."""
    # What is played as audio: the assistant's own responses (the domain's keys) and FAQ answers. The
    # other keyed texts — buttons, parts of sentences, refusals, page strings — are never spoken alone.
    messages = set(db.scalars(select(BotMessage.key).where(BotMessage.language == "vi")))
    spoken = domain_keys()
    texts = {key: text for key, text in vietnamese_texts(db).items() if key not in messages or key in spoken}
    hashes = {key: text_hash(text) for key, text in texts.items()}
    clips = {(c.key, c.language): c for c in active_clips(db)}
    rows = []
    for key in sorted(texts, key=lambda k: (k in messages, k)):
        cells = {}
        for language in LANGUAGES:
            clip = clips.get((key, language))
            if clip is None:
                cells[language] = "missing"
            elif clip.source_hash != hashes[key]:
                cells[language] = "stale"
            else:
                cells[language] = "placeholder" if clip.placeholder else "recorded"
        rows.append((key, "message" if key in messages else "faq", texts[key], cells))
    return rows


def language_of_file(db: Session, name: str) -> str:
    """The language a served file speaks: its clip's, or Vietnamese for synthesised speech."""
    if name.startswith("tts-"):
        return "vi"
    language = db.scalar(select(AudioClip.language).where(
        (AudioClip.mp3_name == name) | (AudioClip.ogg_name == name)).limit(1))
    return language or "vi"


def file_path(settings: Settings, name: str) -> Path:
    if not FILE_NAME.match(name):
        raise ClipNotFound()
    path = settings.audio_dir / name
    if not path.is_file():
        raise ClipNotFound()
    return path


def content_version(db: Session) -> str:
    """Changes whenever a published text or an audio clip changes: the assistant's cache key."""
    parts = [
        db.execute(select(func.count(BotMessage.id), func.max(BotMessage.updated_at))).one(),
        db.execute(select(func.count(AudioClip.id), func.max(AudioClip.created_at))
                   .where(AudioClip.active.is_(True))).one(),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
