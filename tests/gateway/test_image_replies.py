"""Pictures in the assistant's replies (a booking code's QR code, to show at the desk): an image
attachment `{"type": "image", "payload": {"url", "alt"}}` from the actions, or Rasa's own `image`, reaches
Telegram as an uploaded photo captioned with its text alternative, Zalo as an uploaded image with that text
under it, and the web chat as an <img> with it as alt. The image comes from the API's real QR route, served
here in a thread."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.bookings.qr import booking_qr_png
from api.bookings.qr import router as qr_router
from api.core import handlers
from common.booking_codes import qr_path
from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.messages import Button, Outgoing, from_rasa
from tests.support.browser import chromium
from tests.support.fake_rasa import FakeRasa
from tests.support.fake_telegram import FakeBotApi, update
from tests.support.fake_zalo import APP_ID, APP_SECRET, OA_SECRET, FakeOa, signed_event
from tests.support.qr import decode_qr
from tests.support.servers import app_in_thread, wait_for

CODE = "KE3MX7PA"
ALT = f"Mã QR của mã đặt lịch {CODE}"
CONFIRMED = f"Đã đặt lịch xong! Mã đặt lịch: {CODE}"


def picture(url: str, alt: str) -> dict[str, Any]:
    return {"type": "image", "payload": {"url": url, "alt": alt}}


class BookingRasa(FakeRasa):
    """"dat" is answered like a confirmed booking: the confirmation, then its QR code; "hong" with a
    picture whose URL the API refuses, then a text."""

    def __init__(self) -> None:
        super().__init__()
        self.api = ""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        text = json.loads(request.content)["message"]
        if text == "dat":
            self.seen.append(json.loads(request.content))
            return httpx.Response(200, json=[
                {"recipient_id": "x", "text": CONFIRMED},
                {"recipient_id": "x", "attachment": picture(self.api + qr_path(CODE), ALT)}])
        if text == "hong":
            self.seen.append(json.loads(request.content))
            return httpx.Response(200, json=[
                {"attachment": picture(self.api + "/api/v1/qr/bookings/not-a-code.png", "?")},
                {"text": "Tin sau ảnh."}])
        return super().__call__(request)


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    """The API's QR route alone, as the gateway reaches it."""
    app = FastAPI()
    handlers.install(app)
    app.include_router(qr_router, prefix="/api/v1")
    with app_in_thread(app) as base:
        yield base


@pytest.fixture
def rasa(api: str) -> BookingRasa:
    scripted = BookingRasa()
    scripted.api = api
    return scripted


def test_an_image_attachment_or_rasas_own_image_becomes_a_picture_after_the_text() -> None:
    qr = picture("https://api.example/qr.png", ALT)
    out = from_rasa([{"text": CONFIRMED}, {"attachment": qr},
                     {"image": "https://api.example/plain.png"}, {"text": "Có ảnh", "image": "http://x.example/a.png",
                                                                  "buttons": [{"title": "Tiếp", "payload": "/next"}]}])
    assert out == [Outgoing(text=CONFIRMED), Outgoing(image_url="https://api.example/qr.png", image_alt=ALT),
                   Outgoing(image_url="https://api.example/plain.png"),
                   Outgoing(text="Có ảnh", buttons=(Button("Tiếp", "/next"),)),
                   Outgoing(image_url="http://x.example/a.png")]
    # A replayed answer (bot/channels.recorded_replies) keeps a message's parts together: text, audio, picture.
    audio = {"audio": {"url": "https://api.example/a.mp3", "language": "vi"}}
    assert from_rasa([{"text": CONFIRMED, "custom": audio, "attachment": qr}]) == [
        Outgoing(text=CONFIRMED, audio_url="https://api.example/a.mp3", audio_language="vi"),
        Outgoing(image_url="https://api.example/qr.png", image_alt=ALT)]
    # Only web addresses: anything else is not a picture (and not a message).
    assert from_rasa([{"attachment": picture("javascript:alert(1)", "x")}, {"image": "file:///etc/passwd"},
                      {"attachment": {"type": "file", "payload": {"url": "https://a.example/b.pdf"}}},
                      {"attachment": "https://a.example/b.png"}]) == []


def test_a_picture_survives_the_transcript_and_the_page_sees_it_only_when_there_is_one() -> None:
    picture = Outgoing(image_url="https://api.example/qr.png", image_alt=ALT)
    assert Outgoing.from_json(picture.to_json()) == picture
    assert Outgoing.from_json({"text": "cũ", "buttons": []}) == Outgoing(text="cũ")  # turns kept before pictures
    assert picture.page()["image_url"] == "https://api.example/qr.png" and picture.page()["image_alt"] == ALT
    assert Outgoing(text="chữ").page() == {"text": "chữ", "buttons": [], "audio_url": None, "audio_language": None,
                                           "input_mode": None}


# --- Telegram ---

@pytest.fixture
def telegram(tmp_path: Path, bot_api: FakeBotApi, rasa: BookingRasa) -> Iterator[TestClient]:
    settings = GatewaySettings(
        gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}", telegram_bot_token="42:TEST",
        telegram_webhook_secret="webhook-secret-123", telegram_mode="webhook", telegram_api_base=bot_api.base,
        per_chat_interval_s=0.0, telegram_bot_username="ksk_bot", public_url="https://gw.example", rasa_retry_s=1.0)
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa)),
                    raise_server_exceptions=False) as client:
        yield client


def telegram_post(client: TestClient, body: dict[str, Any]) -> None:
    assert client.post("/webhooks/telegram", json=body,
                       headers={"X-Telegram-Bot-Api-Secret-Token": "webhook-secret-123"}).status_code == 200


def test_telegram_gets_the_qr_code_as_a_photo_after_the_confirmation(telegram: TestClient,
                                                                      bot_api: FakeBotApi) -> None:
    telegram_post(telegram, update(1, "dat"))
    bot_api.wait_for(lambda: bot_api.sent("sendPhoto"))
    assert [c.method for c in bot_api.calls if c.method.startswith("send")] == ["sendMessage", "sendPhoto"]
    assert bot_api.sent("sendMessage")[0].data["text"] == CONFIRMED
    photo = bot_api.sent("sendPhoto")[0]
    assert photo.data["caption"] == ALT and photo.data["chat_id"] == "42"
    uploaded = photo.files[photo.data["photo"].removeprefix("attach://")]
    assert uploaded == booking_qr_png(CODE) and decode_qr(uploaded) == CODE


def test_a_picture_the_api_refuses_is_dropped_at_once_and_what_follows_still_arrives(
        telegram: TestClient, bot_api: FakeBotApi) -> None:
    telegram_post(telegram, update(2, "hong"))
    bot_api.wait_for(lambda: bot_api.sent("sendMessage"))
    assert bot_api.sent("sendMessage")[0].data["text"] == "Tin sau ảnh."
    assert bot_api.sent("sendPhoto") == []
    store = telegram.app.state.store  # type: ignore[attr-defined]
    # Given up on, not waiting for a retry; the text after it sent.
    wait_for(lambda: store.depths() == {"inbox_pending": 0, "outbox_pending": 0, "outbox_failed": 1},
             what=store.depths)


# --- Zalo ---

@pytest.fixture
def zalo(tmp_path: Path, oa: FakeOa, rasa: BookingRasa) -> Iterator[TestClient]:
    settings = GatewaySettings(
        gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}", zalo_app_id=APP_ID, zalo_app_secret=APP_SECRET,
        zalo_oa_secret_key=OA_SECRET, zalo_refresh_token="refresh-1", zalo_api_base=oa.base,
        zalo_oauth_base=oa.base, per_chat_interval_s=0.0, zalo_oa_id="ksk-oa")
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa)),
                    raise_server_exceptions=False) as client:
        yield client


def test_zalo_gets_the_qr_code_uploaded_and_sent_as_an_image_with_its_text(zalo: TestClient, oa: FakeOa) -> None:
    body, headers = signed_event("dat", "u-9", "m-qr")
    assert zalo.post("/webhooks/zalo", content=body, headers=headers).status_code == 200
    wait_for(lambda: len(oa.sent) == 2, what=lambda: oa.sent)
    assert oa.sent[0]["message"] == {"text": CONFIRMED}
    assert oa.sent[1] == {"recipient": {"user_id": "u-9"}, "message": {"text": ALT, "attachment": {
        "type": "template", "payload": {"template_type": "media",
                                        "elements": [{"media_type": "image", "attachment_id": "att-1"}]}}}}
    assert oa.uploads == [booking_qr_png(CODE)] and decode_qr(oa.uploads[0]) == CODE


# --- the web chat ---

def test_the_web_chat_gets_the_picture_with_its_text_alternative(tmp_path: Path, rasa: BookingRasa) -> None:
    settings = GatewaySettings(gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}", rasa_retry_s=1.0)
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa))) as client:
        page = "w" + "0a" * 12
        replies = client.post("/chat/messages", json={"session_id": page, "text": "dat",
                                                      "message_id": "m-qr-0001"}).json()["replies"]
        history = client.post("/chat/history", json={"session_id": page}).json()["messages"]
    assert replies[0]["text"] == CONFIRMED
    assert (replies[1]["image_url"], replies[1]["image_alt"]) == (rasa.api + qr_path(CODE), ALT)
    assert history[-1]["image_alt"] == ALT  # a reload shows it again


@pytest.mark.slow
def test_the_web_chat_page_shows_the_picture_with_its_alt_text_on_a_phone(tmp_path: Path, api: str) -> None:
    """chat.js alone: the page's requests are answered in the browser with a reply that carries a picture
    (the gateway's side is the test above)."""
    answer = {"replies": [{"text": CONFIRMED, "buttons": []},
                          {"text": "", "buttons": [], "image_url": api + qr_path(CODE), "image_alt": ALT}]}
    stub = "var answer = " + json.dumps(answer) + """;
      window.fetch = function (path) {
        var body = String(path).indexOf("/chat/history") >= 0 ? {messages: []} : answer;
        return Promise.resolve(new Response(JSON.stringify(body), {headers: {"content-type": "application/json"}}));
      };"""
    settings = GatewaySettings(gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}")
    with app_in_thread(create_app(settings)) as base, chromium(width=320) as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": stub})
        driver.get(f"{base}/chat")
        wait_for(lambda: driver.execute_script(
            "var i = document.querySelector('img.picture'); return !!(i && i.complete && i.naturalWidth);"),
            what=lambda: driver.page_source[-2000:])
        shown = driver.execute_script("""
            var i = document.querySelector('img.picture'), r = i.getBoundingClientRect();
            return {alt: i.alt, width: r.width, right: r.right, screen: document.documentElement.clientWidth,
                    natural: i.naturalWidth};""")
        # Screen readers hear the reply with the picture's text alternative.
        wait_for(lambda: ALT in driver.execute_script("return document.getElementById('announce').textContent"))
    assert shown["alt"] == ALT and shown["natural"] == 348
    # On a 320 px phone: as wide as it can be, never wider than the screen.
    assert shown["width"] >= 200 and shown["right"] <= shown["screen"]
