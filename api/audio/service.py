"""The audio library: recordings per (message or FAQ key, language), checked, normalised, versioned."""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audio.media import (
    SILENCE_DB,
    AudioSilent,
    AudioTooLong,
    AudioTooShort,
    AudioUnreadable,
    peak_db,
    probe,
    transcode,
)
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


@dataclass(frozen=True)
class Normalised:
    """A recording once checked and normalised: what every clip is stored as."""

    mp3: bytes
    ogg: bytes
    seconds: float


def normalise(settings: Settings, data: bytes, *, min_seconds: float = 0.0, require_sound: bool = False) -> Normalised:
    """Checks the bytes (size, that it is sound, its length; with `require_sound`, that a voice was
    caught at all) and normalises loudness into MP3 + OGG. Writes nothing outside a temporary folder."""
    if len(data) > settings.audio_max_bytes:
        raise AudioTooLarge(max_bytes=settings.audio_max_bytes)
    if not data:
        raise InvalidInput("Tệp rỗng.", field="file")
    with tempfile.TemporaryDirectory() as tmp:
        source, mp3, ogg = Path(tmp) / "upload", Path(tmp) / "clip.mp3", Path(tmp) / "clip.ogg"
        source.write_bytes(data)
        announced = probe(source).seconds
        if announced > settings.audio_max_seconds:
            raise AudioTooLong(seconds=round(announced), max_seconds=settings.audio_max_seconds)
        if require_sound and peak_db(source, settings.audio_max_seconds) < SILENCE_DB:
            raise AudioSilent()
        transcode(source, mp3, ogg, max_seconds=settings.audio_max_seconds)
        # Measured on what was made: a browser's recording does not announce its length.
        seconds = probe(mp3).seconds
        if seconds > settings.audio_max_seconds:
            raise AudioTooLong(seconds=round(seconds), max_seconds=settings.audio_max_seconds)
        if seconds <= 0:
            raise AudioUnreadable()
        if seconds < min_seconds:
            raise AudioTooShort(seconds=round(seconds, 1))
        return Normalised(mp3=mp3.read_bytes(), ogg=ogg.read_bytes(), seconds=seconds)


def publish(*, db: Session, settings: Settings, actor: StaffUser | None, key: str, language: str, audio: Normalised,
            source_hash: str, placeholder: bool = False, uploaded_by: str | None = None) -> AudioClip:
    """Makes `audio` what residents hear for (key, language): its files under content-hash names, the
    previous clip kept as history. The caller has checked the key and language."""
    stem = hashlib.sha256(audio.mp3 + audio.ogg).hexdigest()[:32]
    settings.audio_dir.mkdir(parents=True, exist_ok=True)
    for name, data in ((f"{stem}.mp3", audio.mp3), (f"{stem}.ogg", audio.ogg)):
        target = settings.audio_dir / name
        if not target.exists():
            partial = target.with_suffix(target.suffix + ".part")
            partial.write_bytes(data)
            partial.replace(target)  # readers never see a half-written file
    for old in db.scalars(select(AudioClip).where(AudioClip.key == key, AudioClip.language == language,
                                                   AudioClip.active.is_(True))):
        old.active = False
    db.flush()  # the old clip steps down before the new one is written (one active per key and language)
    clip = AudioClip(key=key, language=language, mp3_name=f"{stem}.mp3", ogg_name=f"{stem}.ogg",
                     duration_ms=int(audio.seconds * 1000), source_hash=source_hash, placeholder=placeholder,
                     uploaded_by=uploaded_by or (actor.username if actor else "system"))
    db.add(clip)
    db.flush()
    record(db, actor=actor, action="audio.upload", entity="audio", entity_id=f"{key}/{language}", clip=clip.id,
           seconds=round(audio.seconds, 1), placeholder=placeholder)
    return clip


def store_upload(*, db: Session, settings: Settings, actor: StaffUser | None, key: str, language: str, data: bytes,
                 placeholder: bool = False) -> AudioClip:
    """An editor's file: checked and normalised, then published. Nothing is stored, on disk or in the
    database, for a file that fails a check."""
    if language not in LANGUAGES:
        raise InvalidInput("Ngôn ngữ không được hỗ trợ.", field="language", allowed=list(LANGUAGES))
    if len(data) > settings.audio_max_bytes:
        raise AudioTooLarge(max_bytes=settings.audio_max_bytes)
    source_text = vietnamese_text(db, key)
    if source_text is None:
        raise AudioKeyUnknown(key=key)
    audio = normalise(settings, data)
    return publish(db=db, settings=settings, actor=actor, key=key, language=language, audio=audio,
                   source_hash=text_hash(source_text), placeholder=placeholder)


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
    return _matching(active_clips(db, keys), vietnamese_texts(db, keys))


def clips_of_texts(db: Session, texts: Mapping[str, str]) -> dict[tuple[str, str], AudioClip]:
    """`playable_clips` of texts the caller holds already (key → Vietnamese text: the FAQ search's
    answers, read with its index), in one statement instead of three."""
    return _matching(active_clips(db, list(texts)), texts) if texts else {}


def _matching(clips: list[AudioClip], texts: Mapping[str, str]) -> dict[tuple[str, str], AudioClip]:
    hashes = {key: text_hash(text) for key, text in texts.items()}
    return {(c.key, c.language): c for c in clips if hashes.get(c.key) == c.source_hash}


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


def speaker_of_file(db: Session, name: str) -> tuple[str | None, str]:
    """The message key and language a served file speaks: its clip's, or (None, Vietnamese) for
    synthesised speech."""
    if name.startswith("tts-"):
        return None, "vi"
    found = db.execute(select(AudioClip.key, AudioClip.language).where(
        (AudioClip.mp3_name == name) | (AudioClip.ogg_name == name)).limit(1)).first()
    return (found[0], found[1]) if found else (None, "vi")


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
