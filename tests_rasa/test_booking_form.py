from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import booking_form
from actions.api import ApiClient
from actions.booking_form import ValidateBookingForm
from actions.dates import parse_date
from tests_rasa.fake_api import json_handler, serve, tracker


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("05/03/1958", date(1958, 3, 5)), ("5-3-1958", date(1958, 3, 5)), ("sinh 5.3.1958", date(1958, 3, 5)),
     ("ngày 5 tháng 3 năm 1958", date(1958, 3, 5)), ("ngay 05 thang 03 nam 1958", date(1958, 3, 5)),
     ("05031958", date(1958, 3, 5)), ("31/02/1958", None), ("1958", None), ("hôm qua", None)],
)
def test_dates_as_residents_type_them(typed: str, expected: date | None) -> None:
    assert parse_date(typed) == expected


def validate(slot: str, value: Any, slots: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    form = ValidateBookingForm(ApiClient("http://127.0.0.1:9"))
    dispatcher = CollectingDispatcher()
    result = getattr(form, f"validate_{slot}")(value, dispatcher, tracker(str(value), slots=slots), {})
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return result, [m.get("text") or m.get("response") for m in dispatcher.messages]


def test_name_is_normalised_or_reasked() -> None:
    assert validate("full_name", "  nông   thị MAI ")[0] == {"full_name": "Nông Thị Mai"}
    result, said = validate("full_name", "123")
    assert result == {"full_name": None} and "Họ và tên" in said[0]


def test_birth_date_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(booking_form, "today", lambda: date(2026, 11, 23))
    assert validate("birth_date", "05/03/1958")[0] == {"birth_date": "1958-03-05"}
    result, said = validate("birth_date", "05/03/2030")
    assert result == {"birth_date": None} and "tương lai" in said[0]
    result, said = validate("birth_date", "mùng năm")
    assert result == {"birth_date": None} and "ngày/tháng/năm" in said[0]


def test_cccd_must_match_the_birth_year() -> None:
    assert validate("cccd", "003 158 001 234", {"birth_date": "1958-03-05"})[0] == {"cccd": "003158001234"}
    result, said = validate("cccd", "003159001234", {"birth_date": "1958-03-05"})
    assert result == {"cccd": None} and "không khớp" in said[0]
    result, said = validate("cccd", "12345", {"birth_date": "1958-03-05"})
    assert result == {"cccd": None} and "12 chữ số" in said[0]


def test_phone_is_normalised_or_reasked() -> None:
    assert validate("phone", "+84 912 345 678")[0] == {"phone": "0912345678"}
    result, said = validate("phone", "0123")
    assert result == {"phone": None} and "10 chữ số" in said[0]


@pytest.mark.parametrize(("typed", "who"), [("cho tôi", "self"), ("cho bản thân", "self"), ("cho mẹ tôi", "relative"),
                                            ("cho me toi", "relative"), ("đăng ký cho bố", "relative")])
def test_for_whom(typed: str, who: str) -> None:
    assert validate("booking_for", typed)[0] == {"booking_for": who}


def test_refused_consent_ends_the_form_without_asking_more() -> None:
    form = ValidateBookingForm()
    slots = asyncio.run(form.required_slots(["consent_booking", "full_name", "cccd"], CollectingDispatcher(),
                                            tracker("không", slots={"consent_booking": False}), {}))
    assert slots == []


def test_session_must_be_one_of_the_communes_sessions() -> None:
    routes = {("GET", "/sessions"): json_handler({"items": [{"id": 12}, {"id": 13}]})}

    async def scenario(base: str) -> tuple[Any, Any]:
        form = ValidateBookingForm(ApiClient(base))
        dispatcher = CollectingDispatcher()
        ok = await form.validate_session_id("13", dispatcher, tracker("13", slots={"commune_id": 9}), {})
        bad = await form.validate_session_id("99", dispatcher, tracker("99", slots={"commune_id": 9}), {})
        return ok, bad

    ok, bad = asyncio.run(serve(routes, scenario))
    assert ok == {"session_id": "13"} and bad == {"session_id": None}


FORM_SLOTS = {"consent_booking": True, "booking_for": "self", "full_name": "Nông Thị Mai", "birth_date": "1958-03-05",
              "cccd": "003158001234", "phone": "0912345678", "commune": "Hữu Liên", "commune_id": 9,
              "session_id": "12", "booking_confirmed": True, "my_booking_codes": ["AAAAAAAA"]}
BOOKED = {"code": "KE3MX7PA", "status": "confirmed", "waitlist_position": None,
          "session": {"starts_at": "2026-11-25T07:30:00+07:00", "ends_at": "2026-11-25T11:00:00+07:00",
                      "site": {"name": "Trạm Y tế xã Hữu Liên"}}}


def submit(routes: dict[Any, Any], slots: dict[str, Any], sender: str = "test-user"
           ) -> tuple[CollectingDispatcher, list[Any]]:
    from rasa_sdk import Tracker

    from actions.booking import ActionSubmitBooking

    dispatcher = CollectingDispatcher()
    track = Tracker.from_dict({**tracker("/affirm", slots=slots).current_state(), "sender_id": sender})

    async def scenario(base: str) -> list[Any]:
        return list(await ActionSubmitBooking(ApiClient(base)).run(dispatcher, track, {}))

    return dispatcher, asyncio.run(serve(routes, scenario))


def test_submit_books_then_forgets_the_personal_answers() -> None:
    from aiohttp import web
    from rasa_sdk.events import SlotSet

    seen: list[web.Request] = []
    dispatcher, events = submit({("POST", "/bookings"): json_handler(BOOKED, status=201, seen=seen)}, FORM_SLOTS)
    sent = seen[0]["json"]
    assert sent["session_id"] == 12 and sent["resident"]["cccd"] == "003158001234" and sent["channel"] == "zalo"
    assert sent["consent_given_by"] == "self" and sent["consent_notice"].startswith("2026-01.")
    assert seen[0].headers["Idempotency-Key"].startswith("chat-")
    assert [m["response"] for m in dispatcher.messages] == ["utter_booking_confirmed", "utter_what_to_bring"]
    assert dispatcher.messages[0]["code"] == "KE3MX7PA"
    assert dispatcher.messages[0]["when"] == "Thứ Tư, 25/11/2026, 7:30–11:00"
    for slot in ("full_name", "birth_date", "cccd", "phone"):
        assert SlotSet(slot, None) in events
    assert SlotSet("my_booking_codes", ["AAAAAAAA", "KE3MX7PA"]) in events
    # The same answers in the same chat give the same key: a double tap books once.
    seen_again: list[web.Request] = []
    submit({("POST", "/bookings"): json_handler(BOOKED, status=201, seen=seen_again)}, FORM_SLOTS)
    assert seen_again[0].headers["Idempotency-Key"] == seen[0].headers["Idempotency-Key"]


def test_a_booking_offers_reminders_by_the_ways_its_chat_allows() -> None:
    # Telegram and Zalo: the chat, then ZNS and SMS; the web chat, which cannot write first: the phone only;
    # a conversation not through the gateway: no offer.
    for sender, offer in (("telegram:4242", "utter_reminders_offer"), ("zalo:88001", "utter_reminders_offer"),
                          ("web:w0123456789", "utter_reminders_offer_phone"), ("test-user", None)):
        dispatcher, _ = submit({("POST", "/bookings"): json_handler(BOOKED, status=201)}, FORM_SLOTS, sender)
        responses = [m["response"] for m in dispatcher.messages]
        assert responses == ["utter_booking_confirmed", "utter_what_to_bring", *([offer] if offer else [])], sender


def test_submit_shows_the_apis_reason_and_refused_consent_calls_nothing() -> None:
    conflict = {"code": "active_booking_exists", "message": "Người này đã có một lịch khám đang chờ. Có thể đổi "
                "lịch hoặc hủy lịch cũ trước khi đặt lịch mới."}
    dispatcher, _ = submit({("POST", "/bookings"): json_handler(conflict, status=409)}, FORM_SLOTS)
    assert dispatcher.messages[0]["text"] == conflict["message"]
    dispatcher, events = submit({}, {**FORM_SLOTS, "consent_booking": False})
    assert [m["response"] for m in dispatcher.messages] == ["utter_consent_refused"]


def test_submit_with_a_lost_answer_asks_to_start_again() -> None:
    dispatcher, events = submit({}, {**FORM_SLOTS, "cccd": None})
    assert [m["response"] for m in dispatcher.messages] == ["utter_booking_incomplete"] and events == []


SITES = [{"id": 3, "name": "Trạm Y tế xã Hữu Liên", "address": "thôn Riềng, xã Hữu Liên", "commune_name": "Hữu Liên"},
         {"id": 4, "name": "Điểm khám lưu động thôn Nà Ho", "address": "nhà văn hóa thôn Nà Ho",
          "commune_name": "Hữu Liên"}]


def session(session_id: int, day: int, site: dict[str, Any], available: int = 5) -> dict[str, Any]:
    return {"id": session_id, "starts_at": f"2026-11-{day}T07:30:00+07:00", "ends_at": f"2026-11-{day}T11:00:00+07:00",
            "site": site, "available": available, "waitlisted": 0}


def ask_summary(slots: dict[str, Any], sessions: list[dict[str, Any]]) -> tuple[CollectingDispatcher, list[Any]]:
    from actions.booking import ActionAskBookingConfirmed
    from tests_rasa.fake_api import run_action

    return run_action(ActionAskBookingConfirmed(), {("GET", "/sessions"): json_handler({"items": sessions})},
                      tracker("", slots={**slots, "requested_slot": "booking_confirmed"}, form="booking_form"))


def test_confirmation_summary_shows_who_when_and_where_with_numbers_masked() -> None:
    from common.wording import fill, seeds

    dispatcher, events = ask_summary({**FORM_SLOTS, "session_id": "13", "booking_for": "relative"},
                                     [session(12, 25, SITES[0]), session(13, 27, SITES[1])])
    message = dispatcher.messages[0]
    assert message["response"] == "utter_ask_booking_confirmed"
    assert message["cccd"] == "•••••••••234" and message["phone"] == "•••••••678"
    assert message["birth_date"] == "05/03/1958" and message["full_name"] == "Nông Thị Mai"
    # The chosen session (13, not the first offered): its day, hours, site and address.
    assert message["when"] == "Thứ Sáu, 27/11/2026, 7:30–11:00"
    assert message["place"] == "Điểm khám lưu động thôn Nà Ho" and message["address"] == "nhà văn hóa thôn Nà Ho"
    assert message["for_whom"] == "cho người thân"
    # The seed says every one of them: nothing the resident confirms is left out of the text.
    summary = fill(seeds()["utter_ask_booking_confirmed"], message)
    for value in ("Nông Thị Mai", "27/11/2026", "7:30–11:00", "Điểm khám lưu động thôn Nà Ho", "nhà văn hóa thôn Nà Ho",
                  "cho người thân", "•••••••••234"):
        assert value in summary, value
    assert "003158001234" not in summary
    assert [b["title"] for b in message["buttons"]] == ["Đúng, đặt lịch", "Sửa lại"]
    [opened] = events
    assert opened["name"] == "open_question" and all(opened["value"] in b["payload"] for b in message["buttons"])


def test_a_chosen_session_no_longer_offered_is_asked_again_not_confirmed() -> None:
    dispatcher, events = ask_summary({**FORM_SLOTS, "session_id": "13"}, [session(12, 25, SITES[0])])
    responses = [m.get("response") or m.get("text") for m in dispatcher.messages]
    assert "utter_ask_booking_confirmed" not in responses and responses[-1] == "utter_ask_session_id"
    assert {"event": "slot", "name": "session_id", "value": None, "timestamp": None} in events
    assert {"event": "slot", "name": "requested_slot", "value": "session_id", "timestamp": None} in events


def test_session_buttons_name_the_place_only_when_there_are_several() -> None:
    from actions.booking import ActionAskSessionId
    from tests_rasa.fake_api import run_action

    def titles(sessions: list[dict[str, Any]]) -> list[str]:
        dispatcher, _ = run_action(ActionAskSessionId(), {("GET", "/sessions"): json_handler({"items": sessions})},
                                   tracker("", slots={"commune_id": 9}, form="booking_form"))
        return [b["title"] for b in dispatcher.messages[0]["buttons"]]

    assert titles([session(12, 25, SITES[0]), session(14, 26, SITES[0])]) == [
        "Thứ 4, 25/11, 7:30–11:00 · còn 5 chỗ", "Thứ 5, 26/11, 7:30–11:00 · còn 5 chỗ"]
    mobile = {**SITES[1], "name": "Đội khám lưu động — Nhà văn hóa thôn Nà Ho"}
    long_name = {**SITES[1], "id": 5, "name": "Điểm khám tại nhà văn hóa thôn Khuổi Cáp, xã Hữu Liên, huyện Hữu Lũng"}
    three = titles([session(12, 25, SITES[0]), session(13, 25, mobile), session(14, 26, long_name)])
    assert three[0] == "Thứ 4, 25/11, 7:30–11:00 · Trạm Y tế xã Hữu Liên · còn 5 chỗ"
    # Too long for a button: the part that tells the places apart, else the start, cut, so the day,
    # the hours and the seats still show.
    assert three[1] == "Thứ 4, 25/11, 7:30–11:00 · Nhà văn hóa thôn Nà Ho · còn 5 chỗ"
    assert three[2].startswith("Thứ 5, 26/11, 7:30–11:00 · Điểm khám tại") and three[2].endswith("… · còn 5 chỗ")
    assert all(len(title) <= 64 for title in three)
