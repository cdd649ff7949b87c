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


def test_a_booking_made_on_telegram_or_zalo_offers_reminders() -> None:
    for sender, offered in (("telegram:4242", True), ("zalo:88001", True), ("web:w0123456789", False)):
        dispatcher, _ = submit({("POST", "/bookings"): json_handler(BOOKED, status=201)}, FORM_SLOTS, sender)
        responses = [m["response"] for m in dispatcher.messages]
        assert ("utter_reminders_offer" in responses) is offered, sender
        assert responses[:2] == ["utter_booking_confirmed", "utter_what_to_bring"]


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


def test_confirmation_summary_masks_numbers() -> None:
    from actions.booking import ActionAskBookingConfirmed

    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAskBookingConfirmed().run(dispatcher, tracker("", slots=FORM_SLOTS), {}))
    message = dispatcher.messages[0]
    assert message["cccd"] == "•••••••••234" and message["phone"] == "•••••••678"
    assert message["birth_date"] == "05/03/1958"
