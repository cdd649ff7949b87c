"""Never silent, never confidently wrong: emergencies get 115, off-topic questions an honest refusal,
hesitations the two likeliest meanings as buttons (issue 17)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from actions.fallback import ActionAskAffirmation, ActionOutOfScope, likeliest
from actions.safety import ActionEmergency, ActionRouteInform, ActionShortReply
from tests_rasa.fake_api import json_handler, run_action, tracker

STATION = {"name": "Trạm Y tế xã Hữu Liên", "kind": "station", "phone": "0205 3820 115", "address": "Thôn Làng Mới"}


def said(dispatcher: Any) -> list[str]:
    return [m.get("response") or m.get("text") for m in dispatcher.messages]


def test_an_emergency_gets_115_then_the_station_of_a_known_commune() -> None:
    routes = {("GET", "/sites"): json_handler({"items": [STATION]})}
    dispatcher, events = run_action(ActionEmergency(), routes, tracker("ông ngã", slots={"commune_id": 9}))
    assert said(dispatcher) == ["utter_emergency", "utter_emergency_station"]
    assert dispatcher.messages[1]["phone"] == STATION["phone"]
    assert events == []


def test_an_emergency_without_a_commune_or_with_the_api_down_still_gets_115() -> None:
    dispatcher, _ = run_action(ActionEmergency(), {}, tracker("ông ngã"))
    assert said(dispatcher) == ["utter_emergency"]
    down = {("GET", "/sites"): json_handler({"code": "internal_error"}, status=500)}
    dispatcher, _ = run_action(ActionEmergency(), down, tracker("ông ngã", slots={"commune_id": 9}))
    assert said(dispatcher) == ["utter_emergency"]


def test_an_off_topic_question_is_refused_honestly_and_recorded_for_staff() -> None:
    seen: list[web.Request] = []
    routes = {("POST", "/faq/unanswered"): json_handler({"id": 1}, status=201, seen=seen)}
    dispatcher, _ = run_action(ActionOutOfScope(), routes, tracker("giá vàng hôm nay", intent="out_of_scope"))
    assert said(dispatcher) == ["utter_out_of_scope"]
    assert seen[0]["json"]["text"] == "giá vàng hôm nay"
    # Recording failed: the resident is still answered.
    dispatcher, _ = run_action(ActionOutOfScope(), {}, tracker("giá vàng hôm nay", intent="out_of_scope"))
    assert said(dispatcher) == ["utter_out_of_scope"]


def test_the_two_likeliest_meanings_that_can_be_offered_are_the_buttons() -> None:
    ranking = [{"name": "nlu_fallback", "confidence": 0.45}, {"name": "affirm", "confidence": 0.3},
               {"name": "faq", "confidence": 0.2}, {"name": "inform", "confidence": 0.15},
               {"name": "ask_schedule", "confidence": 0.1}, {"name": "book_exam", "confidence": 0.05}]
    assert likeliest(ranking) == ["faq", "ask_schedule"]
    track = tracker("lich kham the nao", intent="nlu_fallback")
    track.latest_message["intent_ranking"] = ranking
    dispatcher, _ = run_action(ActionAskAffirmation(), {}, track)
    assert said(dispatcher) == ["utter_ask_affirmation"]
    buttons = dispatcher.messages[0]["buttons"]
    assert [b["payload"] for b in buttons] == ["/faq", "/ask_schedule", "/out_of_scope"]
    assert buttons[0]["title"] == "Hỏi về chương trình khám"


def test_with_nothing_to_offer_the_resident_is_asked_to_rephrase() -> None:
    track = tracker("abc", intent="nlu_fallback")
    track.latest_message["intent_ranking"] = [{"name": "affirm", "confidence": 0.4}]
    dispatcher, _ = run_action(ActionAskAffirmation(), {}, track)
    assert said(dispatcher) == ["utter_ask_rephrase"]


def test_a_hesitation_that_may_be_an_emergency_says_115_before_the_buttons() -> None:
    track = tracker("bác sĩ ơi tôi bị đau đầu", intent="nlu_fallback")
    track.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.45}, {"name": "emergency", "confidence": 0.41},
        {"name": "greet", "confidence": 0.23}, {"name": "faq", "confidence": 0.2}, {"name": "help", "confidence": 0.1}]
    dispatcher, _ = run_action(ActionAskAffirmation(), {}, track)
    assert said(dispatcher) == ["utter_emergency", "utter_ask_affirmation"]
    assert [b["payload"] for b in dispatcher.messages[1]["buttons"]] == ["/faq", "/help", "/out_of_scope"]


def offered(text: str, intent: str) -> Any:
    track = tracker(text, intent=intent)
    offer = [{"title": "Có, nhắc tôi", "payload": '/inform{"reminder_choice":"yes"}'},
             {"title": "Không cần", "payload": '/inform{"reminder_choice":"no"}'}]
    track.events.insert(0, {"event": "bot", "text": "Bác/anh/chị có muốn tôi nhắn nhắc lịch…",
                            "data": {"buttons": offer}})
    return track


def test_a_short_reply_answers_the_reminders_offer_on_screen() -> None:
    # Not a Telegram or Zalo chat here: the yes is taken as the offer's, and told where reminders go.
    dispatcher, _ = run_action(ActionShortReply(), {}, offered("ừ", "affirm"))
    assert said(dispatcher) == ["utter_reminders_web"]
    dispatcher, _ = run_action(ActionShortReply(), {}, offered("ko", "deny"))
    assert said(dispatcher) == ["utter_reminders_declined"]
    # Consent is given in words: a thumbs-up alone does not switch reminders on.
    dispatcher, _ = run_action(ActionShortReply(), {}, offered("👍", "affirm"))
    assert said(dispatcher) == ["utter_inform_unplaced"]


def test_a_short_reply_with_nothing_on_screen_gets_a_polite_answer() -> None:
    dispatcher, _ = run_action(ActionShortReply(), {}, tracker("ok", intent="affirm"))
    assert said(dispatcher) == ["utter_inform_unplaced"]
    dispatcher, _ = run_action(ActionShortReply(), {}, tracker("ko", intent="deny"))
    assert said(dispatcher) == ["utter_noted"]


def test_an_untagged_button_from_before_answers_nothing_and_says_so() -> None:
    """Buttons sent before they carried their question stay on Telegram and Zalo: a yes or a session from
    one, with nothing on screen to answer, is told it belongs to an earlier question — not thanked for."""
    dispatcher, _ = run_action(ActionShortReply(), {}, tracker("/affirm", intent="affirm"))
    assert said(dispatcher) == ["utter_stale_choice"]
    dispatcher, _ = run_action(ActionShortReply(), {}, tracker("/deny", intent="deny"))
    assert said(dispatcher) == ["utter_stale_choice"]
    dispatcher, _ = run_action(ActionRouteInform(), {}, tracker('/inform{"session_id": "12"}',
                                                                [{"entity": "session_id", "value": "12"}],
                                                                intent="inform"))
    assert said(dispatcher) == ["utter_stale_choice"]
    # Typed words still get the usual polite answer.
    dispatcher, _ = run_action(ActionRouteInform(), {}, tracker("vang", intent="inform"))
    assert said(dispatcher) == ["utter_inform_unplaced"]
