"""The gateway's words come from the content store: staff's published wording (a fake API's bundle)
reaches residents on every channel and the web pages, in their language with Vietnamese as the
fallback; the seeds speak while the API is down; the bundle is polled with its ETag."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from common.keys import internal_token
from common.wording import seeds
from gateway import messages
from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.errors import UnreadableMessage
from gateway.wording import MissingText, Wording
from tests.gateway.conftest import FakeContentApi
from tests.support.env import TEST_SECRET
from tests.support.fake_rasa import FakeRasa
from tests.support.fake_telegram import FakeBotApi, update
from tests.support.fake_zalo import FakeOa, signed_event
from tests.support.servers import wait_for

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
SECRET = "webhook-secret-123"
BUSY_VI, BUSY_TAY = "Hệ thống đang quá tải, xin chờ một lát.", "Tày: hệ thống bận."


def wording(api: FakeContentApi) -> Wording:
    return Wording("http://api.test", transport=httpx.MockTransport(api), refresh_s=60)


# --- the cache on its own ---

def test_published_words_replace_the_seeds_in_the_resident_language_else_vietnamese(
    content_api: FakeContentApi
) -> None:
    content_api.publish("utter_service_busy", vi=BUSY_VI, tyz=BUSY_TAY)
    content_api.publish("web_referral_zalo_hint", tyz="Zalo: {code} ({other})")
    words = wording(content_api)
    assert words.text("utter_service_busy") == seeds()["utter_service_busy"]  # before the first poll: seeds
    assert asyncio.run(words.refresh()) is True
    assert words.text("utter_service_busy") == BUSY_VI
    assert words.text("utter_service_busy", "vi") == BUSY_VI
    assert words.text("utter_service_busy", "tyz") == BUSY_TAY
    assert words.text("utter_service_busy", "nut") == BUSY_VI  # nothing in Nùng: staff's Vietnamese
    assert words.text("gateway_listen", "tyz") == "Nghe lời nhắn"  # nothing published: the seed
    # Named placeholders only: what the code offers is filled, anything else stays as written.
    assert words.text("web_referral_zalo_hint", "tyz", code="HPN-01") == "Zalo: HPN-01 ({other})"
    assert words.text("web_referral_zalo_hint", code="HPN-01") == (
        "Trên Zalo, nhắn mã HPN-01 để cán bộ biết ai đã giới thiệu.")
    with pytest.raises(MissingText):
        words.text("gateway_no_such_key")


def test_the_bundle_is_polled_with_its_etag_and_kept_on_304(content_api: FakeContentApi) -> None:
    content_api.publish("gateway_voice_message", vi="Nghe đây:")
    words = wording(content_api)

    async def scenario() -> None:
        assert await words.refresh() is True
        assert await words.refresh() is False
        content_api.publish("gateway_voice_message", vi="Nghe lời nhắn này:")
        assert await words.refresh() is True
        await words.close()

    first_etag = content_api.etag
    asyncio.run(scenario())
    sent = [r.headers.get("If-None-Match") for r in content_api.bundle_requests()]
    assert sent == [None, first_etag, first_etag]
    assert content_api.answers == [200, 304, 200]
    assert words.text("gateway_voice_message") == "Nghe lời nhắn này:" and words.version == content_api.etag[1:-1]


def test_an_api_that_is_down_or_answers_nonsense_leaves_the_last_words(
    content_api: FakeContentApi, caplog: pytest.LogCaptureFixture
) -> None:
    words = wording(content_api)
    content_api.down = True
    assert asyncio.run(words.refresh()) is False and asyncio.run(words.refresh()) is False
    assert words.text("utter_service_busy", "tyz") == seeds()["utter_service_busy"]
    assert caplog.text.count("content service unreachable") == 1  # once per outage, not every poll

    content_api.down = False
    content_api.publish("utter_service_busy", vi=BUSY_VI)
    asyncio.run(words.refresh())
    content_api.down = True
    assert asyncio.run(words.refresh()) is False
    assert words.text("utter_service_busy") == BUSY_VI

    for answer in (httpx.Response(500), httpx.Response(200, content=b"<html>"),
                   httpx.Response(200, json={"version": "x", "messages": ["not", "a", "mapping"]})):
        odd = Wording("http://api.test", transport=httpx.MockTransport(lambda _r, a=answer: a))
        odd.messages = words.messages
        assert asyncio.run(odd.refresh()) is False and odd.text("utter_service_busy") == BUSY_VI


def test_every_key_the_gateway_says_is_seeded() -> None:
    """A typo in a key would only show when a resident is answered: every key the code and the
    templates name has a seed."""
    used = {messages.BUSY_RESPONSE, messages.VOICE_NOT_UNDERSTOOD, messages.VOICE_MESSAGE, messages.LISTEN,
            messages.MORE_CHOICES, UnreadableMessage.text_key}
    for template in (GATEWAY / "templates").iterdir():
        used |= set(re.findall(r"""text\(["']([a-z0-9_]+)["']""", template.read_text(encoding="utf-8")))
    assert len(used) > 20
    assert used - set(seeds()) == set()
    # The seeds keep the words the gateway used before they moved to the content store.
    assert seeds()["gateway_more_choices"] == "Chọn tiếp:"
    assert seeds()["gateway_message_invalid"] == "Tin nhắn chưa hợp lệ (trống hoặc quá dài). Xin gõ lại."


# --- through the gateway ---

@pytest.fixture
def gateway(tmp_path: Path, bot_api: FakeBotApi, oa: FakeOa, rasa: FakeRasa, content_api: FakeContentApi,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("CONTENT_REFRESH_S", "0.05")
    settings = GatewaySettings(
        gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}", telegram_bot_token="42:TEST",
        telegram_webhook_secret=SECRET, telegram_mode="webhook", telegram_api_base=bot_api.base,
        per_chat_interval_s=0.0, telegram_bot_username="ksk_bot", rasa_retry_s=0.5, **oa.gateway_settings())
    app = create_app(settings, rasa_transport=httpx.MockTransport(rasa),
                     api_transport=httpx.MockTransport(content_api))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def chat(client: TestClient, text: str, language: str | None = None, session: str = "web-session-1") -> Any:
    body = {"session_id": session, "text": text, **({"language": language} if language else {})}
    return client.post("/chat/messages", json=body).json()


def telegram_voice(client: TestClient, update_id: int) -> None:
    voice = {"file_id": "v1", "file_unique_id": "u1", "duration": 3}
    client.post("/webhooks/telegram", json=update(update_id, None, voice=voice),
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})


def test_a_published_busy_text_reaches_residents_in_their_language(
    content_api: FakeContentApi, gateway: TestClient, bot_api: FakeBotApi, rasa: FakeRasa
) -> None:
    content_api.publish("utter_service_busy", vi=BUSY_VI, tyz=BUSY_TAY)
    rasa.down = True
    wait_for(lambda: chat(gateway, "alo", "tyz")["replies"][0]["text"] == BUSY_TAY,
             what=lambda: content_api.answers)
    assert chat(gateway, "alo", "nut")["replies"][0]["text"] == BUSY_VI
    assert chat(gateway, "alo")["replies"][0]["text"] == BUSY_VI
    gateway.post("/webhooks/telegram", json=update(1, "alo"), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
    assert bot_api.sent("sendMessage")[0].data["text"] == BUSY_VI  # Telegram does not say the language


def test_published_voice_texts_reach_telegram_and_zalo(
    content_api: FakeContentApi, gateway: TestClient, bot_api: FakeBotApi, oa: FakeOa
) -> None:
    content_api.publish("gateway_voice_not_understood", vi="Xin gõ chữ ạ.")
    content_api.publish("gateway_voice_message", vi="Lời nhắn:", tyz="Tày: lời nhắn")
    content_api.publish("gateway_listen", tyz="Tày: nghe")
    content_api.publish("gateway_more_choices", tyz="Tày: chọn tiếp")
    wait_for(lambda: gateway.app.state.wording.version == content_api.etag[1:-1])  # type: ignore[attr-defined]
    telegram_voice(gateway, 2)
    bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
    assert bot_api.sent("sendMessage")[0].data["text"] == "Xin gõ chữ ạ."

    # A Zalo resident who wrote lately gets a voice note and a long list of buttons, in Tày and in Nùng.
    raw, headers = signed_event("xin chao", "u-77", "z1")
    assert gateway.post("/webhooks/zalo", content=raw, headers=headers).status_code == 200
    wait_for(lambda: oa.sent, what=lambda: oa.attempts)
    audio = {"text": "", "audio_url": "https://audio.example/loi.mp3"}
    many = {"text": "Chọn buổi:", "buttons": [[f"Buổi {i}", f"/pick{i}"] for i in range(7)]}
    token = {"X-Internal-Token": internal_token(TEST_SECRET.encode())}
    for key, language in (("tay", "tyz"), ("nung", "nut")):
        answer = gateway.post("/notify", headers=token, json={
            "key": f"voice-{key}", "channel": "zalo", "chat_id": "u-77", "language": language,
            "messages": [audio, many]})
        assert answer.status_code == 202, answer.text
    wait_for(lambda: len(oa.sent) == 7, what=lambda: oa.sent)
    tay, nung = oa.sent[1:4], oa.sent[4:7]
    assert tay[0]["message"]["text"] == "Tày: lời nhắn"
    assert tay[0]["message"]["attachment"]["payload"]["buttons"][0]["title"] == "Tày: nghe"
    assert tay[2]["message"]["text"] == "Tày: chọn tiếp"
    assert nung[0]["message"]["text"] == "Lời nhắn:"  # staff's Vietnamese
    assert nung[0]["message"]["attachment"]["payload"]["buttons"][0]["title"] == "Nghe lời nhắn"  # the seed
    assert nung[2]["message"]["text"] == "Chọn tiếp:"


def test_published_web_page_words_are_rendered_in_the_page_language(
    content_api: FakeContentApi, gateway: TestClient
) -> None:
    content_api.publish("web_message_placeholder", vi="Nhắn ở đây…", tyz="Tày: nhắn ở đây…")
    content_api.publish("web_send", tyz="<b>Pày</b>")
    content_api.publish("web_widget_button", tyz="Tày: hỏi")
    content_api.publish("gateway_message_invalid", tyz="Tày: tin nhắn chưa được")
    content_api.publish("web_referral_zalo_hint", vi="Nhắn mã {code} trên Zalo.")
    wait_for(lambda: gateway.app.state.wording.version == content_api.etag[1:-1])  # type: ignore[attr-defined]
    tay = gateway.get("/chat", params={"lang": "tyz"}).text
    assert 'placeholder="Tày: nhắn ở đây…"' in tay
    assert "&lt;b&gt;Pày&lt;/b&gt;" in tay and "<b>" not in tay  # staff's words are text, not markup
    assert f">{seeds()['web_assistant_name']}</h1>" in tay
    nung = gateway.get("/chat", params={"lang": "nut"}).text
    assert 'placeholder="Nhắn ở đây…"' in nung and '<button type="submit">Gửi</button>' in nung
    assert json.dumps("Tày: hỏi") in gateway.get("/chat/widget.js", params={"lang": "tyz"}).text
    refused = gateway.post("/chat/messages", json={"session_id": "web-session-2", "text": "", "language": "tyz"})
    assert refused.status_code == 422 and refused.json()["message"] == "Tày: tin nhắn chưa được"
    refused = gateway.post("/chat/messages", json={"session_id": "web-session-2", "text": ""})
    assert refused.json()["message"] == seeds()["gateway_message_invalid"]
    referral = gateway.get("/r/HPN-01").text  # Vietnamese: a link does not say its reader's language
    assert "<p class=\"hint\">Nhắn mã HPN-01 trên Zalo.</p>" in referral and "Mở bằng Telegram" in referral
    # A change published while the gateway runs reaches the next page within the refresh interval.
    content_api.publish("web_message_placeholder", tyz="Tày: nhắn lại…")
    wait_for(lambda: 'placeholder="Tày: nhắn lại…"' in gateway.get("/chat", params={"lang": "tyz"}).text)


def test_with_the_api_down_the_seeds_speak_and_nothing_breaks(
    tmp_path: Path, bot_api: FakeBotApi, rasa: FakeRasa, content_api: FakeContentApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTENT_REFRESH_S", "0.05")
    content_api.down = True
    settings = GatewaySettings(
        gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}", telegram_bot_token="42:TEST",
        telegram_webhook_secret=SECRET, telegram_mode="webhook", telegram_api_base=bot_api.base,
        per_chat_interval_s=0.0, rasa_retry_s=0.5)
    app = create_app(settings, rasa_transport=httpx.MockTransport(rasa),
                     api_transport=httpx.MockTransport(content_api))
    with TestClient(app) as client:
        wait_for(lambda: len(content_api.bundle_requests()) >= 3)  # still polling, failure after failure
        page = client.get("/chat", params={"lang": "tyz"})
        assert page.status_code == 200 and 'placeholder="Gõ tin nhắn, có dấu hoặc không dấu…"' in page.text
        assert "<h1>Đường dẫn không đúng</h1>" in client.get("/r/bad code!").text
        telegram_voice(client, 3)
        bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
        assert bot_api.sent("sendMessage")[0].data["text"] == (
            "Xin lỗi, tôi chưa nghe được tin nhắn thoại. Bác/anh/chị vui lòng gõ chữ (có dấu hoặc không dấu đều "
            "được), hoặc bấm các nút bên dưới tin nhắn.")
        rasa.down = True
        assert chat(client, "alo", "tyz")["replies"][0]["text"] == (
            "Hệ thống đang bận, bác/anh/chị vui lòng thử lại sau ít phút ạ.")
        # The API comes back: staff's words are taken at the next poll.
        content_api.publish("utter_service_busy", tyz=BUSY_TAY)
        content_api.down = False
        wait_for(lambda: chat(client, "alo", "tyz")["replies"][0]["text"] == BUSY_TAY)
