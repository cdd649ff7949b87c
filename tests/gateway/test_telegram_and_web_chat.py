"""The channel gateway: the real aiogram client against a local fake Bot API, a fake Rasa behind
httpx's mock transport, and the web chat through FastAPI's test client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from common.wording import seeds
from gateway.app import create_app, token_fernet
from gateway.config import GatewaySettings
from gateway.messages import split_text
from gateway.store import Store
from tests.support.fake_rasa import LONG_PAYLOAD, FakeRasa, signed_chat, unsigned
from tests.support.fake_telegram import FakeBotApi, keyboard, update
from tests.support.sql import recorded_statements

SECRET = "webhook-secret-123"
@pytest.fixture
def gateway(tmp_path: Path, bot_api: FakeBotApi, rasa: FakeRasa) -> Iterator[TestClient]:
    settings = GatewaySettings(
        gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}", telegram_bot_token="42:TEST",
        telegram_webhook_secret=SECRET, telegram_mode="webhook", telegram_api_base=bot_api.base,
        per_chat_interval_s=0.0, telegram_bot_username="ksk_bot", public_url="https://gw.example", rasa_retry_s=1.0)
    app = create_app(settings, rasa_transport=httpx.MockTransport(rasa))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def post(client: TestClient, body: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return client.post("/webhooks/telegram", json=body, headers=headers)


def test_webhook_refuses_a_missing_or_wrong_secret(gateway: TestClient, bot_api: FakeBotApi, rasa: FakeRasa) -> None:
    assert bot_api.sent("setWebhook")[0].data["secret_token"] == SECRET
    assert post(gateway, update(1, "xin chao"), secret=None).status_code == 403
    assert post(gateway, update(2, "xin chao"), secret="wrong").status_code == 403
    assert rasa.seen == []
    assert post(gateway, update(3, "xin chao")).status_code == 200
    bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) == 1)
    assert rasa.seen[0]["sender"] == "telegram:42" and unsigned(rasa.seen[0]["metadata"]) == {"channel": "telegram"}
    chat = signed_chat(rasa.seen[0]["metadata"])
    assert (chat.channel, chat.sender, chat.address) == ("telegram", "42", "")
    assert bot_api.sent("sendMessage")[0].data["text"] == "Đã nhận: xin chao"


def test_buttons_become_an_inline_keyboard_and_taps_reach_rasa(
    gateway: TestClient, bot_api: FakeBotApi, rasa: FakeRasa
) -> None:
    post(gateway, update(10, "nut"))
    bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
    rows = keyboard(bot_api.sent("sendMessage")[0])
    assert [[b["text"] for b in row] for row in rows] == [["Thứ Ba 7:30"], ["Thứ Tư 7:30"]]
    assert rows[0][0]["callback_data"] == '/inform{"session_id": "12"}'
    token = rows[1][0]["callback_data"]
    assert token.startswith("p:") and len(token.encode()) <= 64

    tap = {"update_id": 11, "callback_query": {
        "id": "cb-1", "chat_instance": "x", "data": token, "from": {"id": 42, "is_bot": False, "first_name": "Mai"},
        "message": {"message_id": 5, "date": 1_700_000_000, "chat": {"id": 42, "type": "private"}, "text": "x"}}}
    assert post(gateway, tap).status_code == 200
    bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) == 2)
    assert bot_api.sent("answerCallbackQuery")[0].data["callback_query_id"] == "cb-1"
    assert rasa.seen[-1]["message"] == LONG_PAYLOAD


def test_a_redelivered_update_is_handled_once(gateway: TestClient, bot_api: FakeBotApi, rasa: FakeRasa) -> None:
    for _ in range(3):
        assert post(gateway, update(20, "mot lan thoi")).status_code == 200
    bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
    gateway.portal.call(gateway.app.state.conversations.drain)  # type: ignore[attr-defined]
    assert [s["message"] for s in rasa.seen] == ["mot lan thoi"]
    assert len(bot_api.sent("sendMessage")) == 1


def test_start_with_a_referral_code_greets_and_carries_the_code(
    gateway: TestClient, bot_api: FakeBotApi, rasa: FakeRasa
) -> None:
    post(gateway, update(30, "/start HPN-ThanhHa_01"))
    bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
    assert rasa.seen[0]["message"] == "xin chào"
    assert unsigned(rasa.seen[0]["metadata"]) == {"channel": "telegram", "referral_code": "HPN-ThanhHa_01"}


def test_a_voice_message_gets_please_type_without_rasa(gateway: TestClient, bot_api: FakeBotApi,
                                                       rasa: FakeRasa) -> None:
    voice = {"file_id": "v1", "file_unique_id": "u1", "duration": 3}
    post(gateway, update(40, None, voice=voice))
    bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
    assert bot_api.sent("sendMessage")[0].data["text"] == seeds()["gateway_voice_not_understood"] and rasa.seen == []


def test_a_sticker_reaches_rasa_as_its_emoji_and_a_photo_as_its_caption(gateway: TestClient, bot_api: FakeBotApi,
                                                                          rasa: FakeRasa) -> None:
    sticker = {"file_id": "s1", "file_unique_id": "su1", "type": "regular", "width": 512, "height": 512,
               "is_animated": False, "is_video": False, "emoji": "👍"}
    post(gateway, update(45, None, sticker=sticker))
    photo = [{"file_id": "p1", "file_unique_id": "pu1", "width": 90, "height": 90}]
    post(gateway, update(46, None, photo=photo, caption="giay hen kham"))
    bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) == 2)
    assert [s["message"] for s in rasa.seen] == ["👍", "giay hen kham"]


def test_long_texts_are_split_between_sentences(gateway: TestClient, bot_api: FakeBotApi) -> None:
    post(gateway, update(50, "dai"))
    bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) == 2)
    parts = [c.data["text"] for c in bot_api.sent("sendMessage")]
    assert all(len(p) <= 4096 for p in parts) and all(p.endswith(".") for p in parts)
    assert " ".join(parts) == ("Đoạn văn dài. " * 300).strip()


def test_messages_of_one_chat_reach_rasa_and_the_resident_in_order(
    gateway: TestClient, bot_api: FakeBotApi, rasa: FakeRasa
) -> None:
    for i in range(1, 9):
        post(gateway, update(60 + i, f"tin {i}", chat=7))
    bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) == 8)
    assert [s["message"] for s in rasa.seen] == [f"tin {i}" for i in range(1, 9)]
    assert [c.data["text"] for c in bot_api.sent("sendMessage")] == [f"Đã nhận: tin {i}" for i in range(1, 9)]


def test_retry_after_and_server_errors_are_retried_without_duplicates(
    gateway: TestClient, bot_api: FakeBotApi
) -> None:
    bot_api.fail_next("sendMessage", 429, retry_after=1)
    bot_api.fail_next("sendMessage", 502)
    post(gateway, update(80, "thu lai"))
    bot_api.wait_for(lambda: any(c.data.get("text") == "Đã nhận: thu lai" for c in bot_api.calls
                                 if c.method == "sendMessage") and len(bot_api.sent("sendMessage")) == 3)
    store = gateway.app.state.store  # type: ignore[attr-defined]
    bot_api.wait_for(lambda: not store.due())
    assert len(bot_api.sent("sendMessage")) == 3  # 429, 502, then delivered once


def test_a_blocked_bot_is_not_retried(gateway: TestClient, bot_api: FakeBotApi) -> None:
    bot_api.fail_next("sendMessage", 403)
    post(gateway, update(90, "bi chan"))
    bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
    post(gateway, update(91, "tiep"))
    bot_api.wait_for(lambda: len(bot_api.sent("sendMessage")) == 2)
    assert bot_api.sent("sendMessage")[1].data["text"] == "Đã nhận: tiep"


def test_rasa_down_gives_a_short_busy_reply(gateway: TestClient, bot_api: FakeBotApi, rasa: FakeRasa) -> None:
    rasa.down = True
    post(gateway, update(100, "alo"))
    bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
    busy = seeds()["utter_service_busy"]
    assert bot_api.sent("sendMessage")[0].data["text"] == busy
    assert gateway.post("/chat/messages", json={"session_id": "web-session-1", "text": "alo"}).json() == {
        "replies": [{"text": busy, "buttons": [], "audio_url": None, "audio_language": None,
                     "input_mode": None}]}


def test_audio_is_sent_as_a_voice_note(gateway: TestClient, bot_api: FakeBotApi, rasa: FakeRasa) -> None:
    bot_api.files["loi-chao.ogg"] = (b"OggS-fake-opus", "audio/ogg")
    rasa.audio_url = f"{bot_api.base}/files/loi-chao.ogg"
    post(gateway, update(110, "nghe"))
    bot_api.wait_for(lambda: bot_api.sent("sendVoice"))
    call = bot_api.sent("sendVoice")[0]
    assert call.files[call.data["voice"].removeprefix("attach://")] == b"OggS-fake-opus"


def test_web_chat_page_widget_and_messages(gateway: TestClient, rasa: FakeRasa) -> None:
    page = gateway.get("/chat")
    assert page.status_code == 200 and "Trợ lý khám sức khỏe" in page.text and "http" not in page.text.split(
        "<body>")[0].replace("http-equiv", "")
    assert gateway.get("/chat/widget.js").status_code == 200 and gateway.get("/chat/nope.js").status_code == 404
    answer = gateway.post("/chat/messages", json={"session_id": "web-session-2", "text": "nut",
                                                  "referral_code": "DTN-01"}).json()
    assert [b["title"] for b in answer["replies"][0]["buttons"]] == ["Thứ Ba 7:30", "Thứ Tư 7:30"]
    assert rasa.seen[-1]["sender"] == "web:web-session-2"
    assert unsigned(rasa.seen[-1]["metadata"]) == {"channel": "web", "referral_code": "DTN-01"}
    for bad in ({"session_id": "x", "text": "a"}, {"session_id": "web-session-2", "text": ""},
                {"session_id": "web-session-2", "text": "a" * 1001}):
        refused = gateway.post("/chat/messages", json=bad)
        assert refused.status_code == 422 and "Tin nhắn" in refused.json()["message"]


def test_referral_link_records_the_click_and_offers_the_channels(gateway: TestClient) -> None:
    page = gateway.get("/r/HPN-01")
    assert page.status_code == 200
    assert "https://t.me/ksk_bot?start=HPN-01" in page.text and "/chat?ref=HPN-01" in page.text
    assert gateway.app.state.store.referral_clicks("HPN-01") == 1  # type: ignore[attr-defined]
    assert gateway.get("/r/bad code!").status_code == 404


def test_split_text_never_cuts_inside_a_word() -> None:
    text = "một hai ba " * 50
    parts = split_text(text, 37)
    assert all(len(p) <= 37 for p in parts) and " ".join(parts) == text.strip()


def test_the_referral_code_travels_with_every_later_message_of_the_chat(gateway: TestClient, rasa: FakeRasa) -> None:
    gateway.post("/chat/messages", json={"session_id": "web-session-9", "text": "xin chao", "referral_code": "HND-7"})
    gateway.post("/chat/messages", json={"session_id": "web-session-9", "text": "dat lich"})
    gateway.post("/chat/messages", json={"session_id": "web-session-10", "text": "dat lich"})
    assert [s["metadata"].get("referral_code") for s in rasa.seen] == ["HND-7", "HND-7", None]


def test_long_polling_for_local_use(tmp_path: Path, bot_api: FakeBotApi, rasa: FakeRasa) -> None:
    bot_api.updates.append(update(500, "qua polling", chat=9))
    settings = GatewaySettings(gateway_database_url=f"sqlite:///{tmp_path / 'gw.db'}", telegram_bot_token="42:TEST",
                               telegram_mode="polling", telegram_api_base=bot_api.base, per_chat_interval_s=0.0)
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa))):
        bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
        bot_api.wait_for(lambda: len(bot_api.sent("getUpdates")) >= 2)
    assert bot_api.sent("deleteWebhook") and rasa.seen[0]["message"] == "qua polling"
    assert len(bot_api.sent("sendMessage")) == 1  # the next poll asked from the following update on
    assert bot_api.sent("getUpdates")[-1].data["offset"] == "501"


def test_messages_accepted_before_a_restart_are_handled_after_it(
    tmp_path: Path, bot_api: FakeBotApi, rasa: FakeRasa
) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    Store(url, token_fernet()).accept("telegram:update:700", "telegram:5", {
        "channel": "telegram", "chat_id": "5", "text": "truoc khi tat", "referral_code": None, "language": None})
    settings = GatewaySettings(gateway_database_url=url, telegram_bot_token="42:TEST", telegram_mode="webhook",
                               telegram_webhook_secret=SECRET, telegram_api_base=bot_api.base, per_chat_interval_s=0.0)
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa))) as client:
        bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
        assert bot_api.sent("sendMessage")[0].data["text"] == "Đã nhận: truoc khi tat"
        assert b"truoc khi tat" not in (tmp_path / "gw.db").read_bytes()  # bodies are sealed
        post(client, update(700, "truoc khi tat", chat=5))  # Telegram redelivers it: already handled
        client.portal.call(client.app.state.conversations.drain)  # type: ignore[attr-defined]
    assert len(rasa.seen) == 1


def test_a_malformed_telegram_update_is_a_400(gateway: TestClient, rasa: FakeRasa) -> None:
    for body in ([1, 2], {"update_id": "not a number", "message": "x"}):
        response = post(gateway, body)  # type: ignore[arg-type]
        assert response.status_code == 400 and response.json()["code"] == "malformed"
    assert gateway.post("/webhooks/telegram", content=b"{not json", headers={
        "X-Telegram-Bot-Api-Secret-Token": SECRET}).status_code == 400
    assert rasa.seen == []


def test_an_input_hint_belongs_to_the_message_before_it_and_unknown_hints_are_ignored() -> None:
    from gateway.messages import from_rasa

    replies = from_rasa([{"text": "Số CCCD?"}, {"custom": {"input": "numeric"}},
                         {"text": "Ngày sinh?"}, {"custom": {"input": "<script>"}}])
    assert [(r.text, r.input_mode) for r in replies] == [("Số CCCD?", "numeric"), ("Ngày sinh?", None)]
    assert from_rasa([{"custom": {"input": "numeric"}}]) == []  # nothing to attach it to: nothing shown


def test_a_chats_referral_is_read_once_a_while_and_a_new_code_wins_on_its_own_gateway(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway import store as store_module

    url = f"sqlite:///{tmp_path / 'gw.db'}"
    first, second = Store(url, token_fernet()), Store(url, token_fernet())  # two gateways, one database
    assert first.chat_referral("web:a", "HND-7") == ("HND-7", True)
    with recorded_statements(first.engine) as seen:
        for _ in range(5):
            assert first.chat_referral("web:a", None) == ("HND-7", False)
    assert not [s for s in seen if "chat_referrals" in s]  # the chat's later messages do not read its row
    # Another gateway gets the message with a second link's code: this one's messages carry the new
    # code once its remembered answer is older than REFERRAL_CACHE_S.
    assert second.chat_referral("web:a", "LS-2") == ("LS-2", True)
    assert first.chat_referral("web:a", None) == ("HND-7", False)
    monkeypatch.setattr(store_module.time, "monotonic", lambda: time.monotonic_ns() / 1e9 + 31)
    assert first.chat_referral("web:a", None) == ("LS-2", False)
    # A chat without a code is remembered too, and a code on its own message is never outdated.
    assert first.chat_referral("web:b", None) == (None, False)
    assert first.chat_referral("web:b", "CB-1") == ("CB-1", True)
