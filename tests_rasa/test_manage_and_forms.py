"""Stopping and correcting inside forms; seeing, cancelling and rescheduling bookings; handoff and
scam reports — actions run against a fake API over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from rasa_sdk.events import ActiveLoop, SlotSet

from actions.booking import ActionAskBookingConfirmed, ActionAskSessionId
from actions.booking_form import ValidateBookingForm
from actions.form_control import (
    CANCEL_WORDS,
    FIELD_WORDS,
    NO,
    STOP_WORDS,
    UNCLEAR,
    YES,
    answer_in_words,
    find_correction,
    is_stop,
)
from actions.manage import (
    ActionShowBookings,
    ActionSubmitCancel,
    ActionSubmitReschedule,
    ValidateCancelForm,
    ValidateRescheduleForm,
    normalize_code,
)
from actions.safety import ActionReportScam, ActionRouteInform
from actions.schedule import ActionHandoff
from tests_rasa.fake_api import json_handler, run_action, tracker

BOOKING_FIELDS = ("full_name", "birth_date", "cccd", "phone", "commune", "session_id")
SITE = {"id": 3, "commune_id": 9, "commune_name": "Hữu Liên", "name": "Trạm Y tế xã Hữu Liên", "kind": "station",
        "address": "thôn Riềng", "phone": "0205 3840 123", "active": True}


def booking(code: str = "KE3MX7PA", status: str = "confirmed", session_id: int = 12) -> dict[str, Any]:
    return {"code": code, "status": status, "session_id": session_id, "waitlist_position": None,
            "session": {"id": session_id, "starts_at": "2026-11-25T07:30:00+07:00",
                        "ends_at": "2026-11-25T11:00:00+07:00", "site": SITE}}


# The chat every test tracker speaks for (fake_api.tracker), and a booking made from another chat.
THIS_CHAT = "zalo:test-user"
ELSEWHERE = "M7RC4TXA"
# That booking's second factors: the last digits of its phone, its birth date.
FACTORS = ("678", "1958-03-05")


async def bookings_by_code(request: web.Request) -> web.StreamResponse:
    """GET /bookings/{code} as the API answers it: QT4NW6HC is unknown, HP7CV3XA cancelled, any other
    code confirmed. ELSEWHERE was booked from another chat: shown only with one of its FACTORS in
    X-Booking-Verifier; every other booking was made by THIS_CHAT, which the signed identity proves.
    Unknown and not allowed answer alike."""
    code = request.match_info["code"]
    chat = request["chat"]
    allowed = request.headers.get("X-Booking-Verifier") in FACTORS if code == ELSEWHERE else (
        chat is not None and chat.chat_key == THIS_CHAT)
    if code == "QT4NW6HC" or not allowed:
        return web.json_response({"code": "booking_not_found", "message": "x"}, status=404)
    return web.json_response(booking(code, "cancelled" if code == "HP7CV3XA" else "confirmed"))


def said(dispatcher: Any) -> list[str]:
    return [m.get("response") or m.get("text") for m in dispatcher.messages]


@pytest.mark.parametrize("text", ["thôi", "Thôi!", "thoi", "thui", "dừng lại", "khong dat nua", "hủy", "huy bo",
                                  "khỏi", "thôi khỏi", "Dừng", "dung", "để mai nhé", "thôi để khi khác",
                                  "dung lai di", "thôi để nguyên", "thoi khong xem nua",
                                  # …and stops said in a sentence
                                  "thôi không khai nữa", "thoi k lam nua", "ko lam tiep", "khỏi tìm nữa",
                                  "để hôm khác chọn", "để mai tính", "tam dung", "thôi dừng ở đây", "stop lai",
                                  "khoan đã, để tôi nghĩ", "thôi giữ như cũ", "không xóa nữa đâu",
                                  "thôi bác không đăng ký nữa đâu", "thoi bo qua", "thôi, cảm ơn", "dạ thôi ạ",
                                  "vâng thôi", "dừng đi", "không muốn tiếp tục", "kết thúc đi", "thoát ra",
                                  "thôi khỏi đặt", "tôi không muốn đăng ký khám nữa", "Thôi ạ", "dừng nhé",
                                  "để tối về tính", "chưa muốn làm, để sau", "thoi ko khai", "ko tra nua",
                                  "Thôi, tôi nghĩ lại", "tôi nghĩ lại rồi", "đang bận, lát nhắn lại",
                                  "thoi mai tinh", "tí nữa làm tiếp", "để hỏi con cháu đã rồi tính",
                                  "hôm khác bác làm", "dung tra nua", "quit", "để bác nghĩ đã", "bận rồi"])
def test_stop_words_end_the_booking_form(text: str) -> None:
    assert is_stop(text, STOP_WORDS | CANCEL_WORDS)


@pytest.mark.parametrize("text", ["tên không nhầm", "xã không nhầm đâu", "số này chưa sai"])
def test_a_negated_fix_verb_fixes_nothing(text: str) -> None:
    assert find_correction(text, tuple(FIELD_WORDS)) is None


@pytest.mark.parametrize("text", ["Nông Thị Mai", "thôi được, tôi đồng ý", "không", "hủy", "Đúng", "đúng ạ!",
                                  "Khôi", "khói", "mai", "ngày mai", "để mai đi khám được không",
                                  "dung a", "dung nhe", "đúng nhé", "không có số điện thoại",
                                  "không nhớ ngày sinh", "khong co cccd", "để sau khi khám có kết quả không",
                                  "Lý Văn Khoan", "không dùng số này nữa", "ko biet", "bố đi", "bo di",
                                  "bỏ qua câu này", "khoan đã, số của tôi là 0912 345 678",
                                  # knowing or having, not stopping; a question; a name or "right" with a particle
                                  "không nhớ nữa", "không biết nữa", "chả biết nữa", "bác không nhớ rõ nữa",
                                  "tôi không nhớ nữa ạ", "không có nữa", "không có số nữa", "không còn nữa",
                                  "không dùng nữa", "không sửa gì nữa", "không cần sửa, tiếp đi",
                                  "ừ không sao tiếp đi", "Khôi ạ", "khói nhé", "để mai à?", "đúng ở đây",
                                  "Đúng ạ", "u dung", "da dung roi", "vang", "để tôi xem", "không khai",
                                  "de mai kham", "tôi nghĩ là xã Hữu Liên", "mai nhé", "mai khám", "sáng mai",
                                  "bận", "Bản Lát", "bạn ơi", "Mai Nhàn", "Mai Tính", "Đặng Bản", "Bàn Lâm",
                                  "hôm sau khám", "hôm khác đặt", "tôi nói", "tôi tính", "Dũng"])
def test_answers_are_not_taken_for_stopping(text: str) -> None:
    # "hủy" is an answer in the cancel form, so it only stops forms that include CANCEL_WORDS.
    assert not is_stop(text, STOP_WORDS)


@pytest.mark.parametrize(("text", "expected"), [
    ("sửa ngày sinh", ("birth_date", "")),
    ("sua ngay sinh thanh 05/03/1958", ("birth_date", "05/03/1958")),
    ("nhập lại số điện thoại 0912 345 678", ("phone", "0912 345 678")),
    ("sửa sdt", ("phone", "")),
    ("số cccd sai rồi", ("cccd", "")),
    ("đổi xã Hữu Liên", ("commune", "Hữu Liên")),
    ("sửa họ tên là Nông Thị Mai", ("full_name", "Nông Thị Mai")),
    ("đổi buổi khám", ("session_id", "")),
])
def test_corrections_name_the_field_and_the_new_value(text: str, expected: tuple[str, str]) -> None:
    assert find_correction(text, BOOKING_FIELDS) == expected


@pytest.mark.parametrize("text", ["Nông Thị Mai", "xã Đồi Ngang", "0912345678", "/deny", "ngày sinh 05/03/1958"])
def test_plain_answers_are_not_corrections(text: str) -> None:
    assert find_correction(text, BOOKING_FIELDS) is None


FILLED = {"consent_booking": True, "booking_for": "self", "full_name": "Nông Thị Mai", "birth_date": "1958-03-05"}


def test_stop_in_the_middle_of_booking_forgets_everything() -> None:
    track = tracker("thôi", slots={**FILLED, "requested_slot": "cccd", "cccd": "thôi"}, intent="deny",
                    form="booking_form")
    dispatcher, events = run_action(ValidateBookingForm(), {}, track)
    assert said(dispatcher) == ["utter_form_stopped"]
    assert ActiveLoop(None) in events and SlotSet("requested_slot", None) in events
    for slot in ("consent_booking", "full_name", "birth_date", "cccd"):
        assert SlotSet(slot, None) in events


def test_correction_asks_the_field_again_and_drops_the_misread_answer() -> None:
    track = tracker("sửa ngày sinh", slots={**FILLED, "requested_slot": "phone", "cccd": "003158001234",
                                             "phone": "sửa ngày sinh"}, intent="inform", form="booking_form")
    dispatcher, events = run_action(ValidateBookingForm(), {}, track)
    assert said(dispatcher) == ["utter_correcting"] and dispatcher.messages[0]["field"] == "ngày sinh"
    assert events == [SlotSet("birth_date", None), SlotSet("phone", None), SlotSet("requested_slot", "birth_date")]


def test_correction_with_the_new_value_takes_it_at_once() -> None:
    track = tracker("sửa tên thành nông văn hùng", slots={**FILLED, "requested_slot": "cccd",
                                                          "cccd": "sửa tên thành nông văn hùng"},
                    intent="inform", form="booking_form")
    _, events = run_action(ValidateBookingForm(), {}, track)
    assert SlotSet("full_name", "Nông Văn Hùng") in events and SlotSet("cccd", None) in events
    assert not any(e.get("name") == "requested_slot" for e in events)  # carries on with the next empty one


def test_changing_the_commune_drops_the_chosen_session() -> None:
    routes = {("GET", "/communes"): json_handler({"items": [
        {"id": 10, "name": "Yên Thịnh", "full_name": "xã Yên Thịnh"}]})}
    track = tracker("đổi xã Yên Thịnh", slots={**FILLED, "commune": "Hữu Liên", "commune_id": 9,
                                                "session_id": "12", "requested_slot": "booking_confirmed"},
                    intent="inform", form="booking_form")
    _, events = run_action(ValidateBookingForm(), routes, track)
    assert SlotSet("session_id", None) in events
    assert SlotSet("commune", "Yên Thịnh") in events and SlotSet("commune_id", 10) in events


def test_ordinary_answers_still_go_through_field_validation() -> None:
    track = tracker("0912 345 678", slots={**FILLED, "cccd": "003158001234", "requested_slot": "phone",
                                            "phone": "0912 345 678"}, intent="inform", form="booking_form")
    _, events = run_action(ValidateBookingForm(), {}, track)
    assert SlotSet("phone", "0912345678") in events


def test_saying_no_at_the_summary_offers_one_button_per_answer() -> None:
    track = tracker("không", slots={**FILLED, "requested_slot": "booking_confirmed"}, intent="deny")
    dispatcher, opened = run_action(ActionAskBookingConfirmed(), {}, track)
    assert said(dispatcher) == ["utter_which_field"]
    buttons = dispatcher.messages[0]["buttons"]
    assert [b["title"] for b in buttons][:2] == ["Sửa họ tên", "Sửa ngày sinh"]
    [tag] = [event["value"] for event in opened if event["name"] == "open_question"]
    assert [b["payload"] for b in buttons][:2] == [f'/inform{{"fix_field": "full_name", "question": "{tag}"}}',
                                                   f'/inform{{"fix_field": "birth_date", "question": "{tag}"}}']
    # …and each button, tapped while its question is on screen, asks that answer again.
    for slot in BOOKING_FIELDS:
        tap = tracker("/inform", [{"entity": "fix_field", "value": slot}, {"entity": "question", "value": tag}],
                      slots={**FILLED, "requested_slot": "booking_confirmed"}, intent="inform", form="booking_form",
                      opened=tag)
        form_dispatcher, events = run_action(ValidateBookingForm(), {}, tap)
        assert said(form_dispatcher) == ["utter_correcting"], slot
        assert SlotSet(slot, None) in events and SlotSet("requested_slot", slot) in events


@pytest.mark.parametrize(("typed", "code"), [("KE3MX7PA", "KE3MX7PA"), ("mã ke3m-x7pa ạ", "KE3MX7PA"),
                                             ("ma dat lich la KE3M X7PA", "KE3MX7PA"), ("12345678", None),
                                             ("hủy lịch", None), ("khám chữa", None), ("mã KE3M - X7PA", "KE3MX7PA")])
def test_booking_codes_as_typed(typed: str, code: str | None) -> None:
    assert normalize_code(typed) == code


def test_my_bookings_lists_this_chats_bookings_with_change_and_cancel_buttons() -> None:
    routes = {("GET", "/bookings/{code}"): bookings_by_code}
    track = tracker("lịch của tôi", slots={"my_booking_codes": ["HP7CV3XA", "KE3MX7PA"]}, intent="my_bookings")
    dispatcher, _ = run_action(ActionShowBookings(), routes, track)
    assert dispatcher.messages[0]["text"].startswith("Mã HP7CV3XA: đã hủy — Thứ Tư, 25/11/2026, 7:30–11:00")
    assert dispatcher.messages[0]["buttons"] == []
    assert [b["title"] for b in dispatcher.messages[1]["buttons"]] == ["Đổi lịch KE3MX7PA", "Hủy lịch KE3MX7PA"]
    # A code named in the message wins over the chat's own; an unknown one is said to be unknown.
    track = tracker("ma QT4NW6HC", [{"entity": "booking_code", "value": "qt4nw6hc"}], intent="my_bookings")
    dispatcher, _ = run_action(ActionShowBookings(), routes, track)
    assert said(dispatcher) == ["utter_code_not_found"]
    dispatcher, _ = run_action(ActionShowBookings(), routes, tracker("lich cua toi", intent="my_bookings"))
    assert said(dispatcher) == ["utter_ask_code_to_show"]


def test_cancel_form_checks_the_code_and_ends_for_a_booking_already_cancelled() -> None:
    routes = {("GET", "/bookings/{code}"): bookings_by_code}

    def validate(text: str) -> tuple[list[str], list[Any]]:
        track = tracker(text, slots={"requested_slot": "booking_code", "booking_code": text}, intent="inform",
                        form="cancel_form")
        dispatcher, events = run_action(ValidateCancelForm(), routes, track)
        return said(dispatcher), events

    assert validate("mã ke3mx7pa")[1] == [SlotSet("booking_code", "KE3MX7PA")]
    # An unknown code may be someone else's: the API cannot say, so the second factor is asked for.
    assert validate("QT4NW6HC") == ([], [SlotSet("booking_code", None), SlotSet("unverified_booking_code", "QT4NW6HC")])
    assert validate("abc")[0] == ["utter_code_invalid"]
    messages, events = validate("HP7CV3XA")
    assert messages == ["utter_booking_not_active"] and SlotSet("requested_slot", None) in events
    # "hủy" answers "are you sure?" here; "thôi" still stops.
    track = tracker("thôi", slots={"requested_slot": "cancel_confirmed", "booking_code": "KE3MX7PA"},
                    intent="deny", form="cancel_form")
    dispatcher, events = run_action(ValidateCancelForm(), routes, track)
    assert said(dispatcher) == ["utter_form_stopped"] and ActiveLoop(None) in events
    track = tracker("hủy", slots={"requested_slot": "cancel_confirmed", "booking_code": "KE3MX7PA",
                                  "cancel_confirmed": True}, intent="cancel_booking", form="cancel_form")
    _, events = run_action(ValidateCancelForm(), routes, track)
    assert SlotSet("cancel_confirmed", True) in events and ActiveLoop(None) not in events


@pytest.mark.parametrize(("slot", "text", "expected"), [
    ("cancel_confirmed", "hủy đi", YES), ("cancel_confirmed", "ừ hủy", YES),
    ("cancel_confirmed", "chắc chắn hủy", YES), ("cancel_confirmed", "huy luon", YES),
    ("cancel_confirmed", "hủy đi ạ", YES), ("cancel_confirmed", "đúng rồi, hủy đi", YES),
    ("rights_confirmed", "vâng xóa hết đi", YES), ("consent_booking", "đồng ý nhé", YES),
    ("booking_confirmed", "ok đặt đi", YES),
    ("cancel_confirmed", "ấy đừng hủy", NO), ("cancel_confirmed", "ko huy dau", NO),
    ("cancel_confirmed", "giữ lại lịch", NO), ("cancel_confirmed", "k, van di kham", NO),
    ("cancel_confirmed", "đừng hủy lịch của mẹ tôi", NO), ("rights_confirmed", "đừng có xóa", NO),
    ("consent_record", "k cho phep", NO), ("booking_confirmed", "thôi khoan đặt", NO),
    ("consent_record", "co cho phep", YES), ("consent_record", "dong y tra cuu", YES),
    ("consent_record", "cho xem sổ đi", YES), ("consent_record", "không cần tra", NO),
    # Negations as residents type them, marked or not ("dừng", "đưng", "chớ", "hông", "khum", "đâu có").
    ("cancel_confirmed", "dừng hủy", NO), ("rights_confirmed", "dừng xóa", NO), ("cancel_confirmed", "đưng hủy", NO),
    ("cancel_confirmed", "chớ có hủy", NO), ("rights_confirmed", "chớ xóa", NO), ("rights_confirmed", "hông xóa", NO),
    ("rights_confirmed", "khum xóa", NO), ("rights_confirmed", "đâu có xóa", NO),
    # Where a yes undoes something, anything but a plain answer is asked again; so is a yes taken back.
    ("rights_confirmed", "có xóa đâu", UNCLEAR), ("rights_confirmed", "xóa làm chi", UNCLEAR),
    ("rights_confirmed", "tôi có bảo xóa đâu", UNCLEAR), ("cancel_confirmed", "hủy làm chi", UNCLEAR),
    ("rights_confirmed", "xoa k", UNCLEAR), ("cancel_confirmed", "hủy đi... à mà thôi", UNCLEAR),
    ("cancel_confirmed", "Hủy đi. Khoan đã", UNCLEAR), ("cancel_confirmed", "hủy, thôi khỏi", UNCLEAR),
    ("rights_confirmed", "xóa đi, à thôi", UNCLEAR), ("booking_confirmed", "đặt đi... à nhầm ngày", UNCLEAR),
    ("cancel_confirmed", "sợ hủy", UNCLEAR), ("cancel_confirmed", "dạ hủy đi ạ, cảm ơn em", YES),
    ("cancel_confirmed", "đúng hủy", YES), ("rights_confirmed", "xóa bỏ hết đi", YES),
    # Another right than the one asked, or "let me look first": the intent decides.
    ("rights_confirmed", "rút đồng ý thôi", None), ("consent_record", "xem đã", None),
    # Asked about, both said, or only the marks would tell "đừng" (don't) from "đúng" (right): asked again.
    ("cancel_confirmed", "hủy được không", UNCLEAR), ("cancel_confirmed", "Hủy không được à", UNCLEAR),
    ("cancel_confirmed", "hủy dc ko?", UNCLEAR), ("cancel_confirmed", "không, hủy đi", UNCLEAR),
    ("rights_confirmed", "dung xoa nhe e", UNCLEAR),
    # Nothing of the deed, or more than a yes around it: the intent decides.
    ("cancel_confirmed", "ừ", None), ("cancel_confirmed", "không", None), ("cancel_confirmed", "/affirm", None),
    ("booking_confirmed", "đặt cho mẹ chứ không phải tôi", None), ("phone", "hủy đi", None),
])
def test_a_confirmation_may_be_answered_with_the_deeds_words(slot: str, text: str, expected: str | None) -> None:
    assert answer_in_words(text, slot) == expected


def test_dont_cancel_read_as_a_cancellation_keeps_the_booking() -> None:
    routes = {("GET", "/bookings/{code}"): bookings_by_code}

    def confirmed(text: str, intent: str, mapped: bool | None) -> Any:
        slots = {"requested_slot": "cancel_confirmed", "booking_code": "KE3MX7PA"}
        if mapped is not None:  # what the slot mapping made of the intent
            slots["cancel_confirmed"] = mapped
        _, events = run_action(ValidateCancelForm(), routes, tracker(text, slots=slots, intent=intent,
                                                                     form="cancel_form"))
        values = [event["value"] for event in events if event.get("name") == "cancel_confirmed"]
        return values[-1] if values else "not set"

    assert confirmed("ấy đừng hủy", "cancel_booking", True) is False
    assert confirmed("giữ lại lịch", "nlu_fallback", None) is False
    assert confirmed("ừ hủy", "nlu_fallback", None) is True
    # Unclear: emptied, so the form asks again instead of cancelling.
    assert confirmed("dung huy", "affirm", True) is None
    # A plain yes or no is the intent's, as before.
    assert confirmed("ừ", "affirm", True) is True
    assert confirmed("ko", "deny", False) is False


def test_submit_cancel_cancels_or_keeps() -> None:
    seen: list[web.Request] = []
    routes = {("POST", "/bookings/{code}/cancel"): json_handler(booking(status="cancelled"), seen=seen)}
    dispatcher, events = run_action(
        ActionSubmitCancel(), routes, tracker("/affirm", slots={"booking_code": "KE3MX7PA", "cancel_confirmed": True}))
    assert said(dispatcher) == ["utter_booking_cancelled"] and seen[0].path == "/api/v1/bookings/KE3MX7PA/cancel"
    assert SlotSet("booking_code", None) in events
    dispatcher, _ = run_action(
        ActionSubmitCancel(), {}, tracker("/deny", slots={"booking_code": "KE3MX7PA", "cancel_confirmed": False}))
    assert said(dispatcher) == ["utter_booking_kept"]


def test_reschedule_offers_the_communes_other_sessions_and_moves_the_booking() -> None:
    sessions = {"items": [{"id": 12, "starts_at": "2026-11-25T07:30:00+07:00", "ends_at": "2026-11-25T11:00:00+07:00",
                           "site": SITE, "available": 3, "waitlisted": 0},
                          {"id": 13, "starts_at": "2026-11-27T13:30:00+07:00", "ends_at": "2026-11-27T16:30:00+07:00",
                           "site": SITE, "available": 0, "waitlisted": 2}]}
    moved = {**booking(session_id=13), "status": "waitlisted", "waitlist_position": 3}
    routes = {("GET", "/bookings/{code}"): json_handler(booking()), ("GET", "/sessions"): json_handler(sessions),
              ("POST", "/bookings/{code}/reschedule"): json_handler(moved)}
    track = tracker("KE3MX7PA", slots={"requested_slot": "booking_code", "booking_code": "KE3MX7PA"},
                    intent="inform", form="reschedule_form")
    _, events = run_action(ValidateRescheduleForm(), routes, track)
    assert SlotSet("commune_id", 9) in events and SlotSet("booking_code", "KE3MX7PA") in events

    chosen = {"booking_code": "KE3MX7PA", "commune_id": 9, "requested_slot": "session_id"}
    dispatcher, _ = run_action(ActionAskSessionId(), routes, tracker("", slots=chosen, form="reschedule_form"))
    # The question says what a tap will move: the booking, whose it is, and where and when it is now.
    asked = dispatcher.messages[0]
    assert asked["response"] == "utter_ask_reschedule_session_id" and asked["code"] == "KE3MX7PA"
    assert (asked["when"], asked["place"], asked["address"]) == ("Thứ Tư, 25/11/2026, 7:30–11:00",
                                                                 "Trạm Y tế xã Hữu Liên", "thôn Riềng")
    titles = [b["title"] for b in dispatcher.messages[0]["buttons"]]
    # One place for every session offered: the button need not name it (the summary does).
    assert titles == ["Thứ 6, 27/11, 13:30–16:30 · hết chỗ, 2 người đang chờ"]
    dispatcher, events = run_action(ValidateRescheduleForm(), routes, tracker(
        "/inform", slots={**chosen, "session_id": "12"}, form="reschedule_form"))
    assert said(dispatcher) == ["utter_session_not_offered"] and SlotSet("session_id", None) in events

    dispatcher, _ = run_action(ActionSubmitReschedule(), routes, tracker(
        "/inform", slots={"booking_code": "KE3MX7PA", "session_id": "13"}))
    assert said(dispatcher) == ["utter_booking_waitlisted"] and dispatcher.messages[0]["position"] == 3


def test_reschedule_refused_by_the_api_says_why() -> None:
    refusal = {"code": "session_full", "message": "Buổi khám này đã hết chỗ. Lịch hẹn cũ vẫn được giữ nguyên."}
    routes = {("POST", "/bookings/{code}/reschedule"): json_handler(refusal, status=409)}
    dispatcher, events = run_action(ActionSubmitReschedule(), routes, tracker(
        "/inform", slots={"booking_code": "KE3MX7PA", "session_id": "13"}))
    assert said(dispatcher) == [refusal["message"]] and SlotSet("booking_code", None) in events


def test_handoff_gives_the_stations_phone_or_asks_for_the_commune() -> None:
    huu_lien = {"id": 9, "name": "Hữu Liên", "full_name": "xã Hữu Liên"}
    routes = {("GET", "/communes"): json_handler({"items": [huu_lien]}),
              ("GET", "/sites"): json_handler({"items": [{**SITE, "kind": "mobile", "phone": ""}, SITE]})}
    dispatcher, events = run_action(ActionHandoff(), routes, tracker("cho tôi gặp cán bộ", intent="human_handoff"))
    assert said(dispatcher) == ["utter_ask_commune"] and events == [SlotSet("awaiting_commune", "handoff")]
    # The bare commune name that comes next is routed back to the handoff.
    dispatcher, events = run_action(ActionRouteInform(), routes, tracker(
        "huu lien", intent="inform", slots={"awaiting_commune": "handoff"}))
    assert said(dispatcher) == ["utter_handoff_station"] and dispatcher.messages[0]["phone"] == "0205 3840 123"
    assert SlotSet("awaiting_commune", None) in events and SlotSet("commune_id", 9) in events


def test_scam_report_warns_first_and_is_filed_with_the_commune() -> None:
    seen: list[web.Request] = []
    routes = {("POST", "/reports/scam"): json_handler({"id": 1}, status=201, seen=seen)}
    text = "có người gọi bảo chuyển tiền để được khám"
    dispatcher, _ = run_action(ActionReportScam(), routes, tracker(text, slots={"commune_id": 9}))
    assert said(dispatcher) == ["utter_scam_warning", "utter_scam_recorded"]
    assert seen[0]["json"] == {"text": text, "channel": "zalo", "commune_id": 9}
    # The API down: the warning still goes out.
    dispatcher, _ = run_action(ActionReportScam(), {}, tracker(text))
    assert said(dispatcher) == ["utter_scam_warning"]



def test_the_message_that_opens_a_form_is_not_a_correction_or_a_stop() -> None:
    # "đổi lịch khám" opens the reschedule form; it must not be read as "change the session".
    track = tracker("toi muon doi lich kham", intent="reschedule_booking", form="reschedule_form")
    track.events = [{"event": "user", "text": "toi muon doi lich kham"},
                    {"event": "active_loop", "name": "reschedule_form"}]
    dispatcher, events = run_action(ValidateRescheduleForm(), {}, track)
    assert "utter_correcting" not in said(dispatcher) and ActiveLoop(None) not in events


def test_a_session_typed_instead_of_tapped_shows_the_buttons_again() -> None:
    track = tracker("huu lien", slots={**FILLED, "commune_id": 9, "requested_slot": "session_id",
                                       "session_id": "huu lien"}, intent="inform", form="booking_form")
    dispatcher, events = run_action(ValidateBookingForm(), {}, track)
    assert said(dispatcher) == ["utter_choose_session_by_button"] and SlotSet("session_id", None) in events
