"""Voice notes to text: one small interface (`transcribe(audio) -> Transcript`), two engines.

- `OfflineEngine` (the default): the `viet-asr` package, whose Vietnamese model is inside its wheel
  (12.5–14.8 % word error on six natural recordings with rare words, ≈ 0.2 s of CPU per second of speech,
  +213 MB once loaded: bench/voice.py; ≈ 7 % is quoted on everyday speech). It is an
  alpha release from one maintainer, shipped as a binary, so it is optional: without it (or with
  `SPEECH_ENGINE=off`) voice notes get the "please type" reply as before.
- `HttpEngine`: a province's licensed cloud service (`SPEECH_URL`, `SPEECH_KEY`): the audio is posted
  as 16 kHz mono WAV, `{"text", "confidence"}` comes back.

Audio comes from residents (and, on the web chat, from anyone): its container is recognised by its
first bytes and named to ffmpeg explicitly, so no input can pick one of ffmpeg's demuxers that read
other files or URLs (concat, HLS); it is cut at `max_seconds`, decoded with a time limit, and padded
with 0.3 s of silence at both ends (the model drops edge syllables otherwise). Transcriptions run
`max_concurrent` at a time in a thread; more waiting than `max_waiting` are refused at once (busy),
not queued without end.
"""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
import subprocess
import wave
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

log = logging.getLogger("gateway")

SAMPLE_RATE = 16_000
EDGE_PADDING_S = 0.3
MAX_SECONDS = 60.0
# A 60 s voice note is ≈ 0.1–1 MB in Opus/AAC; anything much larger is not one.
MAX_AUDIO_BYTES = 4 * 1024 * 1024
DECODE_TIMEOUT_S = 20.0
# Speech rates a transcript is believed at (syllables a second): outside them, words were lost or
# made up, and the confidence is low (viet-asr reports none of its own).
PLAUSIBLE_RATE = (1.0, 7.0)


class SpeechError(Exception):
    """The audio could not be turned into text (unknown format, undecodable, engine failure)."""


class SpeechBusy(SpeechError):
    """Too many voice notes are waiting for transcription now."""


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float  # 0..1
    seconds: float


class SpeechEngine(Protocol):
    async def transcribe(self, audio: bytes) -> Transcript: ...


def container(audio: bytes) -> str | None:
    """ffmpeg's name of the audio's container, from its first bytes; None for anything else."""
    head = audio[:16]
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"  # WebM (the browser's MediaRecorder)
    if head[4:8] == b"ftyp":
        return "mov"  # MP4 / M4A (Zalo, iPhone)
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"#!AMR"):
        return "amr"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "aac"  # ADTS
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def to_pcm(audio: bytes, max_seconds: float = MAX_SECONDS) -> bytes:
    """16 kHz mono signed 16-bit PCM of at most `max_seconds`, with silence padded at both ends."""
    if len(audio) > MAX_AUDIO_BYTES:
        raise SpeechError("audio too large")
    kind = container(audio)
    if kind is None:
        raise SpeechError("not an audio container the gateway reads")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SpeechError("ffmpeg is not installed")
    try:
        result = subprocess.run(
            [ffmpeg, "-nostdin", "-loglevel", "error", "-f", kind, "-i", "pipe:0", "-t", str(max_seconds),
             "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "pipe:1"],
            input=audio, capture_output=True, timeout=DECODE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise SpeechError("decoding took too long") from None
    if result.returncode != 0 or not result.stdout:
        raise SpeechError("undecodable audio")
    silence = b"\x00\x00" * int(SAMPLE_RATE * EDGE_PADDING_S)
    return silence + result.stdout + silence


def seconds_of(pcm: bytes) -> float:
    return max(0.0, len(pcm) / 2 / SAMPLE_RATE - 2 * EDGE_PADDING_S)


def plausibility(text: str, seconds: float) -> float:
    """A confidence for an engine that gives none: nothing heard is 0; a speech rate people speak at is
    0.8; too few or too many syllables for the time is 0.3."""
    syllables = len(text.split())
    if not syllables or seconds <= 0:
        return 0.0
    rate = syllables / seconds
    return 0.8 if PLAUSIBLE_RATE[0] <= rate <= PLAUSIBLE_RATE[1] else 0.3


class _Bounded:
    """At most `max_concurrent` transcriptions at once in this process, at most `max_waiting` waiting."""

    def __init__(self, max_concurrent: int, max_waiting: int) -> None:
        self._slots = asyncio.Semaphore(max_concurrent)
        self._max_waiting = max_waiting
        self._waiting = 0

    async def run(self, work: Any, *args: Any) -> Any:
        if self._waiting >= self._max_waiting:
            raise SpeechBusy("too many voice notes waiting")
        self._waiting += 1
        try:
            async with self._slots:
                return await asyncio.to_thread(work, *args)
        finally:
            self._waiting -= 1


class OfflineEngine:
    """viet-asr, loaded once per process (on first use, or `load()` at start)."""

    def __init__(self, max_concurrent: int = 1, max_waiting: int = 8, max_seconds: float = MAX_SECONDS) -> None:
        self._bounded = _Bounded(max_concurrent, max_waiting)
        self._max_seconds = max_seconds
        self._pipeline: Any = None

    @staticmethod
    def available() -> bool:
        try:
            import vietasr  # noqa: F401
        except ImportError:
            return False
        return shutil.which("ffmpeg") is not None

    def load(self) -> None:
        if self._pipeline is None:
            import vietasr

            self._pipeline = vietasr.Pipeline.preset("transcribe")

    async def transcribe(self, audio: bytes) -> Transcript:
        result: Transcript = await self._bounded.run(self._transcribe, audio)
        return result

    def _transcribe(self, audio: bytes) -> Transcript:
        import numpy as np

        pcm = to_pcm(audio, self._max_seconds)
        self.load()
        try:
            text = str(self._pipeline.transcribe(np.frombuffer(pcm, dtype=np.int16), float(SAMPLE_RATE)).text)
        except Exception as error:  # the native library's own failures
            raise SpeechError(f"viet-asr failed: {type(error).__name__}") from None
        text = " ".join(text.split())
        seconds = seconds_of(pcm)
        return Transcript(text, plausibility(text, seconds), seconds)


class HttpEngine:
    """A speech service over HTTP: POST `url` with the audio as 16 kHz mono WAV (`Authorization:
    Bearer key`), answer `{"text": str, "confidence": float}`."""

    def __init__(self, url: str, key: str = "", *, timeout_s: float = 20.0, max_concurrent: int = 4,
                 max_waiting: int = 32, max_seconds: float = MAX_SECONDS,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._url = url
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)
        self._decode = _Bounded(max_concurrent, max_waiting)
        self._max_seconds = max_seconds

    async def transcribe(self, audio: bytes) -> Transcript:
        pcm: bytes = await self._decode.run(to_pcm, audio, self._max_seconds)
        try:
            response = await self._client.post(self._url, headers=self._headers, content=_wav(pcm),
                                               params={"language": "vi"})
            response.raise_for_status()
            body = response.json()
            text, confidence = " ".join(str(body["text"]).split()), float(body.get("confidence", 0.8))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            raise SpeechError(f"speech service failed: {type(error).__name__}") from None
        return Transcript(text, min(1.0, max(0.0, confidence)) if text else 0.0, seconds_of(pcm))

    async def close(self) -> None:
        await self._client.aclose()


def _wav(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(SAMPLE_RATE)
        file.writeframes(pcm)
    return out.getvalue()


def engine_from(kind: str, url: str = "", key: str = "", **options: Any) -> SpeechEngine | None:
    """The configured engine (`SPEECH_ENGINE`: offline | http | off), or None (voice notes get "please
    type") when it is off or cannot run here."""
    if kind == "off":
        return None
    if kind == "http":
        if not url:
            log.warning("SPEECH_ENGINE=http without SPEECH_URL: voice notes get the please-type reply")
            return None
        return HttpEngine(url, key, **options)
    if not OfflineEngine.available():
        log.warning("viet-asr or ffmpeg is missing: voice notes get the please-type reply")
        return None
    return OfflineEngine(**options)
