"""The speech engines on real audio: ffmpeg reads only the containers phones send (named to it, so no
input can make it read another file), pads and cuts; viet-asr hears natural Vietnamese through the
Opus and AAC round trips a voice note makes; the HTTP engine speaks its small protocol with a fake
service."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import wave

import httpx
import pytest

from gateway.speech import (
    EDGE_PADDING_S,
    SAMPLE_RATE,
    HttpEngine,
    OfflineEngine,
    SpeechError,
    container,
    engine_from,
    plausibility,
    to_pcm,
)
from tests.support.env import IN_CI
from tests.support.speech_clips import converted, natural_clips, word_errors


def need_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None:
        if IN_CI:
            pytest.fail("CI=true and ffmpeg is missing (make setup-system)")
        pytest.skip("ffmpeg is missing (make setup-system)")


def tone(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(8000)
        file.writeframes(b"\x10\x00\xf0\xff" * int(8000 * seconds / 2))
    return out.getvalue()


def test_only_the_containers_phones_send_are_recognised() -> None:
    assert container(b"OggS\x00\x02") == "ogg"
    assert container(b"\x1a\x45\xdf\xa3\x9f") == "matroska"
    assert container(b"\x00\x00\x00\x18ftypM4A ") == "mov"
    assert container(tone(0.1)) == "wav"
    assert container(b"#!AMR\n") == "amr"
    assert container(b"\xff\xf1\x50\x80") == "aac"
    assert container(b"ID3\x04\x00") == "mp3"
    for other in (b"", b"ffconcat version 1.0\nfile '/etc/passwd'\n", b"#EXTM3U\n#EXT-X-VERSION:3\nfile:///etc/passwd",
                  b"<svg></svg>", b"%PDF-1.7", b"\x89PNG\r\n"):
        assert container(other) is None


@pytest.mark.parametrize("attack", [b"ffconcat version 1.0\nfile '/etc/passwd'\n",
                                    b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1,\nfile:///etc/hostname\n",
                                    b"OggS" + b"\x00" * 64, b"RIFF\x00\x00\x00\x00WAVEjunk"])
def test_a_playlist_or_a_broken_file_is_refused_not_read(attack: bytes) -> None:
    need_ffmpeg()
    with pytest.raises(SpeechError):
        to_pcm(attack)


def test_audio_is_padded_at_both_ends_and_cut_at_the_limit() -> None:
    need_ffmpeg()
    pcm = to_pcm(converted(tone(2.0), "ogg"))
    assert abs(len(pcm) / 2 / SAMPLE_RATE - (2.0 + 2 * EDGE_PADDING_S)) < 0.1
    assert pcm[: int(SAMPLE_RATE * EDGE_PADDING_S) * 2] == b"\x00" * int(SAMPLE_RATE * EDGE_PADDING_S) * 2
    long = to_pcm(tone(5.0), max_seconds=1.0)
    assert abs(len(long) / 2 / SAMPLE_RATE - (1.0 + 2 * EDGE_PADDING_S)) < 0.1
    with pytest.raises(SpeechError):
        to_pcm(b"OggS" + b"\x00" * (5 * 1024 * 1024))  # larger than any voice note


def test_confidence_follows_the_rate_people_speak_at() -> None:
    assert plausibility("", 3.0) == 0.0
    assert plausibility("tôi muốn đặt lịch khám", 2.0) == 0.8
    assert plausibility("ừ", 30.0) == 0.3 and plausibility("một " * 80, 3.0) == 0.3


@pytest.mark.slow
def test_viet_asr_hears_natural_speech_through_the_voice_note_round_trips() -> None:
    need_ffmpeg()
    if not OfflineEngine.available():
        if IN_CI:
            pytest.fail("CI=true and viet-asr is not installed (make setup)")
        pytest.skip("viet-asr is not installed")
    engine = OfflineEngine()
    errors = words = 0
    for clip in natural_clips():
        for kind in ("ogg", "m4a"):
            heard = asyncio.run(engine.transcribe(converted(clip.wav, kind)))
            wrong, count = word_errors(clip.transcript, heard.text)
            errors, words = errors + wrong, words + count
            assert heard.confidence > 0 and heard.seconds > 1
    # ≈ 7 % was measured here on natural speech; bench/voice.py prints the figure per format.
    assert errors / words < 0.2, errors / words


def test_the_http_engine_posts_a_wav_with_its_key_and_reads_text_and_confidence() -> None:
    need_ffmpeg()
    seen: list[httpx.Request] = []

    def service(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("Authorization") != "Bearer k-1":
            return httpx.Response(401)
        return httpx.Response(200, json={"text": "  đặt   lịch khám ", "confidence": 1.7})

    engine = HttpEngine("https://asr.example/v1/recognize", "k-1", transport=httpx.MockTransport(service))
    heard = asyncio.run(engine.transcribe(converted(tone(1.0), "m4a")))
    assert (heard.text, heard.confidence) == ("đặt lịch khám", 1.0)
    assert seen[0].content[:4] == b"RIFF" and seen[0].url.params["language"] == "vi"
    refusing = HttpEngine("https://asr.example/v1/recognize", "wrong", transport=httpx.MockTransport(service))
    with pytest.raises(SpeechError):
        asyncio.run(refusing.transcribe(tone(1.0)))
    broken = HttpEngine("https://asr.example/v1/recognize", "k-1", transport=httpx.MockTransport(
        lambda r: httpx.Response(200, content=json.dumps(["not", "an", "answer"]).encode())))
    with pytest.raises(SpeechError):
        asyncio.run(broken.transcribe(tone(1.0)))


def test_the_engine_is_chosen_by_configuration() -> None:
    assert engine_from("off") is None
    assert engine_from("http") is None  # no URL: voice notes get "please type", the gateway still starts
    assert isinstance(engine_from("http", "https://asr.example", "k"), HttpEngine)
