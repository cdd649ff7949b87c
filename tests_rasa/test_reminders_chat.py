"""Reminders in the chat: the offer after a booking, the explicit "yes" filed with the notice shown and
the ways it named (`reach`: the chat, ZNS and SMS on Zalo and Telegram; the booking's phone only on the
web), and the reminder's own buttons — against a fake API over HTTP."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiohttp import web
from rasa_sdk import Tracker

from actions.safety import ActionRouteInform
from common.wording import seeds
from tests_rasa.fake_api import json_handler, run_action, tracker

NOT_FOUND = ("Không tìm thấy lịch hẹn với mã này. Xin kiểm tra lại mã đặt lịch, và 3 số cuối số điện thoại "
             "đã dùng khi đặt lịch.")


def notice_of(response: str) -> str:
    """The version a yes to `response` is filed with when nothing is published: the seed's fingerprint."""
    return "2026-01." + hashlib.sha256(seeds()[response].encode()).hexdigest()[:6]


def chat(sender: str, entities: list[dict[str, Any]], slots: dict[str, Any] | None = None) -> Tracker:
    state = tracker("", entities, slots, intent="inform").current_state()
    return Tracker.from_dict({**state, "sender_id": sender})


def choice(value: str, **extra: str) -> list[dict[str, Any]]:
    return [{"entity": "reminder_choice", "value": value}, *({"entity": k, "value": v} for k, v in extra.items())]


def routes(seen: list[web.Request], status: int = 204) -> dict[tuple[str, str], Any]:
    body: Any = {"stopped": 1} if status == 200 else None
    handler = json_handler(body, status=status, seen=seen)
    return {("POST", "/reminders/subscribe"): handler, ("POST", "/reminders/stop"): json_handler({"stopped": 1},
                                                                                                 seen=seen),
            ("POST", "/reminders/confirm"): handler}


def offered(sender: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The offer said after a booking made in `sender`'s chat, and the events that open it."""
    from tests_rasa.test_booking_form import BOOKED, FORM_SLOTS, submit

    dispatcher, events = submit({("POST", "/bookings"): json_handler(BOOKED, status=201)}, FORM_SLOTS, sender)
    return dispatcher.messages[-1], [e for e in events if e.get("name") == "open_question"]


def tap(sender: str, offer: dict[str, Any], title: str, opened: list[dict[str, Any]]) -> list[web.Request]:
    """The resident taps the offer's button `title` (its payload parsed as the NLU does)."""
    payload = next(b["payload"] for b in offer["buttons"] if b["title"] == title)
    entities = [{"entity": k, "value": v} for k, v in json.loads(payload[payload.index("{"):]).items()]
    seen: list[web.Request] = []
    run_action(ActionRouteInform(), routes(seen), chat(sender, entities, {
        "my_booking_codes": ["AAAAAAAA", "KE3MX7PA"], "open_question": opened[0]["value"]}))
    return seen


def test_the_offer_on_zalo_names_the_chat_and_its_yes_sends_every_way() -> None:
    offer, opened = offered("zalo:88001")
    assert offer["response"] == "utter_reminders_offer"
    assert [b["title"] for b in offer["buttons"]] == ["Có, nhắc tôi", "Có, và báo khi đội khám lưu động đến xã",
                                                      "Không cần"]
    for words in ("cuộc trò chuyện này", "48 giờ", "ZNS", "SMS", "Không nhắc nữa", "TC"):
        assert words in seeds()["utter_reminders_offer"], words
    [request] = tap("zalo:88001", offer, "Có, nhắc tôi", opened)
    assert request["json"]["reach"] == ["chat", "zns", "sms"] and request["json"]["booking_code"] == "KE3MX7PA"
    assert request["json"]["consent_notice"] == notice_of("utter_reminders_offer")


def test_the_offer_on_the_web_names_the_phone_and_its_yes_sends_zns_and_sms() -> None:
    offer, opened = offered("web:w0123456789")
    assert offer["response"] == "utter_reminders_offer_phone"
    assert [b["title"] for b in offer["buttons"]] == ["Có, nhắc tôi", "Không cần"]
    for words in ("ZNS", "SMS", "số điện thoại", "TC"):
        assert words in seeds()["utter_reminders_offer_phone"], words
    [request] = tap("web:w0123456789", offer, "Có, nhắc tôi", opened)
    assert request["json"]["reach"] == ["zns", "sms"] and request["json"]["channel"] == "web"
    assert request["json"]["consent_notice"] == notice_of("utter_reminders_offer_phone")
    assert tap("web:w0123456789", offer, "Không cần", opened) == []


def test_yes_subscribes_this_chat_with_the_notice_it_was_shown() -> None:
    seen: list[web.Request] = []
    dispatcher, _ = run_action(ActionRouteInform(), routes(seen), chat(
        "telegram:4242", choice("yes"), {"my_booking_codes": ["KE3MX7PA"], "language": "nut"}))
    assert seen[0].path == "/api/v1/reminders/subscribe"
    body = seen[0]["json"]
    assert {k: body[k] for k in ("booking_code", "channel", "chat_id", "language", "reach")} == {
        "booking_code": "KE3MX7PA", "channel": "telegram", "chat_id": "4242", "language": "nut",
        "reach": ["chat", "zns", "sms"]}
    # The version of the offer's words as shown (which name the chat, ZNS and SMS).
    assert body["consent_notice"] == notice_of("utter_reminders_offer")
    assert dispatcher.messages[0]["response"] == "utter_reminders_on"


def test_the_reminders_buttons_and_a_plain_no() -> None:
    seen: list[web.Request] = []
    dispatcher, _ = run_action(ActionRouteInform(), routes(seen), chat("zalo:88001", choice("stop")))
    assert seen[-1].path == "/api/v1/reminders/stop" and seen[-1]["json"] == {"channel": "zalo", "chat_id": "88001"}
    assert dispatcher.messages[0]["response"] == "utter_reminders_off"
    dispatcher, _ = run_action(ActionRouteInform(), routes(seen), chat(
        "zalo:88001", choice("confirm", booking_code="KE3MX7PA")))
    assert seen[-1].path == "/api/v1/reminders/confirm" and seen[-1]["json"]["booking_code"] == "KE3MX7PA"
    assert dispatcher.messages[0]["response"] == "utter_reminder_thanks"  # not the booking details
    calls = len(seen)
    dispatcher, _ = run_action(ActionRouteInform(), routes(seen), chat("zalo:88001", choice("no")))
    assert dispatcher.messages[0]["response"] == "utter_reminders_declined" and len(seen) == calls


def test_a_yes_in_the_web_chat_asks_for_the_phone_only() -> None:
    seen: list[web.Request] = []
    dispatcher, _ = run_action(ActionRouteInform(), routes(seen), chat(
        "web:w0123456789", choice("yes"), {"my_booking_codes": ["KE3MX7PA"], "language": "tyz"}))
    [request] = seen
    assert request.path == "/api/v1/reminders/subscribe" and request["json"] == {
        "booking_code": "KE3MX7PA", "channel": "web", "chat_id": "w0123456789", "language": "tyz",
        "reach": ["zns", "sms"], "consent_notice": notice_of("utter_reminders_offer_phone")}
    assert [m["response"] for m in dispatcher.messages] == ["utter_reminders_on_phone"]
    # "Yes, and the commune's news" from an old button: the news go to a chat only, so reminders alone.
    dispatcher, _ = run_action(ActionRouteInform(), routes(seen), chat(
        "web:w0123456789", choice("yes_all"), {"my_booking_codes": ["KE3MX7PA"]}))
    assert [r.path for r in seen] == ["/api/v1/reminders/subscribe"] * 2 and seen[1]["json"]["reach"] == ["zns", "sms"]
    assert [m["response"] for m in dispatcher.messages] == ["utter_reminders_on_phone"]


def test_what_the_web_chat_or_an_unknown_chat_cannot_do_is_said_and_a_busy_api_is_told() -> None:
    seen: list[web.Request] = []
    # The web chat holds no reminders to stop or confirm; a conversation not through the gateway none at all.
    for sender, value in (("web:w0123456789", "stop"), ("web:w0123456789", "confirm"),
                          ("web:w0123456789", "news_stop"), ("test-user", "yes")):
        dispatcher, _ = run_action(ActionRouteInform(), routes(seen), chat(
            sender, choice(value), {"my_booking_codes": ["KE3MX7PA"]}))
        assert dispatcher.messages[0]["response"] == "utter_reminders_web" and seen == [], (sender, value)
    dispatcher, _ = run_action(ActionRouteInform(), routes(seen, status=503), chat(
        "telegram:4242", choice("yes"), {"my_booking_codes": ["KE3MX7PA"]}))
    assert dispatcher.messages[0]["response"] == "utter_service_busy"
    refused = {("POST", "/reminders/subscribe"): json_handler(
        {"code": "booking_not_found", "message": NOT_FOUND}, status=404)}
    dispatcher, _ = run_action(ActionRouteInform(), refused, chat(
        "telegram:4242", choice("yes"), {"my_booking_codes": ["KHONGCO1"]}))
    assert dispatcher.messages[0]["text"] == NOT_FOUND


def test_yes_to_announcements_too_and_stopping_them() -> None:
    seen: list[web.Request] = []
    handlers = {**routes(seen), ("POST", "/announcements/subscribe"): json_handler(None, status=204, seen=seen),
                ("POST", "/announcements/stop"): json_handler({"stopped": 1}, seen=seen)}
    dispatcher, _ = run_action(ActionRouteInform(), handlers, chat(
        "zalo:88001", choice("yes_all"), {"my_booking_codes": ["KE3MX7PA"]}))
    assert [r.path for r in seen] == ["/api/v1/reminders/subscribe", "/api/v1/announcements/subscribe"]
    assert seen[0]["json"]["reach"] == ["chat", "zns", "sms"] and "reach" not in seen[1]["json"]
    assert [m["response"] for m in dispatcher.messages] == ["utter_reminders_on", "utter_announcements_on"]
    dispatcher, _ = run_action(ActionRouteInform(), handlers, chat("zalo:88001", choice("news_stop")))
    assert seen[-1].path == "/api/v1/announcements/stop" and seen[-1]["json"] == {"channel": "zalo",
                                                                                  "chat_id": "88001"}
    assert dispatcher.messages[0]["response"] == "utter_announcements_off"
