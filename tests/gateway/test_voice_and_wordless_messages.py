"""Residents who speak instead of type, and messages without words: a voice note on Telegram, Zalo and
the web chat is heard (a scripted engine here; the real one in test_speech.py and the whole-system
test) and answered, numbers said as words reach the assistant as digits; a photo, a file, a location,
a contact or a bare sticker gets one short reply and the menu. Never silence, never a second answer to
a redelivery, and the web chat's voice door is bounded for a script that posts audio without end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from common.wording import fill, seeds
from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.speech import MAX_AUDIO_BYTES, SpeechBusy, SpeechError, Transcript
from tests.support.fake_rasa import FakeRasa, unsigned
from tests.support.fake_telegram import FakeBotApi, update
from tests.support.fake_zalo import APP_ID, APP_SECRET, OA_SECRET, FakeOa
from tests.support.servers import wait_for

TELEGRAM_SECRET = "webhook-secret-123"
PAGE = "w" + "0123456789abcdef01234567"
SPOKEN_PHONE = "số của tôi là không chín bảy bảy một hai ba chín tám bảy"
SPOKEN_QUESTION = "khám sức khỏe ở trạm y tế có mất tiền không"


class ScriptedSpeech:
    """A speech engine that hears what the audio's bytes say after "say:" (or fails as told)."""

    def __init__(self) -> None:
        self.heard: list[bytes] = []
        self.fail: Exception | None = None

    async def transcribe(self, audio: bytes) -> Transcript:
        self.heard.append(audio)
        if self.fail is not None:
            raise self.fail
        words = audio.decode(errors="ignore").removeprefix("OggS").removeprefix("say:")
        return Transcript(words, 0.8 if words else 0.0, 3.0)


@pytest.fixture
def speech() -> ScriptedSpeech:
    return ScriptedSpeech()


def telegram_settings(tmp_path: Path, bot_api: FakeBotApi, **extra: Any) -> GatewaySettings:
    return GatewaySettings(
        gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}", telegram_bot_token="42:TEST",
        telegram_webhook_secret=TELEGRAM_SECRET, telegram_mode="webhook", telegram_api_base=bot_api.base,
        per_chat_interval_s=0.0, **extra)


@pytest.fixture
def telegram(tmp_path: Path, bot_api: FakeBotApi, rasa: FakeRasa, speech: ScriptedSpeech) -> Iterator[TestClient]:
    settings = telegram_settings(tmp_path, bot_api, rasa_retry_s=1.0, web_voice_per_minute=3)
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa), speech=speech),
                    raise_server_exceptions=False) as client:
        yield client


def tg(client: TestClient, body: dict[str, Any]) -> httpx.Response:
    return client.post("/webhooks/telegram", json=body, headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})


def texts_sent(bot_api: FakeBotApi) -> list[str]:
    return [c.data.get("text", "") for c in bot_api.sent("sendMessage")]


def test_a_spoken_question_is_heard_shown_and_answered_at_once(
        telegram: TestClient, bot_api: FakeBotApi, rasa: FakeRasa, speech: ScriptedSpeech) -> None:
    bot_api.files["v6"] = (f"OggSsay:{SPOKEN_QUESTION}".encode(), "audio/ogg")
    voice = {"file_id": "v6", "file_unique_id": "u6", "duration": 4, "file_size": 60}
    for _ in range(2):  # Telegram redelivers
        tg(telegram, update(69, None, voice=voice))
    bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) == 2)
    assert len(speech.heard) == 1 and [s["message"] for s in rasa.seen] == [SPOKEN_QUESTION]
    assert unsigned(rasa.seen[0]["metadata"]) == {"channel": "telegram", "input": "voice", "asr_confidence": 0.8}
    assert texts_sent(bot_api) == [fill(seeds()["gateway_voice_heard"], {"text": SPOKEN_QUESTION}),
                                   f"Đã nhận: {SPOKEN_QUESTION}"]


def tap(client: TestClient, update_id: int, data: str, chat: int = 42) -> None:
    tg(client, {"update_id": update_id, "callback_query": {
        "id": f"cb{update_id}", "chat_instance": "ci", "data": data,
        "from": {"id": chat, "is_bot": False, "first_name": "Mai"},
        "message": {"message_id": 5, "date": 1_700_000_000, "chat": {"id": chat, "type": "private"}}}})


def test_spoken_numbers_are_written_as_digits_and_read_back_before_the_assistant_acts(
        telegram: TestClient, bot_api: FakeBotApi, rasa: FakeRasa, speech: ScriptedSpeech) -> None:
    bot_api.files["v7"] = (f"OggSsay:{SPOKEN_PHONE}".encode(), "audio/ogg")
    tg(telegram, update(70, None, voice={"file_id": "v7", "file_unique_id": "u7", "duration": 4}))
    bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
    question = bot_api.sent("sendMessage")[0]
    assert question.data["text"] == fill(seeds()["gateway_voice_read_back"], {"text": "số của tôi là 0977123987"})
    yes, no = [b[0]["callback_data"] for b in json.loads(question.data["reply_markup"])["inline_keyboard"]]
    assert rasa.seen == [] and yes.startswith("voice-yes:") and len(yes.encode()) <= 64
    tap(telegram, 71, yes, chat=43)  # another chat's tap: nothing reaches the assistant
    tap(telegram, 72, yes)
    bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) == 3)
    assert [s["message"] for s in rasa.seen] == ["số của tôi là 0977123987"]
    assert unsigned(rasa.seen[0]["metadata"])["input"] == "voice"
    assert texts_sent(bot_api)[1:] == [seeds()["gateway_voice_read_back_expired"], "Đã nhận: số của tôi là 0977123987"]
    tap(telegram, 73, yes)  # once only
    tap(telegram, 74, no)
    bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) == 5)
    assert len(rasa.seen) == 1


@pytest.mark.parametrize(("heard", "read_back"), [
    ("có", True), ("đồng ý", True), ("không", True), ("đúng rồi đặt lịch đi", True), ("tôi muốn hủy lịch khám", True),
    ("xóa hết thông tin của tôi", True), ("ngày sinh mười bốn tháng ba năm tám bảy", True),
    ("ừ đúng rồi cháu xác nhận nhé", True), ("thôi không khám nữa đâu", True), ("nguyễn thị hoa", True),
    ("lịch khám ở xã hữu liên", True), ("cháu cảm ơn ạ", True),
    ("tôi có thể hủy lịch không", True), ("bao giờ có kết quả khám", False),
    ("trạm y tế ở đâu", False), ("người già có được khám không ạ", False),
    ("khám sức khỏe có mất tiền không vậy", False),
    ("đi khám cần mang theo giấy tờ gì", False)])
def test_what_is_read_back_is_what_the_assistant_would_act_on(heard: str, read_back: bool) -> None:
    from gateway.read_back import needs_read_back
    from vntext.spoken import digits_from_speech

    written = digits_from_speech(heard)  # what the gateway decides on, as the assistant would get it
    assert needs_read_back(written, 0.8) is read_back
    assert needs_read_back(written, 0.3) is True  # hard to hear: always


@pytest.mark.parametrize(("failure", "reply"), [(SpeechError("undecodable"), "gateway_voice_not_heard"),
                                                (SpeechBusy("full"), "utter_service_busy")])
def test_a_voice_note_that_cannot_be_heard_says_so_and_reaches_no_one(
        telegram: TestClient, bot_api: FakeBotApi, rasa: FakeRasa, speech: ScriptedSpeech,
        failure: Exception, reply: str) -> None:
    bot_api.files["v8"] = (b"OggS...", "audio/ogg")
    speech.fail = failure
    tg(telegram, update(80, None, voice={"file_id": "v8", "file_unique_id": "u8", "duration": 2}))
    bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
    assert texts_sent(bot_api) == [seeds()[reply]] and rasa.seen == []


def test_a_voice_note_telegram_cannot_give_or_too_large_to_be_one_is_answered_without_a_transcription(
        telegram: TestClient, bot_api: FakeBotApi, rasa: FakeRasa, speech: ScriptedSpeech) -> None:
    tg(telegram, update(81, None, voice={"file_id": "gone", "file_unique_id": "ug", "duration": 2}))
    tg(telegram, update(82, None, audio={"file_id": "big", "file_unique_id": "ub", "duration": 900,
                                         "file_size": MAX_AUDIO_BYTES + 1}))
    bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) == 2)
    assert texts_sent(bot_api) == [seeds()["gateway_voice_not_heard"]] * 2
    assert speech.heard == [] and rasa.seen == []


PHOTO = [{"file_id": "p1", "file_unique_id": "pu1", "width": 90, "height": 90}]


@pytest.mark.parametrize(("kind", "preface"), [
    ({"photo": PHOTO}, "gateway_photo_unreadable"),
    ({"document": {"file_id": "d1", "file_unique_id": "du1", "file_name": "giay.pdf"}}, "gateway_file_unreadable"),
    ({"animation": {"file_id": "a1", "file_unique_id": "au1", "width": 1, "height": 1, "duration": 1},
      "document": {"file_id": "a1", "file_unique_id": "au1"}}, "gateway_file_unreadable"),
    ({"location": {"latitude": 500, "longitude": 106.76}}, "gateway_location_received"),  # off the globe
    ({"contact": {"phone_number": "0977123987", "first_name": "Bà Nga"}}, "gateway_contact_received"),
    ({"sticker": {"file_id": "s2", "file_unique_id": "su2", "type": "regular", "width": 512, "height": 512,
                  "is_animated": False, "is_video": False}}, None),
    ({"dice": {"emoji": "🎲", "value": 3}}, "gateway_file_unreadable"),
])
def test_a_telegram_message_without_words_gets_a_short_reply_and_the_menu(
        telegram: TestClient, bot_api: FakeBotApi, rasa: FakeRasa, kind: dict[str, Any], preface: str | None) -> None:
    tg(telegram, update(90, None, **kind))
    bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) == (2 if preface else 1))
    assert [s["message"] for s in rasa.seen] == ["/help"]
    assert texts_sent(bot_api) == ([seeds()[preface]] if preface else []) + ["Đã nhận: /help"]
    assert "0977123987" not in json.dumps(rasa.seen)  # a shared contact's number goes nowhere


# --- Zalo ---

@pytest.fixture
def zalo(tmp_path: Path, oa: FakeOa, rasa: FakeRasa, speech: ScriptedSpeech) -> Iterator[TestClient]:
    def media(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/voice/a1.m4a":
            return httpx.Response(200, content="say:mười bốn tháng ba năm tám bảy".encode())
        if request.url.path == "/voice/huge.m4a":
            return httpx.Response(200, content=b"0" * (MAX_AUDIO_BYTES + 10))
        return httpx.Response(404)

    settings = GatewaySettings(
        gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}", zalo_app_id=APP_ID, zalo_app_secret=APP_SECRET,
        zalo_oa_secret_key=OA_SECRET, zalo_refresh_token="refresh-1", zalo_api_base=oa.base,
        zalo_oauth_base=oa.base, per_chat_interval_s=0.0)
    app = create_app(settings, rasa_transport=httpx.MockTransport(rasa), speech=speech,
                     zalo_media_transport=httpx.MockTransport(media))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def zalo_event(name: str, msg_id: str, text: str = "", attachment: dict[str, Any] | None = None) -> dict[str, Any]:
    from tests.gateway.test_zalo import now_ms

    message: dict[str, Any] = {"msg_id": msg_id, "text": text}
    if attachment is not None:
        message["attachments"] = [attachment]
    return {"app_id": APP_ID, "event_name": name, "timestamp": str(now_ms()), "sender": {"id": "u-5"},
            "recipient": {"id": "oa-1"}, "message": message}


def zalo_post(client: TestClient, body: dict[str, Any]) -> httpx.Response:
    from tests.gateway.test_zalo import post

    return post(client, body)


def zalo_texts(oa: FakeOa) -> list[str]:
    return [m["message"].get("text", "") for m in oa.sent]


def test_a_zalo_voice_note_is_fetched_heard_and_its_date_written(
        zalo: TestClient, oa: FakeOa, rasa: FakeRasa, speech: ScriptedSpeech) -> None:
    audio = {"type": "audio", "payload": {"url": "https://voice-aac.zdn.vn/voice/a1.m4a"}}
    for _ in range(2):
        assert zalo_post(zalo, zalo_event("user_send_audio", "za1", attachment=audio)).status_code == 200
    wait_for(lambda: oa.sent)
    assert len(speech.heard) == 1 and rasa.seen == []  # a date is read back first
    assert zalo_texts(oa)[0] == fill(seeds()["gateway_voice_read_back"], {"text": "14/03/1987"})


@pytest.mark.parametrize("url", ["http://voice-aac.zdn.vn/voice/a1.m4a", "https://voice-aac.zdn.vn/voice/huge.m4a",
                                 "https://voice-aac.zdn.vn/voice/none.m4a", "file:///etc/passwd",
                                 "https://169.254.169.254/voice/a1.m4a", "https://zdn.vn.attacker.example/voice/a1.m4a",
                                 "https://127.0.0.1:8000/api/v1/health"])
def test_a_zalo_voice_link_that_is_not_https_or_not_a_voice_note_is_not_heard(
        zalo: TestClient, oa: FakeOa, rasa: FakeRasa, speech: ScriptedSpeech, url: str) -> None:
    zalo_post(zalo, zalo_event("user_send_audio", "za2", attachment={"type": "audio", "payload": {"url": url}}))
    wait_for(lambda: oa.sent)
    assert zalo_texts(oa) == [seeds()["gateway_voice_not_heard"]] and speech.heard == [] and rasa.seen == []


@pytest.mark.parametrize(("name", "preface"), [
    ("user_send_image", "gateway_photo_unreadable"), ("user_send_gif", "gateway_file_unreadable"),
    ("user_send_file", "gateway_file_unreadable"), ("user_send_link", "gateway_file_unreadable"),
    ("user_send_location", "gateway_location_received"), ("user_send_business_card", "gateway_contact_received"),
    ("user_send_sticker", None),
])
def test_a_zalo_message_without_words_gets_a_short_reply_and_the_menu(
        zalo: TestClient, oa: FakeOa, rasa: FakeRasa, name: str, preface: str | None) -> None:
    attachment = {"type": name.removeprefix("user_send_"), "payload": {"url": "https://photo.zdn.vn/x.jpg"}}
    zalo_post(zalo, zalo_event(name, "zw1", attachment=attachment))
    wait_for(lambda: len(oa.sent) == (2 if preface else 1))
    assert [s["message"] for s in rasa.seen] == ["/help"]
    assert zalo_texts(oa) == ([seeds()[preface]] if preface else []) + ["Đã nhận: /help"]


def test_a_zalo_photo_with_a_caption_is_its_caption_and_an_unknown_event_is_acknowledged(
        zalo: TestClient, oa: FakeOa, rasa: FakeRasa) -> None:
    zalo_post(zalo, zalo_event("user_send_image", "zc1", text="giay hen kham",
                               attachment={"type": "image", "payload": {"url": "https://photo.zdn.vn/x.jpg"}}))
    assert zalo_post(zalo, zalo_event("user_reacted_message", "zc2")).status_code == 200
    wait_for(lambda: oa.sent)
    assert [s["message"] for s in rasa.seen] == ["giay hen kham"]


# --- the web chat ---

def voice(client: TestClient, audio: bytes, session: str = PAGE, message_id: str | None = "m-voice-01",
          **headers: str) -> httpx.Response:
    sent = {"X-Chat-Session": session, "content-type": "audio/webm", **headers}
    if message_id:
        sent["X-Message-Id"] = message_id
    return client.post("/chat/voice", content=audio, headers=sent)


def test_a_web_voice_note_is_heard_read_back_answered_and_kept_masked_in_the_transcript(
        telegram: TestClient, rasa: FakeRasa, speech: ScriptedSpeech) -> None:
    answer = voice(telegram, f"say:{SPOKEN_PHONE}".encode()).json()
    assert answer["heard"] == "số của tôi là 0977123987" and rasa.seen == []
    question = answer["replies"][0]
    assert question["text"] == fill(seeds()["gateway_voice_read_back"], {"text": "số của tôi là 0977123987"})
    heard_before = len(speech.heard)
    again = voice(telegram, f"say:{SPOKEN_PHONE}".encode()).json()  # sent again: answered from the transcript
    assert again["replies"][0]["buttons"] == question["buttons"] and "0977123987" not in json.dumps(again)
    assert len(speech.heard) == heard_before  # not heard twice
    yes = question["buttons"][0]
    confirmed = telegram.post("/chat/messages", json={"session_id": PAGE, "text": yes["payload"],
                                                      "message_id": "m-voice-02"}).json()
    assert [r["text"] for r in confirmed["replies"]] == ["Đã nhận: số của tôi là 0977123987"]
    assert unsigned(rasa.seen[0]["metadata"])["input"] == "voice"
    mine = [m["text"] for m in telegram.post("/chat/history", json={"session_id": PAGE}).json()["messages"]
            if m["who"] == "me"]
    assert mine == ["🎤 số của tôi là ••••••••••", yes["title"]]


def test_the_web_voice_door_refuses_what_a_script_would_send(telegram: TestClient, rasa: FakeRasa,
                                                             speech: ScriptedSpeech) -> None:
    for headers in ({"X-Chat-Session": "x"}, {"X-Chat-Session": PAGE, "X-Message-Id": "bad id!"},
                    {"X-Chat-Session": PAGE, "X-Chat-Language": "../../etc"}):
        refused = telegram.post("/chat/voice", content=b"say:a", headers=headers)
        assert refused.status_code == 422 and refused.json()["code"] == "validation_error"
    too_big = voice(telegram, b"0" * (MAX_AUDIO_BYTES + 1), session="w" + "1" * 24)
    assert too_big.status_code == 413 and too_big.json()["message"] == seeds()["gateway_voice_too_long"]
    # A few notes a minute from one address; the next is refused before any work.
    results = [voice(telegram, b"say:alo", session="w" + "2" * 24, message_id=f"m-limit-{i:02d}").status_code
               for i in range(4)]
    assert results[:2] == [200, 200] and results[-1] == 429
    assert telegram.post("/chat/voice", content=b"say:alo",
                         headers={"X-Chat-Session": PAGE}).json()["code"] == "too_many_voice_notes"
    assert len(speech.heard) == 2  # nothing refused was transcribed


def test_without_an_engine_a_web_voice_note_gets_please_type(tmp_path: Path, rasa: FakeRasa) -> None:
    settings = GatewaySettings(gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}", speech_engine="off")
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa))) as client:
        answer = voice(client, b"OggS...").json()
    assert [r["text"] for r in answer["replies"]] == [seeds()["gateway_voice_not_understood"]] and rasa.seen == []


# --- a shared location: the nearest sites ---

SITES = {"sites": [
    {"site_id": 3, "name": "Trạm Y tế xã Hữu Liên", "address": "Thôn Rinh Chùa", "phone": "0205 3821 111",
     "commune_id": 7, "commune_name": "Hữu Liên", "distance_km": 2.34,
     "next_sessions": [{"session_id": 12, "starts_at": "2026-12-08T07:30:00+07:00",
                        "ends_at": "2026-12-08T11:00:00+07:00", "seats_left": 14}]},
    {"site_id": 4, "name": "Điểm khám lưu động thôn Lân Bâu", "address": "Nhà văn hóa thôn Lân Bâu", "phone": "",
     "commune_id": 8, "commune_name": "Thiện Tân", "distance_km": 9.0, "next_sessions": []}]}


class FakeSitesApi:
    """The API's /sites/nearest as the gateway sees it: what it was asked, what it answers."""

    def __init__(self) -> None:
        self.asked: list[httpx.Request] = []
        self.answer: dict[str, Any] | None = SITES

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/api/v1/sites/nearest":
            return httpx.Response(404)
        self.asked.append(request)
        if self.answer is None:
            return httpx.Response(503)
        return httpx.Response(200, json=self.answer)


@pytest.fixture
def sites() -> FakeSitesApi:
    return FakeSitesApi()


@pytest.fixture
def located(tmp_path: Path, bot_api: FakeBotApi, rasa: FakeRasa, sites: FakeSitesApi) -> Iterator[TestClient]:
    settings = telegram_settings(tmp_path, bot_api, api_url="http://api.test")
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa),
                               api_transport=httpx.MockTransport(sites)), raise_server_exceptions=False) as client:
        yield client


def test_a_shared_location_gets_the_nearest_sites_with_a_book_button_and_is_kept_nowhere(
        located: TestClient, bot_api: FakeBotApi, rasa: FakeRasa, sites: FakeSitesApi, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    tg(located, update(95, None, location={"latitude": 21.7042, "longitude": 106.3517}))
    bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) == 3)
    header, first, second = bot_api.sent("sendMessage")
    assert header.data["text"] == seeds()["gateway_nearest_sites"]
    assert "Trạm Y tế xã Hữu Liên (xã Hữu Liên), cách khoảng 2 km" in first.data["text"]
    assert "Thứ Ba, 08/12/2026, 7:30–11:00 (còn 14 chỗ)" in first.data["text"]
    assert seeds()["gateway_nearest_no_session"] in second.data["text"]
    button = json.loads(first.data["reply_markup"])["inline_keyboard"][0][0]
    assert button["text"] == "Đặt lịch ở Trạm Y tế xã Hữu Liên"
    assert json.loads(sites.asked[0].content) == {"latitude": 21.7042, "longitude": 106.3517, "limit": 3}
    assert sites.asked[0].headers["X-Internal-Token"]
    assert rasa.seen == []  # Rasa's tracker would keep the coordinates
    stored = (tmp_path / "gateway.db").read_bytes()
    assert b"21.7042" not in stored and b"106.3517" not in stored and "21.7042" not in caplog.text


def test_the_book_button_of_a_nearest_site_starts_a_booking_in_its_commune(
        located: TestClient, bot_api: FakeBotApi, rasa: FakeRasa) -> None:
    tg(located, update(96, None, location={"latitude": 21.7042, "longitude": 106.3517}))
    bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) == 3)
    token = json.loads(bot_api.sent("sendMessage")[1].data["reply_markup"])["inline_keyboard"][0][0]["callback_data"]
    tg(located, {"update_id": 97, "callback_query": {
        "id": "cb1", "chat_instance": "ci", "data": token, "from": {"id": 42, "is_bot": False, "first_name": "Mai"},
        "message": {"message_id": 5, "date": 1_700_000_000, "chat": {"id": 42, "type": "private"}}}})
    wait_for(lambda: rasa.seen)
    assert rasa.seen[0]["message"] == '/book_exam{"commune": "Hữu Liên"}'


@pytest.mark.parametrize(("answer", "reply"), [(None, "gateway_location_received"),
                                               ({"sites": []}, "gateway_nearest_none")])
def test_a_location_the_api_cannot_place_gets_the_commune_question(
        located: TestClient, bot_api: FakeBotApi, sites: FakeSitesApi, answer: dict[str, Any] | None,
        reply: str) -> None:
    sites.answer = answer
    tg(located, update(98, None, location={"latitude": 10.77, "longitude": 106.70}))
    bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
    assert texts_sent(bot_api) == [seeds()[reply]]


def test_the_web_chat_shares_a_location_and_its_transcript_keeps_no_coordinates(
        located: TestClient, sites: FakeSitesApi, tmp_path: Path) -> None:
    body = {"session_id": PAGE, "message_id": "m-where-01", "latitude": 21.7042, "longitude": 106.3517}
    answer = located.post("/chat/location", json=body).json()
    assert answer["replies"][1]["buttons"][0]["payload"] == '/book_exam{"commune": "Hữu Liên"}'
    history = located.post("/chat/history", json={"session_id": PAGE}).json()["messages"]
    assert history[0] == {"who": "me", "text": seeds()["web_location_sent"], "id": "m-where-01"} and len(history) == 4
    assert b"21.7042" not in (tmp_path / "gateway.db").read_bytes()
    chat = f'"session_id": "{PAGE}"'
    for bad in ('"latitude": 91, "longitude": 0', '"latitude": NaN, "longitude": 0',  # Python's json reads NaN
                '"latitude": "ha noi", "longitude": 0', '"latitude": 21.7'):
        refused = located.post("/chat/location", content=f"{{{chat}, {bad}}}",
                               headers={"content-type": "application/json"})
        assert refused.status_code == 422, bad
    assert len(sites.asked) == 1


def test_a_zalo_location_gets_the_nearest_sites(tmp_path: Path, oa: FakeOa, rasa: FakeRasa,
                                                 sites: FakeSitesApi) -> None:
    settings = GatewaySettings(
        gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}", zalo_app_id=APP_ID, zalo_app_secret=APP_SECRET,
        zalo_oa_secret_key=OA_SECRET, zalo_refresh_token="refresh-1", zalo_api_base=oa.base,
        zalo_oauth_base=oa.base, per_chat_interval_s=0.0, api_url="http://api.test")
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa),
                               api_transport=httpx.MockTransport(sites)), raise_server_exceptions=False) as client:
        point = {"type": "location", "payload": {"coordinates": {"latitude": "21.7042", "longitude": "106.3517"}}}
        zalo_post(client, zalo_event("user_send_location", "zl1", attachment=point))
        wait_for(lambda: len(oa.sent) >= 3)
        off_globe = {"type": "location", "payload": {"coordinates": {"latitude": 500, "longitude": 0}}}
        zalo_post(client, zalo_event("user_send_location", "zl2", attachment=off_globe))
        wait_for(lambda: rasa.seen)
    assert zalo_texts(oa)[0] == seeds()["gateway_nearest_sites"] and len(sites.asked) == 1
    assert [s["message"] for s in rasa.seen] == ["/help"]  # an unreadable location: the short reply and the menu


def test_a_confirmed_voice_note_that_finds_the_assistant_down_waits_for_the_next_yes(
        telegram: TestClient, rasa: FakeRasa) -> None:
    question = voice(telegram, f"say:{SPOKEN_PHONE}".encode()).json()["replies"][0]
    yes = question["buttons"][0]["payload"]
    rasa.down = True
    busy = telegram.post("/chat/messages", json={"session_id": PAGE, "text": yes, "message_id": "m-yes-0001"}).json()
    assert busy["replies"][0]["text"] == seeds()["utter_service_busy"]
    rasa.down = False
    sent = telegram.post("/chat/messages", json={"session_id": PAGE, "text": yes, "message_id": "m-yes-0002"}).json()
    assert sent["replies"][0]["text"] == "Đã nhận: số của tôi là 0977123987"


def test_the_location_door_answers_a_repeat_from_the_transcript_and_counts_per_client(
        located: TestClient, sites: FakeSitesApi) -> None:
    body = {"session_id": PAGE, "message_id": "m-where-01", "latitude": 21.7042, "longitude": 106.3517}
    first = located.post("/chat/location", json=body).json()
    assert located.post("/chat/location", json=body).json()["replies"][0] == first["replies"][0]
    assert len(sites.asked) == 1
    statuses = [located.post("/chat/location", json=body | {"message_id": f"m-where-{i:02d}"}).status_code
                for i in range(2, 10)]
    assert statuses.count(200) == 5 and statuses[-1] == 429  # 6 a minute (the first included)


def test_the_per_minute_limit_counts_an_ipv6_host_once_and_forgets_the_oldest_clients() -> None:
    from gateway.app import PerMinute

    limit = PerMinute(2, max_keys=3)
    assert [limit.allow(f"2001:db8::{i}") for i in range(1, 4)] == [True, True, False]  # one /64
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"):
        assert limit.allow(address)
    assert len(limit._seen) == 3 and limit.allow("2001:db8::9")  # the /64 was the oldest: forgotten
