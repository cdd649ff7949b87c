"""How fast staff changes reach residents, and what audio costs, through the real services.

Starts the API (demo province, SQLite), the action server and Rasa with the trained model, then:
- publishes a new FAQ answer N times and measures publish → the bot's next answer carrying it;
- publishes a new bot message (utter_help) N times and measures publish → Rasa's NLG saying it
  (polled every 0.25 s; bounded by the NLG's refresh interval, CONTENT_REFRESH_S, 10 s by default);
- times Vietnamese speech for a new text (espeak-ng here; gTTS is unreachable) and for a cached one,
  and the upload of a 60-second recording (probe, loudness normalisation, MP3 + OGG).

    .venv/bin/python bench/content.py [--rounds 5]
Needs `make train` first (models/bot.tar.gz).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import MODEL, api_env, running_assistant  # noqa: E402

PASSWORD = "bench-mat-khau-123"


def say(rasa: str, sender: str, text: str) -> str:
    replies = httpx.post(f"{rasa}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60).json()
    return " | ".join(r.get("text", "") for r in replies)


def publish(api: str, headers: dict[str, str], kind: str, key: str, payload: dict[str, Any]) -> None:
    revision = httpx.post(f"{api}/api/v1/content/revisions", headers=headers,
                          json={"kind": kind, "key": key, "payload": payload}).json()
    response = httpx.post(f"{api}/api/v1/content/revisions/{revision['id']}/publish", headers=headers)
    response.raise_for_status()


def until_said(rasa: str, question: str, wanted: str, tag: str, limit_s: float = 90) -> float:
    started = time.monotonic()
    attempt = 0
    while time.monotonic() - started < limit_s:
        attempt += 1
        if wanted in say(rasa, f"bench-{tag}-{attempt}", question):
            return time.monotonic() - started
        time.sleep(0.25)
    raise RuntimeError(f"not said within {limit_s} s: {wanted!r}")


def summary(name: str, values: list[float], unit: str = "s") -> None:
    ordered = sorted(values)
    print(f"{name:<46} n={len(values)}  p50 {statistics.median(ordered):7.2f} {unit}  "
          f"max {ordered[-1]:7.2f} {unit}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not MODEL.exists():
        print("no trained model: run `make train` first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, running_assistant(Path(tmp)) as urls:
        api, rasa = urls["api"], urls["rasa"]
        env = {**api_env(f"sqlite:///{Path(tmp) / 'api.db'}"), "STAFF_PASSWORD": PASSWORD}
        subprocess.run([sys.executable, "-m", "api", "create-staff", "--username", "bench", "--role", "admin"],
                       env=env, check=True, capture_output=True)
        token = httpx.post(f"{api}/api/v1/auth/token", data={"username": "bench", "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        faq = httpx.get(f"{api}/api/v1/faq/free_of_charge").json()
        say(rasa, "bench-warm", "ksk co mat tien k")

        faq_times, message_times = [], []
        for round_ in range(args.rounds):
            answer = f"Khám sức khỏe định kỳ là MIỄN PHÍ (bản {round_})."
            publish(api, headers, "faq", "free_of_charge",
                    {"category": faq["category"], "questions": faq["questions"], "answers": {"vi": answer}})
            faq_times.append(until_said(rasa, "ksk co mat tien k", answer, f"faq{round_}"))
            text = f"Tôi giúp bác/anh/chị đặt lịch khám và trả lời câu hỏi (bản {round_}):"
            publish(api, headers, "message", "utter_help", {"texts": {"vi": text}})
            message_times.append(until_said(rasa, "ban giup duoc gi", text, f"msg{round_}"))
        summary("FAQ answer: publish → bot answers with it", faq_times)
        summary("bot message: publish → Rasa's NLG says it", message_times)

        first, cached = [], []
        for round_ in range(args.rounds):
            text = f"Lịch khám của bác vào bảy giờ ba mươi sáng thứ Hai, lần {round_}."
            started = time.monotonic()
            made = httpx.post(f"{api}/api/v1/audio/speech", json={"text": text}, timeout=60).json()
            first.append((time.monotonic() - started) * 1000)
            started = time.monotonic()
            httpx.post(f"{api}/api/v1/audio/speech", json={"text": text}, timeout=60).raise_for_status()
            cached.append((time.monotonic() - started) * 1000)
        summary(f"speech, new text ({made['engine']})", first, "ms")
        summary("speech, same text again (cache)", cached, "ms")

        wav = Path(tmp) / "minute.wav"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=220:duration=60",
                        "-ac", "1", "-ar", "44100", str(wav)], check=True)
        uploads = []
        for round_ in range(args.rounds):
            data = wav.read_bytes() + bytes([round_])  # a new file each time: no reuse of earlier transcodes
            started = time.monotonic()
            response = httpx.post(f"{api}/api/v1/audio/clips", headers=headers, timeout=120,
                                  data={"key": "what_to_bring", "language": "nut"},
                                  files={"file": ("minute.wav", data, "audio/wav")})
            response.raise_for_status()
            uploads.append(time.monotonic() - started)
        summary(f"upload of a 60 s recording ({len(wav.read_bytes()) // 1024} KiB WAV)", uploads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
