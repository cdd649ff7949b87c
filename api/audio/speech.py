"""Vietnamese speech for text that has no recording (e.g. a booking confirmation).

gTTS (Google, online) sounds natural; espeak-ng works offline on the server. Results are cached
as files named by a hash of the text, so a text is synthesised once however often it is played.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from api.audio.media import transcode
from api.core.config import Settings
from api.core.errors import ServiceBusy
from vntext import nfc

log = logging.getLogger(__name__)
MAX_TEXT = 1000


class SpeechUnavailable(ServiceBusy):
    code = "speech_unavailable"
    message = "Chưa tạo được giọng đọc lúc này; tin nhắn vẫn gửi bằng chữ."


@dataclass(frozen=True)
class Speech:
    mp3_name: str
    ogg_name: str
    engine: str  # gtts | espeak-ng | cache


class SpeechEngine:
    def __init__(self, settings: Settings) -> None:
        self.directory = settings.audio_dir
        self.online = settings.tts_online
        self.timeout_s = settings.tts_timeout_s
        self.retry_after_s = settings.tts_retry_after_s
        self._offline_until = 0.0
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        # Synthesis takes a core for a fraction of a second: at most two at once, and a caller that
        # cannot get a turn soon is told to go without audio rather than queue behind a flood.
        self._slots = threading.BoundedSemaphore(2)

    def speak(self, text: str) -> Speech:
        text = nfc(text).strip()[:MAX_TEXT]
        stem = "tts-" + hashlib.sha256(("vi\n" + text).encode()).hexdigest()[:32]
        mp3, ogg = self.directory / f"{stem}.mp3", self.directory / f"{stem}.ogg"
        with self._lock_for(stem):  # one synthesis per text even when many chats ask at once
            if mp3.exists() and ogg.exists():
                # Marks the text as still in use: `purge_speech` removes what nobody asked for lately.
                for path in (mp3, ogg):
                    os.utime(path)
                return Speech(mp3.name, ogg.name, "cache")
            if not self._slots.acquire(timeout=10):
                raise SpeechUnavailable()
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory() as tmp:
                    source, engine = self._synthesise(text, Path(tmp))
                    transcode(source, mp3, ogg)
            finally:
                self._slots.release()
        return Speech(mp3.name, ogg.name, engine)

    def _lock_for(self, stem: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(stem, threading.Lock())

    def _synthesise(self, text: str, tmp: Path) -> tuple[Path, str]:
        if self.online and time.monotonic() >= self._offline_until:
            data = self._gtts(text)
            if data:
                path = tmp / "gtts.mp3"
                path.write_bytes(data)
                return path, "gtts"
            self._offline_until = time.monotonic() + self.retry_after_s
        path = tmp / "espeak.wav"
        if self._espeak(text, path):
            return path, "espeak-ng"
        raise SpeechUnavailable()

    def _gtts(self, text: str) -> bytes | None:
        try:
            from gtts import gTTS  # type: ignore[import-untyped]

            buffer = io.BytesIO()
            gTTS(text, lang="vi", timeout=self.timeout_s).write_to_fp(buffer)
        except Exception as error:  # noqa: BLE001 - any failure of the online service means "use offline"
            log.warning("gTTS unavailable (%s); using espeak-ng", type(error).__name__)
            return None
        return buffer.getvalue() or None

    @staticmethod
    def _espeak(text: str, path: Path) -> bool:
        espeak = shutil.which("espeak-ng")
        if espeak is None:
            return False
        result = subprocess.run([espeak, "-v", "vi", "-s", "140", "-w", str(path), "--stdin"],
                                input=text.encode(), capture_output=True, timeout=60, check=False)
        return result.returncode == 0 and path.exists() and path.stat().st_size > 44


def purge_speech(directory: Path, *, older_than_s: float, now: float | None = None) -> int:
    """Delete synthesised speech not asked for in `older_than_s` seconds (recordings are never touched:
    only `tts-` files are ours to recreate). Returns how many files went."""
    cutoff = (now if now is not None else time.time()) - older_than_s
    removed = 0
    for path in directory.glob("tts-*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # removed by a parallel purge
            continue
    return removed
