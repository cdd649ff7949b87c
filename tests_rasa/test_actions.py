"""Actions tested without Rasa: CollectingDispatcher, Tracker.from_dict, and a fake API over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.api import ApiClient
from actions.faq import FAQ_MIN_SCORE, ActionAnswerFaq
from actions.schedule import ActionListSessions
from tests_rasa.fake_api import json_handler, run_action, tracker


def hit(key: str, score: float, answer: str = "Khám miễn phí.") -> dict[str, Any]:
    return {"key": key, "question": "?", "answer": answer, "score": score, "language": "vi",
            "needs_review": False, "audio_url": None}


def test_confident_faq_answer_is_sent_as_is() -> None:
    routes = {("GET", "/faq/search"): json_handler([hit("free_of_charge", 0.8), hit("how_often", 0.3)])}
    dispatcher, events = run_action(ActionAnswerFaq(), routes, tracker("ksk co mat tien k"))
    assert [m["text"] for m in dispatcher.messages] == ["Khám miễn phí."]
    assert events == [SlotSet("last_faq_key", "free_of_charge")]


def test_unsure_answer_says_so_and_records_the_question() -> None:
    recorded: list[web.Request] = []
    routes = {
        ("GET", "/faq/search"): json_handler([hit("free_of_charge", FAQ_MIN_SCORE - 0.05)]),
        ("POST", "/faq/unanswered"): json_handler({"id": 1}, status=201, seen=recorded),
    }
    dispatcher, _ = run_action(ActionAnswerFaq(), routes, tracker("gia lua bao nhieu"))
    assert [m["response"] for m in dispatcher.messages] == ["utter_faq_unknown"]
    assert recorded[0]["json"]["text"] == "gia lua bao nhieu"
    assert recorded[0]["json"]["channel"] == "zalo"


def test_api_down_gives_a_busy_reply_not_a_crash() -> None:
    routes = {("GET", "/faq/search"): json_handler({"code": "internal_error"}, status=500)}
    dispatcher, events = run_action(ActionAnswerFaq(), routes, tracker("ksk"))
    assert [m["response"] for m in dispatcher.messages] == ["utter_service_busy"]
    assert events == []
    unreachable = ActionAnswerFaq(ApiClient("http://127.0.0.1:9"))
    dispatcher = CollectingDispatcher()
    asyncio.run(unreachable.run(dispatcher, tracker("ksk"), {}))
    assert [m["response"] for m in dispatcher.messages] == ["utter_service_busy"]


SESSION = {
    "id": 12, "starts_at": "2026-11-25T07:30:00+07:00", "ends_at": "2026-11-25T11:00:00+07:00",
    "site": {"id": 3, "name": "Trạm Y tế xã Hữu Liên"}, "capacity": 30, "booked": 28, "available": 2,
    "waitlisted": 0,
}
HUU_LIEN = {"id": 9, "name": "Hữu Liên", "full_name": "xã Hữu Liên"}


def test_sessions_listed_with_vietnamese_dates_and_book_buttons() -> None:
    routes = {("GET", "/communes"): json_handler({"items": [HUU_LIEN]}),
              ("GET", "/sessions"): json_handler({"items": [SESSION]})}
    track = tracker("lich kham o huu lien", [{"entity": "commune", "value": "huu lien"}])
    dispatcher, events = run_action(ActionListSessions(), routes, track)
    message = dispatcher.messages[0]
    assert message["response"] == "utter_sessions_list"
    assert "Thứ Tư, 25/11/2026, 7:30–11:00" in message["sessions"]
    assert "còn 2 chỗ" in message["sessions"]
    assert message["buttons"][0]["payload"] == '/book_exam{"session_id": "12", "commune": "Hữu Liên"}'
    assert message["buttons"][0]["title"] == "Đặt lịch Thứ 4, 25/11, 7:30–11:00"
    assert SlotSet("commune_id", 9) in events


def test_ambiguous_commune_offers_buttons_and_unknown_commune_says_so() -> None:
    routes = {("GET", "/communes"): json_handler({"items": [
        HUU_LIEN, {"id": 8, "name": "Hữu Lũng", "full_name": "xã Hữu Lũng"}]})}
    track = tracker("huu", [{"entity": "commune", "value": "huu"}])
    dispatcher, events = run_action(ActionListSessions(), routes, track)
    assert dispatcher.messages[0]["response"] == "utter_choose_commune"
    assert [b["title"] for b in dispatcher.messages[0]["buttons"]] == ["xã Hữu Liên", "xã Hữu Lũng"]
    # The choice that comes back is taken as the commune for the schedule: the buttons are that question's.
    tag = events[1]["value"]
    assert events == [SlotSet("awaiting_commune", "schedule"), SlotSet("open_question", tag)]
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == [
        f'/inform{{"commune": "Hữu Liên", "question": "{tag}"}}',
        f'/inform{{"commune": "Hữu Lũng", "question": "{tag}"}}']
    routes = {("GET", "/communes"): json_handler({"items": []})}
    dispatcher, _ = run_action(ActionListSessions(), routes, tracker("x", [{"entity": "commune", "value": "xyz"}]))
    assert dispatcher.messages[0]["response"] == "utter_commune_not_found"
    dispatcher, _ = run_action(ActionListSessions(), {}, tracker("lich kham"))
    assert dispatcher.messages[0]["response"] == "utter_ask_commune"
