"""Placeholder clips for the demo: generated speech that says it is a sample, never a real recording.

Native speakers record the real clips; these only show staff and testers how a language's audio
reaches residents. Each is marked `placeholder` and listed as such in the coverage matrix.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import select

from api.audio.media import AudioToolsMissing, AudioUnreadable
from api.audio.models import AudioClip
from api.audio.service import AudioKeyUnknown, store_upload
from api.core.config import Settings
from api.core.db import Database
from common.vocabulary import DEFAULT_LANGUAGE, LANGUAGE_NAMES

log = logging.getLogger(__name__)

DEMO_KEYS = ("utter_greet", "free_of_charge", "what_to_bring")


def _sample(text: str, seconds: float, path: Path) -> bool:
    """Vietnamese speech saying what the sample is (espeak-ng), else a short tone (ffmpeg)."""
    espeak = shutil.which("espeak-ng")
    if espeak:
        done = subprocess.run([espeak, "-v", "vi", "-s", "140", "-w", str(path), "--stdin"], input=text.encode(),
                              capture_output=True, timeout=60, check=False)
        if done.returncode == 0 and path.exists():
            return True
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return False
    done = subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                           f"sine=frequency=440:duration={seconds}", str(path)], capture_output=True, timeout=60,
                          check=False)
    return done.returncode == 0


def seed_placeholder_clips(db: Database, settings: Settings) -> int:
    added = 0
    with tempfile.TemporaryDirectory() as tmp:
        for language, name in LANGUAGE_NAMES.items():
            if language == DEFAULT_LANGUAGE:  # placeholders stand in for the minority languages only
                continue
            for key in DEMO_KEYS:
                with db.read() as session:
                    if session.scalar(select(AudioClip.id).where(
                            AudioClip.key == key, AudioClip.language == language, AudioClip.active.is_(True))):
                        continue
                path = Path(tmp) / f"{language}-{key}.wav"
                text = f"Bản ghi mẫu tiếng {name}. Cần thay bằng bản ghi của người nói tiếng {name}."
                if not _sample(text, 2.0, path):
                    log.warning("no espeak-ng or ffmpeg: demo audio clips skipped")
                    return added
                try:
                    with db.write() as session:
                        store_upload(db=session, settings=settings, actor=None, key=key, language=language,
                                     data=path.read_bytes(), placeholder=True)
                except (AudioUnreadable, AudioToolsMissing, AudioKeyUnknown) as error:
                    # AudioKeyUnknown: the content was not seeded (`seed-content`); nothing to attach to.
                    log.warning("demo clip %s/%s skipped: %s", key, language, error.code)
                    continue
                added += 1
    return added
