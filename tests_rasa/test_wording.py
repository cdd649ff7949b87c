"""What the actions say is keyed text: staff's published wording (in the resident's language, else
Vietnamese) over the seed in bot/texts/, filled with named values — for fragments, buttons, refusals
and e-health book statuses alike; and the seeds cover every key and placeholder the actions use."""

from __future__ import annotations

import ast
import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk.executor import CollectingDispatcher

from actions.api import ApiClient
from actions.booking import FIXABLE
from actions.booking_form import ValidateBookingForm
from actions.content import ContentCache
from actions.fallback import OFFERED_MEANINGS
from actions.manage import ActionShowBookings, ActionSubmitReschedule
from actions.records import RIGHTS, ActionSubmitRecordLookup
from actions.reminders import OFFERED_CHOICES
from actions.schedule import ActionListSessions
from actions.speaking import VIETNAM, error_values
from common.vocabulary import BOOKING_STATUSES, LANGUAGES
from common.wording import placeholders, seeds, text_seeds
from tests_rasa.fake_api import bundle, json_handler, run_action, serve, tracker
from tests_rasa.test_actions import HUU_LIEN, SESSION
from tests_rasa.test_manage_and_forms import bookings_by_code

ROOT = Path(__file__).resolve().parents[1]
CCCD, BIRTH = "003058000123", "1958-03-05"
TAY = "tyz"


def published(messages: dict[str, dict[str, str]]) -> dict[tuple[str, str], Any]:
    return {("GET", "/content/bundle"): json_handler(bundle(messages))}


def texts(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("text") or m.get("response") for m in dispatcher.messages]


# --- fragments -------------------------------------------------------------------------------------

def list_sessions(messages: dict[str, dict[str, str]], language: str = "vi") -> dict[str, Any]:
    routes = {("GET", "/communes"): json_handler({"items": [HUU_LIEN]}),
              ("GET", "/sessions"): json_handler({"items": [SESSION]}), **published(messages)}
    track = tracker("lich kham o huu lien", [{"entity": "commune", "value": "huu lien"}],
                    slots={"language": language})
    dispatcher, _ = run_action(ActionListSessions(), routes, track)
    message: dict[str, Any] = dispatcher.messages[0]
    return message


def test_a_published_fragment_replaces_the_seed_inside_the_sentence() -> None:
    seed = list_sessions({})
    assert seed["sessions"] == "• Thứ Tư, 25/11/2026, 7:30–11:00 — Trạm Y tế xã Hữu Liên (còn 2 chỗ)"
    edited = list_sessions({"session_seats_left": {"vi": "vẫn còn {available} chỗ trống"}})
    assert edited["sessions"] == "• Thứ Tư, 25/11/2026, 7:30–11:00 — Trạm Y tế xã Hữu Liên (vẫn còn 2 chỗ trống)"


def test_a_minority_language_gets_its_own_wording_else_the_vietnamese_one() -> None:
    message = list_sessions({"session_seats_left": {TAY: "TÀY {available}", "vi": "còn {available} suất"},
                             "button_book_session": {"vi": "Đăng ký {when}"}}, language=TAY)
    assert message["sessions"].endswith("(TÀY 2)")
    # Nothing in Tày for the button: staff's Vietnamese, not the seed.
    assert message["buttons"][0]["title"] == "Đăng ký Thứ 4, 25/11, 7:30–11:00"
    # A Vietnamese resident never reads the Tày wording.
    assert list_sessions({"session_seats_left": {TAY: "TÀY {available}"}})["sessions"].endswith("(còn 2 chỗ)")


# --- buttons ---------------------------------------------------------------------------------------

def show_bookings(routes: dict[tuple[str, str], Any], language: str) -> CollectingDispatcher:
    track = tracker("lịch của tôi", slots={"my_booking_codes": ["KE3MX7PA"], "language": language},
                    intent="my_bookings")
    return run_action(ActionShowBookings(), {("GET", "/bookings/{code}"): bookings_by_code, **routes}, track)[0]


def test_published_button_titles_and_status_words() -> None:
    dispatcher = show_bookings(published({"button_cancel_booking": {TAY: "Tày hủy {code}"},
                                          "booking_status_confirmed": {"vi": "đã chốt"}}), TAY)
    message = dispatcher.messages[0]
    assert message["text"].startswith("Mã KE3MX7PA: đã chốt — Thứ Tư, 25/11/2026")
    assert [b["title"] for b in message["buttons"]] == ["Đổi lịch KE3MX7PA", "Tày hủy KE3MX7PA"]
    # The payloads are what the assistant understands, whatever the titles say.
    assert message["buttons"][1]["payload"] == '/cancel_booking{"booking_code": "KE3MX7PA"}'


def test_with_the_content_service_down_the_seed_wording_is_said() -> None:
    action = ActionShowBookings()
    dispatcher = CollectingDispatcher()
    track = tracker("lịch của tôi", slots={"my_booking_codes": ["KE3MX7PA"], "language": TAY},
                    intent="my_bookings")

    async def scenario(base: str) -> None:
        # The API answers; its content service does not (nothing listens on port 9).
        action.client, action.content = ApiClient(base), ContentCache("http://127.0.0.1:9")
        await action.run(dispatcher, track, {})

    asyncio.run(serve({("GET", "/bookings/{code}"): bookings_by_code}, scenario))
    message = dispatcher.messages[0]
    assert message["text"].startswith("Mã KE3MX7PA: đã xác nhận — ")
    assert [b["title"] for b in message["buttons"]] == ["Đổi lịch KE3MX7PA", "Hủy lịch KE3MX7PA"]
    # A bundle the service refuses to give (HTTP 500) is no different.
    refused = show_bookings({("GET", "/content/bundle"): json_handler({"code": "internal_error"}, status=500)}, "vi")
    assert [b["title"] for b in refused.messages[0]["buttons"]] == ["Đổi lịch KE3MX7PA", "Hủy lịch KE3MX7PA"]


# --- refusals --------------------------------------------------------------------------------------

def reschedule_refused(body: dict[str, Any], messages: dict[str, dict[str, str]], language: str = "vi"
                       ) -> list[str]:
    routes = {("POST", "/bookings/{code}/reschedule"): json_handler(body, status=409), **published(messages)}
    track = tracker("/inform", slots={"booking_code": "KE3MX7PA", "session_id": "13", "language": language})
    return texts(run_action(ActionSubmitReschedule(), routes, track)[0])


FULL = {"code": "session_full", "message": "Buổi khám này đã hết chỗ. Lịch hẹn cũ vẫn được giữ nguyên."}


def test_an_api_refusal_is_said_by_its_codes_key() -> None:
    assert reschedule_refused(FULL, {}) == [FULL["message"]]  # the seed is the API's wording
    assert reschedule_refused(FULL, {"error_session_full": {"vi": "Kín chỗ rồi."}}) == ["Kín chỗ rồi."]
    assert reschedule_refused(FULL, {"error_session_full": {TAY: "Tày: kín chỗ.", "vi": "Kín chỗ."}},
                              TAY) == ["Tày: kín chỗ."]
    assert reschedule_refused(FULL, {"error_session_full": {"vi": "Kín chỗ."}}, TAY) == ["Kín chỗ."]


def test_a_code_without_a_key_says_the_apis_message_and_a_bare_refusal_the_base_one() -> None:
    assert reschedule_refused({"code": "something_new", "message": "Lý do mới."}, {}) == ["Lý do mới."]
    assert reschedule_refused({}, {}) == ["Yêu cầu không hợp lệ."]
    assert reschedule_refused({}, {"error_bad_request": {"vi": "Chưa làm được."}}) == ["Chưa làm được."]


def test_a_reason_in_the_details_picks_its_own_key() -> None:
    province = {"code": "invalid_cccd", "message": "x", "details": {"reason": "province"}}
    assert reschedule_refused(province, {}) == [
        "Ba chữ số đầu của CCCD là mã tỉnh nơi đăng ký khai sinh, chưa đúng. Xin kiểm tra lại."]
    assert reschedule_refused(province, {"error_invalid_cccd_province": {"vi": "Sai mã tỉnh."}}) == ["Sai mã tỉnh."]
    # A reason without a key of its own falls back to the code's.
    other = {**province, "details": {"reason": "elsewhere"}}
    assert reschedule_refused(other, {}) == ["Số CCCD phải gồm đúng 12 chữ số. Xin kiểm tra lại trên thẻ căn cước."]


def validate_cccd(typed: str, messages: dict[str, dict[str, str]], language: str = "vi") -> list[str]:
    track = tracker(typed, slots={"requested_slot": "cccd", "cccd": typed, "language": language}, intent="inform",
                    form="booking_form")
    return texts(run_action(ValidateBookingForm(), published(messages), track)[0])


def test_the_forms_own_checks_are_said_by_the_same_keys() -> None:
    assert validate_cccd("999158001234", {}) == [
        "Ba chữ số đầu của CCCD là mã tỉnh nơi đăng ký khai sinh, chưa đúng. Xin kiểm tra lại."]
    assert validate_cccd("999158001234", {"error_invalid_cccd_province": {TAY: "Tày: mã tỉnh."}}, TAY) == [
        "Tày: mã tỉnh."]
    assert validate_cccd("12345", {"error_invalid_cccd": {"vi": "CCCD có 12 số."}}, TAY) == ["CCCD có 12 số."]


def test_a_lockout_says_when_it_ends_in_vietnam_time() -> None:
    values = error_values({"retry_after_seconds": 900, "fields": [{"x": 1}]},
                          now=datetime(2026, 11, 25, 9, 50, tzinfo=VIETNAM))
    assert values == {"retry_after_seconds": 900, "until_time": "10:05", "until_date": "25/11/2026",
                      "retry_after_minutes": 15}


# --- e-health book statuses -----------------------------------------------------------------------

def look_up(answer: dict[str, Any], messages: dict[str, dict[str, str]], language: str = "vi") -> dict[str, Any]:
    routes = {("POST", "/records/status"): json_handler(answer), **published(messages)}
    track = tracker("", slots={"consent_record": True, "cccd": CCCD, "birth_date": BIRTH, "language": language})
    message: dict[str, Any] = run_action(ActionSubmitRecordLookup(), routes, track)[0].messages[0]
    return message


UPDATED = {"status": "updated", "label": "Nhãn của API", "updated_on": "2026-10-01", "next_step": "Bước của API"}


def test_a_record_status_is_said_by_its_keys_in_the_residents_language() -> None:
    seed = look_up(UPDATED, {})
    assert seed["label"] == f"{seeds()['record_status_updated']} (ngày 01/10/2026)"
    assert seed["next_step"] == seeds()["record_next_updated"]
    tay = look_up(UPDATED, {"record_status_updated": {TAY: "Tày: đã cập nhật"},
                            "record_next_updated": {"vi": "Mở VNeID."},
                            "record_label_updated_on": {TAY: "{label}, {date}"}}, TAY)
    assert (tay["label"], tay["next_step"]) == ("Tày: đã cập nhật, 01/10/2026", "Mở VNeID.")
    assert tay["who"] == "số căn cước •••••••••123"


def test_a_status_without_a_key_keeps_the_apis_label_and_next_step() -> None:
    unknown = look_up({**UPDATED, "status": "moved_abroad", "updated_on": None}, {})
    assert (unknown["label"], unknown["next_step"]) == ("Nhãn của API", "Bước của API")


# --- the seeds cover what the actions say ----------------------------------------------------------

# Keys an action builds from a value (f"field_{slot}"): every value it can be given.
FAMILIES: dict[str, tuple[str, ...]] = {
    "field_": FIXABLE,
    "button_reminders_": OFFERED_CHOICES,
    "button_data_right_": RIGHTS,
    "booking_status_": BOOKING_STATUSES,
    "language_name_": LANGUAGES,
    "consent_purpose_": ("booking", "record_lookup", "reminders", "announcements"),
    "record_status_": ("not_found", "not_created", "created", "exam_done_pending_update", "updated", "linked_vneid"),
    "meaning_": OFFERED_MEANINGS,
    "record_next_": ("not_found", "not_created", "created", "exam_done_pending_update", "updated", "linked_vneid"),
}


def said_keys() -> list[tuple[str, str, set[str] | None]]:
    """(file:line, key or family prefix, the values offered; None for `**values`) of every call in actions/
    that says a key: `say("key", …)`, `….say("key", language, …)`, `say.first([f"prefix_{x}"])`."""
    found: list[tuple[str, str, set[str] | None]] = []
    for path in sorted((ROOT / "actions").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            says = (isinstance(func, ast.Name) and func.id == "say") or (
                isinstance(func, ast.Attribute) and func.attr == "say")
            firsts = isinstance(func, ast.Attribute) and func.attr == "first" and node.args and isinstance(
                node.args[0], ast.List)
            keys = node.args[:1] if says else list(node.args[0].elts) if firsts else []  # type: ignore[attr-defined]
            offered = None if any(k.arg is None for k in node.keywords) else {str(k.arg) for k in node.keywords}
            for key in keys:
                where = f"{path.name}:{node.lineno}"
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    found.append((where, key.value, offered))
                elif isinstance(key, ast.JoinedStr) and isinstance(key.values[0], ast.Constant):
                    found.append((where, str(key.values[0].value), offered))
    return found


def test_every_key_the_actions_say_has_a_seed_with_only_the_placeholders_offered() -> None:
    known = seeds()
    calls = said_keys()
    assert len(calls) > 30, "the pattern must find the actions' keys"
    for where, key, offered in calls:
        assert offered is not None, f"{where}: name the values (no **values), so this test can check them"
        if key.startswith("error_"):
            continue  # refusals: the next test
        expanded = [key + value for value in FAMILIES[key]] if key.endswith("_") else [key]
        for name in expanded:
            if name.startswith("utter_"):
                continue
            assert name in known, f"{where}: no seed for {name}"
            assert placeholders(known[name]) <= offered, f"{where}: {name} wants {placeholders(known[name])}"


def test_every_action_text_seed_is_said_and_refusals_ask_only_for_what_a_refusal_offers() -> None:
    calls = said_keys()
    said = {key for _, key, _ in calls if not key.endswith("_")}
    said |= {prefix + value for _, prefix, _ in calls if prefix in FAMILIES for value in FAMILIES[prefix]}
    ours = yaml.safe_load((ROOT / "bot" / "texts" / "actions.yml").read_text(encoding="utf-8"))["texts"]
    assert set(ours) - said == set(), "seeds no action says"
    refusals = yaml.safe_load((ROOT / "bot" / "texts" / "errors.yml").read_text(encoding="utf-8"))["texts"]
    assert refusals and all(key.startswith("error_") for key in refusals)
    offered = set(error_values({"retry_after_seconds": 60}))
    for key, text in refusals.items():
        assert placeholders(text) <= offered, f"{key} wants {placeholders(text) - offered}"
    # Both files load through the one reader the API seeds its store from (and no key is seeded twice).
    assert set(ours) | set(refusals) <= set(text_seeds())
