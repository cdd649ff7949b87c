"""Zalo OA through the gateway: signed and tampered webhooks, and a local fake OA API that answers
success, -216 (token expired), -213, -32 and 5xx — proving refresh, retry and no duplicate sends."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from common.wording import seeds
from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.store import OutboxItem
from gateway.zalo import signature
from tests.support.fake_rasa import FakeRasa, signed_chat, unsigned
from tests.support.fake_zalo import APP_ID, APP_SECRET, OA_SECRET, FakeOa
from tests.support.servers import wait_for


@pytest.fixture
def gateway(tmp_path: Path, oa: FakeOa, rasa: FakeRasa) -> Iterator[TestClient]:
    settings = GatewaySettings(
        gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}", zalo_app_id=APP_ID, zalo_app_secret=APP_SECRET,
        zalo_oa_secret_key=OA_SECRET, zalo_refresh_token="refresh-1", zalo_api_base=oa.base,
        zalo_oauth_base=oa.base, per_chat_interval_s=0.0, zalo_oa_id="ksk-oa")
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa)),
                    raise_server_exceptions=False) as client:
        yield client


def now_ms(offset_s: float = 0.0) -> int:
    return int((time.time() + offset_s) * 1000)


def event(name: str = "user_send_text", text: str = "xin chao", user: str = "u-77", msg_id: str = "m1",
          timestamp: int | None = None) -> dict[str, Any]:
    """A Zalo event as the OA webhook sends it, stamped now unless told otherwise."""
    return {"app_id": APP_ID, "event_name": name, "timestamp": str(timestamp or now_ms()), "sender": {"id": user},
            "recipient": {"id": "oa-1"}, "message": {"text": text, "msg_id": msg_id}}


def post(client: TestClient, body: dict[str, Any], *, secret: str = OA_SECRET, tamper: bool = False) -> httpx.Response:
    raw = json.dumps(body).encode()
    mac = signature(APP_ID, raw, str(body["timestamp"]), secret)
    if tamper:
        raw = raw.replace(b"xin chao", b"xin chao!")
    return client.post("/webhooks/zalo", content=raw, headers={"X-ZEvent-Signature": mac,
                                                                 "content-type": "application/json"})


def test_only_correctly_signed_events_are_accepted(gateway: TestClient, oa: FakeOa, rasa: FakeRasa) -> None:
    assert post(gateway, event(msg_id="a"), tamper=True).status_code == 401
    assert post(gateway, event(msg_id="b"), secret="wrong").status_code == 401
    assert gateway.post("/webhooks/zalo", json=event(msg_id="c")).status_code == 401
    assert rasa.seen == []
    assert post(gateway, event(msg_id="d")).status_code == 200
    wait_for(lambda: oa.sent, what=lambda: oa.attempts)
    assert rasa.seen[0]["sender"] == "zalo:u-77" and unsigned(rasa.seen[0]["metadata"]) == {"channel": "zalo"}
    chat = signed_chat(rasa.seen[0]["metadata"])
    assert (chat.channel, chat.sender, chat.address) == ("zalo", "u-77", "")
    assert oa.sent[0] == {"recipient": {"user_id": "u-77"}, "message": {"text": "Đã nhận: xin chao"}}


def test_first_send_refreshes_the_token_and_stores_the_new_pair_encrypted(gateway: TestClient, oa: FakeOa) -> None:
    post(gateway, event(msg_id="t1"))
    wait_for(lambda: oa.sent, what=lambda: oa.attempts)
    assert oa.refreshes == ["refresh-1"] and oa.attempts == ["access-2"]
    stored = gateway.app.state.store.token("zalo")  # type: ignore[attr-defined]
    assert stored and "access-2" not in stored and "refresh-2" not in stored
    post(gateway, event(msg_id="t2"))
    wait_for(lambda: len(oa.sent) == 2, what=lambda: oa.attempts)
    assert oa.refreshes == ["refresh-1"]  # the stored token is re-used


def test_expired_token_is_refreshed_once_and_the_message_sent_once(gateway: TestClient, oa: FakeOa) -> None:
    post(gateway, event(msg_id="e1"))
    wait_for(lambda: oa.sent)
    oa.plan.append(-216)
    post(gateway, event(text="lan hai", msg_id="e2"))
    wait_for(lambda: len(oa.sent) == 2, what=lambda: oa.attempts)
    assert oa.refreshes == ["refresh-1", "refresh-2"]
    assert [m["message"]["text"] for m in oa.sent] == ["Đã nhận: xin chao", "Đã nhận: lan hai"]


def test_server_errors_are_retried_without_duplicates(gateway: TestClient, oa: FakeOa) -> None:
    post(gateway, event(msg_id="warm"))
    wait_for(lambda: oa.sent)
    oa.plan.extend([502, 503])
    post(gateway, event(text="sau loi", msg_id="r1"))
    wait_for(lambda: len(oa.sent) == 2, timeout_s=15, what=lambda: oa.attempts)
    assert [m["message"]["text"] for m in oa.sent].count("Đã nhận: sau loi") == 1


def test_people_who_cannot_be_messaged_are_not_retried_and_rate_limits_back_off(
    gateway: TestClient, oa: FakeOa
) -> None:
    post(gateway, event(msg_id="warm"))
    wait_for(lambda: oa.sent)
    before = len(oa.attempts)
    oa.plan.append(-213)
    post(gateway, event(text="khong gui duoc", msg_id="x1"))
    store = gateway.app.state.store  # type: ignore[attr-defined]

    def failed() -> int:
        with store.session() as session:
            return session.query(OutboxItem).filter(OutboxItem.failed.is_(True)).count()

    wait_for(lambda: failed() == 1)
    assert len(oa.attempts) == before + 1

    oa.plan.append(-32)
    post(gateway, event(text="cham lai", msg_id="x2"))
    wait_for(lambda: len(oa.attempts) == before + 2)

    def backing_off() -> list[OutboxItem]:
        with store.session() as session:
            return list(session.query(OutboxItem).filter(OutboxItem.failed.is_(False), OutboxItem.attempts == 1))

    wait_for(lambda: backing_off())  # the gateway records the failure just after Zalo answered
    assert "-32" in backing_off()[0].last_error and len(oa.attempts) == before + 2


def test_buttons_show_their_title_and_a_tap_sends_the_payload(
    gateway: TestClient, oa: FakeOa, rasa: FakeRasa
) -> None:
    post(gateway, event(text="nut", msg_id="b1"))
    wait_for(lambda: oa.sent)
    buttons = oa.sent[0]["message"]["attachment"]["payload"]["buttons"]
    assert buttons[0] == {"title": "Thứ Ba 7:30", "type": "oa.query.show", "payload": "Thứ Ba 7:30"}
    post(gateway, event(text="Thứ Ba 7:30", msg_id="b2"))
    wait_for(lambda: len(rasa.seen) == 2)
    assert rasa.seen[1]["message"] == '/inform{"session_id": "12"}'
    # Another resident typing the same words sends just the words.
    post(gateway, event(text="Thứ Ba 7:30", user="u-88", msg_id="b3"))
    wait_for(lambda: len(rasa.seen) == 3)
    assert rasa.seen[2]["message"] == "Thứ Ba 7:30"


def test_redelivery_follow_audio_and_voice(gateway: TestClient, oa: FakeOa, rasa: FakeRasa) -> None:
    for _ in range(3):
        post(gateway, event(text="mot lan", msg_id="dup"))
    wait_for(lambda: oa.sent)
    post(gateway, {"app_id": APP_ID, "event_name": "follow", "timestamp": str(now_ms()),
                   "follower": {"id": "u-99"}, "oa_id": "oa-1"})
    wait_for(lambda: any(s["sender"] == "zalo:u-99" for s in rasa.seen))
    assert [s["message"] for s in rasa.seen] == ["mot lan", "xin chào"]

    rasa.audio_url = "https://audio.example/loi-chao.mp3"
    post(gateway, event(text="nghe", msg_id="au"))
    wait_for(lambda: any("attachment" in m["message"] and m["message"]["attachment"]["payload"]["buttons"][0]["type"]
                         == "oa.open.url" for m in oa.sent))
    voice = event(name="user_send_audio", msg_id="v1")
    post(gateway, voice)
    wait_for(lambda: any(m["message"]["text"] == seeds()["gateway_voice_not_understood"] for m in oa.sent))
    assert not any(s["message"] == "xin chao" and s["sender"] == "zalo:u-77" for s in rasa.seen[2:])


def test_a_signed_event_of_the_wrong_shape_is_a_400_not_a_crash(gateway: TestClient, rasa: FakeRasa) -> None:
    odd = {"app_id": APP_ID, "event_name": "user_send_text", "timestamp": str(now_ms()), "sender": "u-1",
           "message": ["not", "an", "object"]}
    response = post(gateway, odd)
    assert response.status_code == 400 and response.json()["code"] == "malformed"
    assert rasa.seen == []


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("ksk_gateway_zalo_events_refused_total", {"reason": reason}) or 0.0


@pytest.mark.parametrize(("offset_s", "reason"), [(-11 * 60, "old"), (-3 * 86_400, "old"), (5 * 60, "ahead")])
def test_a_signed_event_that_is_not_fresh_is_acknowledged_counted_and_dropped(
    gateway: TestClient, oa: FakeOa, rasa: FakeRasa, caplog: pytest.LogCaptureFixture, offset_s: int, reason: str
) -> None:
    """The signature never expires and the inbox forgets keys after a few days: a captured event
    replayed later (or stamped ahead to outlive the window) must not act. 200, so Zalo does not retry."""
    before = refused(reason)
    replayed = event(text="co, huy lich", msg_id=f"replay{offset_s}", timestamp=now_ms(offset_s))
    assert post(gateway, replayed).status_code == 200
    assert refused(reason) == before + 1
    assert "refused a signed Zalo user_send_text event" in caplog.text and "u-77" not in caplog.text
    # A fresh event (a few minutes late is fine) still goes through, and only it reaches Rasa.
    assert post(gateway, event(text="moi", msg_id="fresh", timestamp=now_ms(-4 * 60))).status_code == 200
    wait_for(lambda: oa.sent, what=lambda: oa.attempts)
    assert [seen["message"] for seen in rasa.seen] == ["moi"]


def test_the_accepted_age_is_configurable(tmp_path: Path, oa: FakeOa, rasa: FakeRasa,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZALO_EVENT_MAX_AGE_S", "30")
    settings = GatewaySettings(gateway_database_url=f"sqlite:///{tmp_path / 'gw.db'}", per_chat_interval_s=0.0,
                               **oa.gateway_settings())
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa))) as client:
        post(client, event(text="mot phut truoc", msg_id="late", timestamp=now_ms(-60)))
        post(client, event(text="vua xong", msg_id="now"))
        wait_for(lambda: oa.sent, what=lambda: oa.attempts)
        client.portal.call(client.app.state.conversations.drain)  # type: ignore[attr-defined]
    assert [seen["message"] for seen in rasa.seen] == ["vua xong"]
