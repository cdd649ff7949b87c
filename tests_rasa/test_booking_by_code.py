"""Changing a booking by its code from a chat that did not make it: the API answers "not found" to
the code alone, so the form asks once for the last 3 digits of the booking's phone (or the birth
date) and sends it with every later request about that booking — against a fake API that applies the
API's rule (fake_api.py, test_manage_and_forms.bookings_by_code)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from rasa_sdk.events import SlotSet

from actions.manage import (
    ActionAskBookingCode,
    ActionAskCancelConfirmed,
    ActionSubmitCancel,
    ActionSubmitReschedule,
    ValidateCancelForm,
    ValidateRescheduleForm,
    read_verifier,
)
from tests_rasa.fake_api import json_handler, run_action, tracker
from tests_rasa.test_manage_and_forms import ELSEWHERE, booking, bookings_by_code, said

VERIFIER = "X-Booking-Verifier"


def recording(seen: list[web.Request]) -> dict[tuple[str, str], Any]:
    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        return await bookings_by_code(request)

    return {("GET", "/bookings/{code}"): handler}


def answer(text: str, form: str = "cancel_form", **slots: Any) -> Any:
    """The form's validation of `text`, typed where the form asked for the booking code."""
    return tracker(text, slots={"requested_slot": "booking_code", "booking_code": text, **slots}, intent="inform",
                   form=form)


@pytest.mark.parametrize(("typed", "verifier"), [("678", "678"), ("số cuối là 678 ạ", "678"),
                                                 ("0912 345 678", "678"), ("05/03/1958", "1958-03-05"),
                                                 ("ngay 5 thang 3 nam 1958", "1958-03-05"), ("12", None),
                                                 ("không nhớ", None)])
def test_second_factors_as_typed(typed: str, verifier: str | None) -> None:
    assert read_verifier(typed) == verifier


def test_a_code_from_another_chat_asks_once_for_the_phones_last_digits_then_uses_them() -> None:
    seen: list[web.Request] = []
    dispatcher, events = run_action(ValidateCancelForm(), recording(seen), answer(ELSEWHERE))
    assert said(dispatcher) == []  # nothing said yet: the form asks next…
    assert events == [SlotSet("booking_code", None), SlotSet("unverified_booking_code", ELSEWHERE)]
    assert VERIFIER not in seen[0].headers
    dispatcher, _ = run_action(ActionAskBookingCode(), {}, tracker(
        "", slots={"unverified_booking_code": ELSEWHERE}, form="cancel_form"))
    assert said(dispatcher) == ["utter_ask_booking_verifier"] and dispatcher.messages[0]["code"] == ELSEWHERE
    assert dispatcher.messages[0]["buttons"] == []  # …for the factor, not the code

    dispatcher, events = run_action(ValidateCancelForm(), recording(seen), answer(
        "số cuối là 678", unverified_booking_code=ELSEWHERE))
    assert said(dispatcher) == [] and seen[1].headers[VERIFIER] == "678"
    assert events == [SlotSet("booking_code", ELSEWHERE), SlotSet("unverified_booking_code", None),
                      SlotSet("booking_verifier", "678")]

    # Every later request about the booking carries the factor.
    chosen = {"booking_code": ELSEWHERE, "booking_verifier": "678"}
    dispatcher, _ = run_action(ActionAskCancelConfirmed(), recording(seen), tracker("", slots=chosen))
    assert said(dispatcher) == ["utter_ask_cancel_confirmed"] and seen[2].headers[VERIFIER] == "678"
    cancelled: list[web.Request] = []
    routes = {("POST", "/bookings/{code}/cancel"): json_handler(booking(ELSEWHERE, "cancelled"), seen=cancelled)}
    dispatcher, events = run_action(ActionSubmitCancel(), routes, tracker(
        "/affirm", slots={**chosen, "cancel_confirmed": True}))
    assert said(dispatcher) == ["utter_booking_cancelled"] and cancelled[0].headers[VERIFIER] == "678"
    assert SlotSet("booking_verifier", None) in events  # forgotten with the booking choice


def test_a_wrong_factor_says_not_found_like_an_unknown_code_and_asks_for_the_code_again() -> None:
    seen: list[web.Request] = []
    dispatcher, events = run_action(ValidateCancelForm(), recording(seen), answer(
        "123", unverified_booking_code=ELSEWHERE))
    assert said(dispatcher) == ["utter_code_not_found"] and seen[0].headers[VERIFIER] == "123"
    assert events == [SlotSet("booking_code", None), SlotSet("unverified_booking_code", None)]
    # Not asked twice: the form now asks for a code.
    dispatcher, _ = run_action(ActionAskBookingCode(), {}, tracker("", form="cancel_form"))
    assert said(dispatcher) == ["utter_ask_booking_code"]


def test_an_answer_that_is_not_a_factor_is_asked_again_and_a_new_code_starts_over() -> None:
    seen: list[web.Request] = []
    dispatcher, events = run_action(ValidateCancelForm(), recording(seen), answer(
        "không nhớ", unverified_booking_code=ELSEWHERE))
    assert said(dispatcher) == ["utter_verifier_invalid"] and seen == []
    assert events == [SlotSet("booking_code", None)]  # still waiting for the factor
    dispatcher, events = run_action(ValidateCancelForm(), recording(seen), answer(
        "KE3MX7PA", unverified_booking_code=ELSEWHERE))
    assert VERIFIER not in seen[0].headers
    assert events == [SlotSet("booking_code", "KE3MX7PA"), SlotSet("unverified_booking_code", None)]


def test_this_chats_own_bookings_need_no_factor_and_are_never_asked_for_one() -> None:
    seen: list[web.Request] = []
    dispatcher, events = run_action(ValidateRescheduleForm(), recording(seen), answer(
        "KE3MX7PA", form="reschedule_form", my_booking_codes=["KE3MX7PA"]))
    assert SlotSet("booking_code", "KE3MX7PA") in events and VERIFIER not in seen[0].headers
    # One the API does not know (gone since): not found at once, no question about a phone.
    dispatcher, events = run_action(ValidateCancelForm(), recording(seen), answer(
        "QT4NW6HC", my_booking_codes=["QT4NW6HC"]))
    assert said(dispatcher) == ["utter_code_not_found"] and events == [SlotSet("booking_code", None)]


def test_a_birth_date_works_as_the_factor_and_rescheduling_sends_it() -> None:
    seen: list[web.Request] = []
    _, events = run_action(ValidateRescheduleForm(), recording(seen), answer(
        "5/3/1958", form="reschedule_form", unverified_booking_code=ELSEWHERE))
    assert SlotSet("booking_verifier", "1958-03-05") in events and SlotSet("commune_id", 9) in events
    moved: list[web.Request] = []
    dispatcher, _ = run_action(ActionSubmitReschedule(), {("POST", "/bookings/{code}/reschedule"): json_handler(
        booking(ELSEWHERE, session_id=13), seen=moved)}, tracker("/inform", slots={
            "booking_code": ELSEWHERE, "session_id": "13", "booking_verifier": "1958-03-05"}))
    assert said(dispatcher) == ["utter_booking_rescheduled"] and moved[0].headers[VERIFIER] == "1958-03-05"


def test_stopping_forgets_the_factor() -> None:
    track = tracker("thôi", slots={"requested_slot": "cancel_confirmed", "booking_code": ELSEWHERE,
                                   "booking_verifier": "678"}, intent="deny", form="cancel_form")
    dispatcher, events = run_action(ValidateCancelForm(), {}, track)
    assert said(dispatcher) == ["utter_form_stopped"]
    assert SlotSet("booking_verifier", None) in events and SlotSet("unverified_booking_code", None) in events


def test_too_many_wrong_codes_says_what_the_api_says() -> None:
    # The API's body for a booking code locked after wrong tries (api/bookings/access.py); its wording is
    # also the seed of the key the bot says it by (error_too_many_attempts_booking_code).
    refusal = {"code": "too_many_attempts", "details": {"retry_after_seconds": 600},
               "message": "Đã thử mã đặt lịch sai quá nhiều lần. Xin thử lại sau, hoặc liên hệ trạm y tế xã."}
    dispatcher, events = run_action(ValidateCancelForm(), {("GET", "/bookings/{code}"): json_handler(
        refusal, status=429)}, answer(ELSEWHERE))
    assert said(dispatcher) == [refusal["message"]] and events == [SlotSet("booking_code", None)]
