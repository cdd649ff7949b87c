"""Audio library: uploads checked by content, normalised and transcoded, stale when the text changes;
Vietnamese speech through gTTS (stubbed HTTP) with espeak-ng as the offline fallback."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.audio.models import AudioClip
from api.audio.speech import SpeechEngine
from api.audit.models import AuditEntry
from api.core.config import Settings
from api.core.db import Database
from tests.support.sql import recorded_statements
from tests.support.world import World

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed (make setup-system)")


def sound(tmp_path: Path, seconds: float, name: str = "clip.wav", rate: int = 16000) -> bytes:
    """A tone recorded quietly, as a phone in a commune hall would."""
    path = tmp_path / name
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency=300:duration={seconds}:sample_rate={rate}", "-af", "volume=0.05", str(path)],
                   check=True)
    return path.read_bytes()


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,channels:format=duration",
                          "-of", "json", str(path)], capture_output=True, check=True).stdout
    info: dict[str, Any] = json.loads(out)
    return info


def mean_volume(path: Path) -> float:
    err = subprocess.run(["ffmpeg", "-hide_banner", "-i", str(path), "-af", "volumedetect", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    line = next(line for line in err.splitlines() if "mean_volume" in line)
    return float(line.split("mean_volume:")[1].split("dB")[0])


def upload(client: TestClient, headers: dict[str, str], key: str, language: str, data: bytes,
           name: str = "clip.wav") -> Any:
    return client.post("/api/v1/audio/clips", data={"key": key, "language": language},
                       files={"file": (name, data, "application/octet-stream")}, headers=headers)


def test_a_recording_is_normalised_into_mp3_and_ogg_and_served(
        client: TestClient, seeded_content: Database, settings: Settings, staff_token: Any, tmp_path: Path) -> None:
    editor = staff_token("editor")
    quiet = sound(tmp_path, 4.0)
    response = upload(client, editor, "free_of_charge", "tyz", quiet)
    assert response.status_code == 201, response.text
    clip = response.json()
    assert clip["language"] == "tyz" and 3.9 < clip["duration_s"] < 4.2 and not clip["stale"]
    mp3 = settings.audio_dir / clip["mp3_url"].rsplit("/", 1)[1]
    ogg = settings.audio_dir / clip["ogg_url"].rsplit("/", 1)[1]
    assert [s["codec_name"] for s in probe(mp3)["streams"]] == ["mp3"]
    assert [(s["codec_name"], s["channels"]) for s in probe(ogg)["streams"]] == [("opus", 1)]
    source = tmp_path / "source.wav"
    source.write_bytes(quiet)
    assert mean_volume(mp3) > mean_volume(source) + 6  # loudness brought up to speech level
    served = client.get(clip["mp3_url"].split("testserver", 1)[1])
    assert served.status_code == 200 and served.headers["content-type"] == "audio/mpeg"
    assert served.content == mp3.read_bytes()
    assert client.get("/api/v1/audio/files/..%2Fsecret.key").status_code == 404
    # Residents asking in Tày hear it; Nùng speakers get no Tày clip (and no Vietnamese one exists).
    hit = client.get("/api/v1/faq/search", params={"q": "kham co mat tien khong", "lang": "tyz"}).json()[0]
    assert hit["key"] == "free_of_charge" and hit["audio_language"] == "tyz" and hit["audio_ogg_url"]
    nung = client.get("/api/v1/faq/search", params={"q": "kham co mat tien khong", "lang": "nut"}).json()[0]
    assert nung["audio_url"] is None
    upload(client, editor, "free_of_charge", "vi", sound(tmp_path, 2.0, "vi.wav"))
    nung = client.get("/api/v1/faq/search", params={"q": "kham co mat tien khong", "lang": "nut"}).json()[0]
    assert nung["audio_language"] == "vi"
    cells = {row["key"]: row["cells"] for row in client.get("/api/v1/audio/coverage", headers=editor).json()["rows"]}
    assert cells["free_of_charge"] == {"vi": "recorded", "tyz": "recorded", "nut": "missing", "hmn": "missing",
                                       "ium": "missing"}
    with seeded_content.read() as db:
        assert db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "audio.upload")) == 2


def test_bad_uploads_are_refused_and_leave_nothing_behind(
        client: TestClient, seeded_content: Database, settings: Settings, staff_token: Any, tmp_path: Path) -> None:
    editor = staff_token("editor")
    good = sound(tmp_path, 1.0)
    long_file = sound(tmp_path, 181.0, "long.wav", rate=8000)
    cases = [
        (b"day khong phai am thanh\n" * 50, "notes.mp3", 422, "audio_unreadable"),
        (good[:60], "cut.wav", 422, "audio_unreadable"),                        # corrupt: header only
        (b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 8, "fake.mp3", 422, "audio_unreadable"),
        (long_file, "long.wav", 422, "audio_too_long"),
        (b"", "empty.wav", 422, "validation_error"),
    ]
    for data, name, status, code in cases:
        response = upload(client, editor, "utter_greet", "hmn", data, name)
        assert (response.status_code, response.json()["code"]) == (status, code), (name, response.text)
        assert response.json()["message"]
    assert upload(client, editor, "khong_co_ma_nay", "hmn", good).json()["code"] == "audio_key_unknown"
    assert upload(client, editor, "utter_greet", "fr", good).status_code == 422
    assert upload(client, staff_token("cadre"), "utter_greet", "hmn", good).status_code == 403
    station = staff_token("station", commune_id=World(client, staff_token("admin")).commune()["id"])
    assert upload(client, station, "utter_greet", "hmn", good).status_code == 403
    with seeded_content.read() as db:
        assert db.scalar(select(func.count()).select_from(AudioClip)) == 0
    assert not settings.audio_dir.exists() or list(settings.audio_dir.iterdir()) == []


def test_an_oversized_upload_is_refused_before_any_work(
        client: TestClient, seeded_content: Database, settings: Settings, staff_token: Any) -> None:
    too_big = b"\x00" * (settings.audio_max_bytes + 1)
    response = upload(client, staff_token("editor"), "utter_greet", "ium", too_big)
    assert response.status_code == 413 and response.json()["code"] in {"audio_too_large", "payload_too_large"}
    assert not settings.audio_dir.exists() or list(settings.audio_dir.iterdir()) == []


def test_a_clip_goes_stale_when_its_vietnamese_text_changes(
        client: TestClient, seeded_content: Database, staff_token: Any, tmp_path: Path) -> None:
    editor, admin = staff_token("editor"), staff_token("admin")
    assert upload(client, editor, "utter_greet", "ium", sound(tmp_path, 1.5)).status_code == 201
    assert "utter_greet" in client.get("/api/v1/content/bundle").json()["audio"]
    assert client.get("/api/v1/audio/for", params={"key": "utter_greet", "lang": "ium"}).json()["language"] == "ium"
    revision = client.post("/api/v1/content/revisions", json={"kind": "message", "key": "utter_greet", "payload": {
        "texts": {"vi": "Chào bác/anh/chị! Tôi giúp đặt lịch khám sức khỏe miễn phí:"}}}, headers=admin).json()
    client.post(f"/api/v1/content/revisions/{revision['id']}/publish", headers=admin)
    clips = client.get("/api/v1/audio/clips", headers=editor).json()["items"]
    assert [(c["key"], c["stale"]) for c in clips] == [("utter_greet", True)]
    cells = {r["key"]: r["cells"] for r in client.get("/api/v1/audio/coverage", headers=editor).json()["rows"]}
    assert cells["utter_greet"]["ium"] == "stale"
    # A stale clip may state an old policy: residents no longer get it.
    assert "utter_greet" not in client.get("/api/v1/content/bundle").json()["audio"]
    assert client.get("/api/v1/audio/for", params={"key": "utter_greet", "lang": "ium"}).status_code == 404
    # Re-recording makes it current again; a translation-only change never makes a clip stale.
    assert upload(client, editor, "utter_greet", "ium", sound(tmp_path, 1.7, "new.wav")).status_code == 201
    assert client.get("/api/v1/audio/for", params={"key": "utter_greet", "lang": "ium"}).status_code == 200


def test_an_answers_clip_goes_stale_in_the_search_and_is_checked_with_one_statement(
        client: TestClient, seeded_content: Database, staff_token: Any, tmp_path: Path) -> None:
    """The search checks its answers' clips against the answers it just gave (read with its index), so
    a published change of the Vietnamese answer silences the old clip at once, a translation does not,
    and the check is one statement on the clips alone."""
    editor, admin = staff_token("editor"), staff_token("admin")
    assert upload(client, editor, "free_of_charge", "tyz", sound(tmp_path, 1.5)).status_code == 201

    def search() -> dict[str, Any]:
        hits: list[dict[str, Any]] = client.get("/api/v1/faq/search",
                                                params={"q": "kham co mat tien khong", "lang": "tyz"}).json()
        return next(hit for hit in hits if hit["key"] == "free_of_charge")

    def publish(answers: dict[str, str]) -> None:
        live = client.get("/api/v1/faq/free_of_charge").json()
        payload = {"category": live["category"], "questions": live["questions"],
                   "answers": {**live["answers"], **answers}}
        revision = client.post("/api/v1/content/revisions", json={"kind": "faq", "key": "free_of_charge",
                                                                   "payload": payload}, headers=editor).json()
        client.post(f"/api/v1/content/revisions/{revision['id']}/submit", headers=editor)
        published = client.post(f"/api/v1/content/revisions/{revision['id']}/publish", headers=admin)
        assert published.status_code == 200, published.text

    assert search()["audio_language"] == "tyz"  # the index is built: what follows is any later question
    with recorded_statements(seeded_content.reader, seeded_content.writer) as seen:
        assert search()["audio_language"] == "tyz"
    assert len([s for s in seen if "audio_clips" in s]) == 1
    assert not [s for s in seen if "bot_messages" in s or "faq_answers" in s], seen
    publish({"tyz": "Khám bấu mất chèn (bản dịch mới)."})  # a translation: the recording still says it
    assert search()["audio_language"] == "tyz"
    publish({"vi": "Khám sức khỏe định kỳ theo Chỉ thị 17 hoàn toàn miễn phí (nội dung mới)."})
    assert search()["audio_url"] is None

class FakeGoogle:
    """Answers gTTS's batchexecute request like Google does, with a real MP3 inside."""

    def __init__(self, mp3: bytes | None) -> None:
        self.mp3 = mp3
        self.calls = 0

    def send(self, request: requests.PreparedRequest, **_kwargs: Any) -> requests.Response:
        """Put in place of `requests.Session.send` (bound to this fake, so no session argument)."""
        self.calls += 1
        if self.mp3 is None:
            raise requests.exceptions.ConnectionError("no route to translate.google.com")
        payload = base64.b64encode(self.mp3).decode()
        response = requests.Response()
        response.status_code = 200
        response.request = request
        response.raw = io.BytesIO(
            (')]}\'\n\n[["wrb.fr","jQ1olc","[\\"' + payload + '\\"]",null,null,null,"generic"]]').encode())
        return response


def engine_for(settings: Settings) -> SpeechEngine:
    return SpeechEngine(settings.model_copy(update={"tts_online": True, "tts_timeout_s": 1.0}))


def test_speech_uses_gtts_when_google_answers(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mp3 = tmp_path / "google.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1", str(mp3)], check=True)
    google = FakeGoogle(mp3.read_bytes())
    monkeypatch.setattr(requests.Session, "send", google.send)
    engine = engine_for(settings)
    speech = engine.speak("Lịch khám của bác vào sáng thứ Hai.")
    assert speech.engine == "gtts" and google.calls == 1
    assert (settings.audio_dir / speech.mp3_name).is_file() and (settings.audio_dir / speech.ogg_name).is_file()
    assert engine.speak("Lịch khám của bác vào sáng thứ Hai.").engine == "cache"  # same text: not asked again
    assert google.calls == 1


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (make setup-system)")
def test_speech_falls_back_to_espeak_when_google_is_unreachable(
        client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    google = FakeGoogle(None)
    monkeypatch.setattr(requests.Session, "send", google.send)
    engine = engine_for(settings)
    first = engine.speak("Xin mời bác đến trạm y tế xã lúc bảy giờ sáng.")
    assert first.engine == "espeak-ng" and google.calls >= 1
    calls = google.calls
    # While Google is known to be unreachable, it is not tried for every message.
    assert engine.speak("Một câu khác.").engine == "espeak-ng" and google.calls == calls
    duration = float(probe(settings.audio_dir / first.mp3_name)["format"]["duration"])
    assert duration > 1.0
    # Through the API (gTTS off in tests' settings): the same offline voice, cached by text.
    made = client.post("/api/v1/audio/speech", json={"text": "Đặt lịch thành công."})
    assert made.status_code == 200 and made.json()["engine"] == "espeak-ng"
    again = client.post("/api/v1/audio/speech", json={"text": "Đặt lịch thành công."})
    assert again.json()["engine"] == "cache" and again.json()["mp3_url"] == made.json()["mp3_url"]
    assert client.post("/api/v1/audio/speech", json={"text": ""}).status_code == 422
