"""Reminders in the chat: the offer after a booking, the explicit "yes" filed with the notice shown,
and the reminder's own buttons — against a fake API over HTTP."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from rasa_sdk import Tracker

from actions.safety import ActionRouteInform
from tests_rasa.fake_api import json_handler, run_action, tracker

NOT_FOUND = ("Không tìm thấy lịch hẹn với mã này. Xin kiểm tra lại mã đặt lịch, và 3 số cuối số điện thoại "
             "đã dùng khi đặt lịch.")


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


def test_yes_subscribes_this_chat_with_the_notice_it_was_shown() -> None:
    seen: list[web.Request] = []
    dispatcher, _ = run_action(ActionRouteInform(), routes(seen), chat(
        "telegram:4242", choice("yes"), {"my_booking_codes": ["KE3MX7PA"], "language": "nut"}))
    assert seen[0].path == "/api/v1/reminders/subscribe"
    body = seen[0]["json"]
    assert {k: body[k] for k in ("booking_code", "channel", "chat_id", "language")} == {
        "booking_code": "KE3MX7PA", "channel": "telegram", "chat_id": "4242", "language": "nut"}
    assert body["consent_notice"].startswith("2026-01.") and len(body["consent_notice"]) == 14
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


def test_the_web_chat_cannot_be_reminded_and_says_so_and_a_busy_api_is_told() -> None:
    seen: list[web.Request] = []
    dispatcher, _ = run_action(ActionRouteInform(), routes(seen), chat(
        "web:w0123456789", choice("yes"), {"my_booking_codes": ["KE3MX7PA"]}))
    assert dispatcher.messages[0]["response"] == "utter_reminders_web" and seen == []
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
    assert [m["response"] for m in dispatcher.messages] == ["utter_reminders_on", "utter_announcements_on"]
    dispatcher, _ = run_action(ActionRouteInform(), handlers, chat("zalo:88001", choice("news_stop")))
    assert seen[-1].path == "/api/v1/announcements/stop" and seen[-1]["json"] == {"channel": "zalo",
                                                                                  "chat_id": "88001"}
    assert dispatcher.messages[0]["response"] == "utter_announcements_off"
