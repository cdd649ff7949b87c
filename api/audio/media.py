"""Probing and transcoding with ffmpeg: uploads are checked by their content, never their name."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from api.core.errors import ServiceBusy
from common.errors import InvalidInput

# Speech level for phones held at arm's length in a noisy room; -16 LUFS is the usual target for
# spoken content on mobile, with the true peak kept under clipping.
LOUDNORM = "loudnorm=I=-16:TP=-1.5:LRA=11"


class AudioUnreadable(InvalidInput):
    code = "audio_unreadable"
    message = ("Không đọc được tệp âm thanh (tệp hỏng hoặc không phải âm thanh). "
               "Xin ghi âm lại hoặc gửi tệp MP3, M4A, OGG, WAV.")


class AudioTooLong(InvalidInput):
    code = "audio_too_long"
    message = "Bản ghi dài quá 3 phút. Xin cắt ngắn hoặc chia thành nhiều đoạn."


class AudioTooShort(InvalidInput):
    code = "audio_too_short"
    message = "Bản ghi ngắn quá, có lẽ chưa kịp nói. Xin bấm ghi âm rồi đọc hết câu."


class AudioSilent(InvalidInput):
    code = "audio_silent"
    message = ("Bản ghi không có tiếng (micrô không thu được gì). Xin kiểm tra micrô, "
               "đưa điện thoại lại gần miệng rồi ghi lại.")


class AudioToolsMissing(ServiceBusy):
    code = "audio_tools_missing"
    message = "Máy chủ chưa cài công cụ xử lý âm thanh (ffmpeg). Xin báo quản trị viên."


# A take whose loudest moment is quieter than this caught no voice: a muted or broken microphone.
SILENCE_DB = -50.0
_MAX_VOLUME = re.compile(rb"max_volume:\s*(-?[0-9.]+|-inf) dB")


@dataclass(frozen=True)
class Probe:
    seconds: float


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise AudioToolsMissing(tool=name)
    return path


def _run(command: list[str], timeout: int) -> subprocess.CompletedProcess[bytes]:
    """A tool's run; one that overruns its time is a file we cannot read (a crafted one decoding forever)."""
    try:
        return subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise AudioUnreadable() from None


def probe(path: Path) -> Probe:
    """Whether a file holds sound, and its length; 0 when the container does not say (a browser's WebM
    recording is written as it goes and never gets its length: `transcode` measures it then)."""
    result = _run([_tool("ffprobe"), "-v", "error", "-show_entries", "format=duration:stream=codec_type", "-of",
                   "json", str(path)], timeout=30)
    if result.returncode != 0:
        raise AudioUnreadable()
    try:
        info = json.loads(result.stdout or b"{}")
        duration = info.get("format", {}).get("duration")
        seconds = float(duration) if duration not in (None, "N/A") else 0.0
    except (ValueError, TypeError):
        raise AudioUnreadable() from None
    # Pictures and subtitles also probe fine; only a stream of sound counts.
    if not any(s.get("codec_type") == "audio" for s in info.get("streams", [])) or seconds < 0:
        raise AudioUnreadable()
    return Probe(seconds=seconds)


def transcode(source: Path, mp3: Path, ogg: Path, max_seconds: float | None = None) -> None:
    """Mono, loudness-normalised MP3 (web player, Zalo link) and OGG/Opus (Telegram voice note); with
    `max_seconds`, decoding stops just past it (a file whose header lies about its length cannot keep
    ffmpeg busy: the caller measures the result)."""
    ffmpeg = _tool("ffmpeg")
    limit = ["-t", f"{max_seconds + 1:.0f}"] if max_seconds else []
    for target, codec in ((mp3, ["-c:a", "libmp3lame", "-b:a", "64k", "-ar", "44100", "-f", "mp3"]),
                          (ogg, ["-c:a", "libopus", "-b:a", "32k", "-ar", "48000", "-f", "ogg"])):
        partial = target.with_suffix(target.suffix + ".part")
        result = _run([ffmpeg, "-loglevel", "error", "-y", "-i", str(source), *limit, "-vn", "-af", LOUDNORM,
                       "-ac", "1", *codec, str(partial)], timeout=120)
        if result.returncode != 0 or not partial.exists() or partial.stat().st_size == 0:
            partial.unlink(missing_ok=True)
            raise AudioUnreadable()
        partial.replace(target)  # readers never see a half-written file


def peak_db(path: Path, max_seconds: float | None = None) -> float:
    """The loudest moment of a recording in dBFS (ffmpeg's volumedetect); -inf for digital silence."""
    limit = ["-t", f"{max_seconds + 1:.0f}"] if max_seconds else []
    result = _run([_tool("ffmpeg"), "-hide_banner", "-nostats", "-i", str(path), *limit, "-vn", "-af", "volumedetect",
                   "-f", "null", "-"], timeout=60)
    found = _MAX_VOLUME.search(result.stderr)
    if result.returncode != 0 or found is None:
        raise AudioUnreadable()
    return float(found.group(1))
