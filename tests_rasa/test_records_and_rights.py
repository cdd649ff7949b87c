"""E-health book lookups and data requests in chat (actions against a fake API over HTTP), and the
conversation store that keeps personal data out of plain text."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk.events import AllSlotsReset
from rasa_sdk.events import SlotSet as SdkSlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.consent import NOTICE_VERSION
from actions.records import (
    ActionSubmitRecordLookup,
    ActionSubmitRights,
    ValidateRecordForm,
    ValidateRightsForm,
    right_in,
)
from bot.tracker_store import PrivacyFilter, PrivateTrackerStore
from common.keys import multi_fernet
from common.masking import mask_personal_digits
from tests_rasa.fake_api import bot_domain, json_handler, run_action, tracker

CCCD, BIRTH, PHONE = "003058000123", "1958-03-05", "0912000123"
IDENTITY = {"cccd": CCCD, "birth_date": BIRTH}


def said(dispatcher: Any) -> list[str]:
    return [m.get("response") or m.get("text") for m in dispatcher.messages]


def slot_changes(events: list[Any]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


@pytest.mark.parametrize("text, right", [
    ("rút lại đồng ý", "withdraw"), ("khong dong y cho tra cuu nua", "withdraw"),
    ("các bạn giữ thông tin gì của tôi", "view"), ("cac anh luu nhung gi ve toi", "view"),
    ("xóa dữ liệu của tôi", "erase"), ("dung luu thong tin cua toi nua", "erase"),
    ("quyền của tôi về dữ liệu", None),
])
def test_the_request_says_which_right(text: str, right: str | None) -> None:
    assert right_in(text) == right


def test_lookup_reuses_the_identity_confirmed_earlier_in_the_conversation() -> None:
    form = ValidateRecordForm()
    track = tracker("so suc khoe cua toi da cap nhat chua", intent="check_record_status", form="record_form",
                    slots={"known_cccd": CCCD, "known_birth_date": BIRTH, "requested_slot": "consent_record"})
    _, events = run_action(form, {}, track)
    assert {"cccd": CCCD, "birth_date": BIRTH}.items() <= slot_changes(events).items()


def test_a_birth_date_that_does_not_match_the_cccd_is_asked_again() -> None:
    form = ValidateRecordForm()
    track = tracker("05/03/1970", form="record_form", intent="inform",
                    slots={"cccd": CCCD, "birth_date": "05/03/1970", "requested_slot": "birth_date"})
    dispatcher, events = run_action(form, {}, track)
    assert slot_changes(events)["birth_date"] is None
    assert "không khớp" in dispatcher.messages[0]["text"]


def test_lookup_answers_status_and_next_step_and_sends_consent_version() -> None:
    seen: list[web.Request] = []
    answer = {"status": "updated", "label": "Đã cập nhật kết quả khám", "updated_on": "2026-10-01",
              "next_step": "Mở ứng dụng VNeID…"}
    routes = {("POST", "/records/status"): json_handler(answer, seen=seen)}
    track = tracker("", slots={"consent_record": True, **IDENTITY})
    dispatcher, events = run_action(ActionSubmitRecordLookup(), routes, track)
    sent = seen[0]["json"]
    # The notice series and a fingerprint of the wording shown (the domain's here: no content service).
    wording = bot_domain()["responses"]["utter_ask_consent_record"][0]["text"]
    notice = f"{NOTICE_VERSION}.{hashlib.sha256(wording.encode()).hexdigest()[:6]}"
    assert sent == {**IDENTITY, "chat_id": "test-user", "consent_notice": notice, "channel": "zalo"}
    message = dispatcher.messages[0]
    assert message["response"] == "utter_record_status"
    assert message["label"] == "Đã cập nhật kết quả khám (ngày 01/10/2026)" and message["who"].endswith("123")
    assert CCCD not in message["who"]
    # Found: remembered for the conversation, and out of the form's slots.
    assert slot_changes(events) == {"consent_record": None, "cccd": None, "birth_date": None,
                                    "known_cccd": CCCD, "known_birth_date": BIRTH}


def test_not_found_forgets_the_answers_so_the_next_try_asks_again() -> None:
    answer = {"status": "not_found", "label": "Chưa tìm thấy", "updated_on": None, "next_step": "Xin kiểm tra lại…"}
    dispatcher, events = run_action(ActionSubmitRecordLookup(), {("POST", "/records/status"): json_handler(answer)},
                                    tracker("", slots={"consent_record": True, **IDENTITY}))
    assert said(dispatcher) == ["utter_record_status"]
    assert slot_changes(events)["known_cccd"] is None


def test_lockout_message_says_until_when() -> None:
    # The API's body (api/identity/service.py): the end of the lockout is in `retry_after_seconds`.
    locked = {"code": "too_many_attempts", "message": "Để bảo vệ thông tin… tạm khóa đến 10:00",
              "details": {"retry_after_seconds": 900}}
    dispatcher, _ = run_action(ActionSubmitRecordLookup(),
                               {("POST", "/records/status"): json_handler(locked, status=429)},
                               tracker("", slots={"consent_record": True, **IDENTITY}))
    [text] = said(dispatcher)
    assert re.fullmatch(r"Để bảo vệ thông tin của người dân, việc tra cứu tạm khóa đến \d\d:\d\d ngày \d\d/\d\d/\d{4} "
                        r"vì đã thử quá nhiều lần\. Nếu cần gấp, .*", text), text


def test_consent_refused_calls_nothing_and_keeps_nothing() -> None:
    dispatcher, events = run_action(ActionSubmitRecordLookup(), {}, tracker("", slots={"consent_record": False}))
    assert said(dispatcher) == ["utter_consent_refused"]
    assert all(value is None for value in slot_changes(events).values())


def test_rights_form_asks_confirmation_only_for_erasing() -> None:
    form = ValidateRightsForm()
    domain_slots = ["data_right", "cccd", "birth_date", "rights_confirmed"]

    def required(right: str) -> list[str]:
        dispatcher = CollectingDispatcher()
        return asyncio.run(form.required_slots(domain_slots, dispatcher, tracker("", slots={"data_right": right}), {}))

    assert required("view") == ["data_right", "cccd", "birth_date"]
    assert required("erase") == domain_slots


def test_held_data_is_told_masked() -> None:
    held = {"found": True, "full_name": "Nông Thị Mai", "phone_masked": "•••••••123", "birth_year": 1958,
            "commune": "Hữu Liên", "record_status": "created", "record_label": "Đã lập sổ, chưa khám năm nay",
            "bookings": [{"code": "KE3MX7PA", "status": "confirmed", "starts_at": "2026-11-25T07:30:00+07:00"}],
            "consents": [{"purpose": "booking", "notice_version": "2026-01", "given_at": "2026-11-20T08:00:00+07:00",
                          "withdrawn_at": None}]}
    dispatcher, events = run_action(ActionSubmitRights(), {("POST", "/privacy/held-data"): json_handler(held)},
                                    tracker("", slots={"data_right": "view", **IDENTITY}))
    text = dispatcher.messages[0]["text"]
    for part in ("Nông Thị Mai", "•••••••123", "KE3MX7PA ngày 25/11/2026: đã xác nhận", "Đã lập sổ",
                 "Đồng ý đặt lịch khám ngày 20/11/2026 (thông báo 2026-01): còn hiệu lực"):
        assert part in text
    assert CCCD not in text and PHONE not in text
    assert slot_changes(events)["known_cccd"] == CCCD


def test_withdraw_covers_lookup_and_reminders() -> None:
    seen: list[web.Request] = []
    dispatcher, _ = run_action(ActionSubmitRights(),
                               {("POST", "/privacy/withdraw"): json_handler({"withdrawn": 1}, seen=seen)},
                               tracker("", slots={"data_right": "withdraw", **IDENTITY}))
    assert [r["json"]["purpose"] for r in seen] == ["record_lookup", "reminders", "announcements"]
    assert said(dispatcher) == ["utter_consent_withdrawn"]


def test_erase_confirmed_resets_everything_and_marks_the_conversation() -> None:
    erased = {"erased": True, "bookings_cancelled": 1, "bookings_anonymised": 1}
    dispatcher, events = run_action(ActionSubmitRights(), {("POST", "/privacy/erase"): json_handler(erased)},
                                    tracker("", slots={"data_right": "erase", "rights_confirmed": True, **IDENTITY}))
    assert said(dispatcher) == ["utter_data_erased"] and dispatcher.messages[0]["cancelled"] == 1
    assert events == [AllSlotsReset(), SdkSlotSet("conversation_erased", True)]


def test_erase_declined_keeps_everything() -> None:
    dispatcher, events = run_action(ActionSubmitRights(), {},
                                    tracker("", slots={"data_right": "erase", "rights_confirmed": False, **IDENTITY}))
    assert said(dispatcher) == ["utter_erase_kept"]
    assert SdkSlotSet("conversation_erased", True) not in events


# --- the conversation store ----------------------------------------------------------------------

def conversation(sender: str) -> DialogueStateTracker:
    domain = Domain.from_path(Path(__file__).parents[1] / "bot" / "domain.yml")
    track = DialogueStateTracker(sender, domain.slots)
    for event in (
        SessionStarted(), ActionExecuted("action_listen"),
        UserUttered("cccd cua toi la 003 058 000 123, sdt 0912.000.123, sinh 05/03/1958",
                    intent={"name": "inform", "confidence": 0.9},
                    parse_data={"intent": {"name": "inform", "confidence": 0.9}, "text": "x",
                                 "entities": [{"entity": "cccd", "value": CCCD, "start": 0, "end": 1}]}),
        SlotSet("cccd", CCCD), SlotSet("phone", PHONE), SlotSet("birth_date", BIRTH), SlotSet("commune", "Hữu Liên"),
        BotUttered("Ngày sinh 05/03/1958, CCCD •••••••••123. Buổi khám Thứ Ba 25/11 lúc 7:30.",
                   metadata={"utter_action": "utter_ask_booking_confirmed", "birth_date": "05/03/1958",
                             "full_name": "Nông Thị Mai"}),
    ):
        track.update(event)
    return track


def stored_rows(store: PrivateTrackerStore) -> str:
    with store.engine.connect() as db:
        # As stored, and with JSON escapes undone (so "Hữu Liên" reads as typed).
        rows = [row[0] for row in db.execute(sa.text("SELECT data FROM events"))]
    return "\n".join(rows + [json.dumps(json.loads(row), ensure_ascii=False) for row in rows])


def test_personal_data_is_masked_or_encrypted_at_rest_and_read_back(store: PrivateTrackerStore) -> None:
    asyncio.run(store.save(conversation("chat-a")))
    raw = stored_rows(store)
    for plain in (CCCD, "003 058 000 123", PHONE, "0912.000.123", BIRTH, "05/03/1958", "1958"):
        assert plain not in raw
    assert "Hữu Liên" in raw and "utter_ask_booking_confirmed" in raw  # not personal: kept for staff
    assert "Nông Thị Mai" not in raw  # a response's template variables are not kept
    back = asyncio.run(store.retrieve("chat-a"))
    assert back is not None
    assert (back.get_slot("cccd"), back.get_slot("phone"), back.get_slot("birth_date")) == (CCCD, PHONE, BIRTH)
    # Saving again appends nothing twice (the stored count still lines up with the events).
    asyncio.run(store.save(back))
    assert stored_rows(store).count('"event": "user"') == 2  # once as stored, once decoded


def test_erasure_redacts_the_whole_conversation(store: PrivateTrackerStore) -> None:
    track = conversation("chat-b")
    asyncio.run(store.save(track))
    track.update(UserUttered("xoa du lieu cua toi", intent={"name": "delete_my_data", "confidence": 0.9}))
    track.update(SlotSet("conversation_erased", True))
    asyncio.run(store.save(track))
    raw = stored_rows(store)
    assert "Hữu Liên" not in raw and "xoa du lieu" not in raw and "enc:" not in raw
    assert raw.count('"name": "inform"') == 2  # the anonymous skeleton: which intent, not what was said
    back = asyncio.run(store.retrieve("chat-b"))
    assert back is not None and back.get_slot("cccd") is None and back.get_slot("commune") is None


def test_erased_and_purged_conversations_leave_no_trace_in_the_sqlite_files(
        sqlite_store: PrivateTrackerStore, tmp_path: Path) -> None:
    # The embedded default's files as a thief would read them: the database and its journals, free space
    # included (SQLite keeps an updated or deleted row's old bytes in free space and in its write-ahead
    # log unless told otherwise).
    store = sqlite_store

    def files() -> bytes:
        return b"".join(path.read_bytes() for path in tmp_path.glob("conversations.db*"))

    for sender, said in (("erased", "toi song o ban khe gio"), ("idle", "nha toi gan cho phieng luong")):
        track = conversation(sender)
        track.update(UserUttered(said, intent={"name": "inform", "confidence": 0.9}))
        asyncio.run(store.save(track))
        assert said.encode() in files()
    erased = asyncio.run(store.retrieve("erased"))
    assert erased is not None
    erased.update(SlotSet("conversation_erased", True))
    asyncio.run(store.save(erased))
    assert b"ban khe gio" not in files() and b"nha toi gan cho" in files()
    with store.engine.begin() as db:
        db.execute(sa.text("UPDATE events SET timestamp = :t WHERE sender_id = 'idle'"),
                   {"t": time.time() - 40 * 86400})
    assert store.purge(30) == 1
    assert b"nha toi gan cho" not in files() and "Hữu Liên".encode() not in files()


def test_idle_conversations_are_purged(store: PrivateTrackerStore) -> None:
    asyncio.run(store.save(conversation("old")))
    asyncio.run(store.save(conversation("recent")))
    with store.engine.begin() as db:
        db.execute(sa.text("UPDATE events SET timestamp = :t WHERE sender_id = 'old'"), {"t": time.time() - 40 * 86400})
    assert store.purge(30) == 1
    assert asyncio.run(store.retrieve("old")) is None and asyncio.run(store.retrieve("recent")) is not None


def test_a_value_encrypted_under_a_forgotten_key_is_dropped_not_a_crash(store: PrivateTrackerStore) -> None:
    event = store.filter.protect({"event": "slot", "name": "cccd", "value": CCCD})
    stranger = PrivacyFilter(multi_fernet(b"another-secret", [], b"conversation-store"))
    assert stranger.reveal(dict(event))["value"] is None
    assert store.filter.reveal(json.loads(json.dumps(event)))["value"] == CCCD


def test_bot_text_masking_keeps_times_and_short_numbers() -> None:
    assert mask_personal_digits("Thứ Ba 25/11 lúc 7:30, còn 12 chỗ") == "Thứ Ba 25/11 lúc 7:30, còn 12 chỗ"
    assert "1958" not in mask_personal_digits("Ngày sinh 05/03/1958")
    assert "0912" not in mask_personal_digits("SĐT 0912 000 123")


def test_consent_question_says_whose_cccd_will_be_used_and_offers_someone_else() -> None:
    from actions.records import ActionAskConsentRecord

    dispatcher, _ = run_action(ActionAskConsentRecord(), {}, tracker("", slots={"known_cccd": CCCD}))
    assert said(dispatcher) == ["utter_reusing_identity", "utter_ask_consent_record"]
    assert dispatcher.messages[0]["cccd"] == "•••••••••123"
    assert [b["title"] for b in dispatcher.messages[1]["buttons"]] == [
        "Đồng ý tra sổ", "Tra cho người khác", "Không tra sổ"]
    fresh, _ = run_action(ActionAskConsentRecord(), {}, tracker(""))
    # Without a known identity: agree or not, each once (the domain response brings no buttons of its own).
    assert said(fresh) == ["utter_ask_consent_record"]
    assert [b["title"] for b in fresh.messages[0]["buttons"]] == ["Đồng ý tra sổ", "Không tra sổ"]


def test_someone_else_forgets_the_remembered_identity_without_complaining() -> None:
    form = ValidateRecordForm()
    track = tracker('/affirm{"person_name": "người khác"}', intent="affirm", form="record_form",
                    slots={"known_cccd": CCCD, "known_birth_date": BIRTH, "cccd": CCCD, "birth_date": BIRTH,
                           "requested_slot": "consent_record", "consent_record": True})
    dispatcher, events = run_action(form, {}, track)
    changes = slot_changes(events)
    assert changes["known_cccd"] is None and changes["cccd"] is None and changes["birth_date"] is None
    assert dispatcher.messages == []


def test_the_signed_chat_identity_is_not_kept_in_the_conversation_store() -> None:
    """Rasa copies a session's first metadata into a slot; the gateway's token (with the web chat's
    address) must not be stored there, nor in the session start event; the verifier is encrypted."""
    protect = PrivacyFilter(multi_fernet(b"a-secret", [], b"conversation-store")).protect
    metadata = {"channel": "web", "language": "vi", "chat_identity": "eyJjIjoid2ViIn0.c2ln"}
    slot = protect({"event": "slot", "name": "session_started_metadata", "value": dict(metadata)})
    started = protect({"event": "session_started", "metadata": dict(metadata)})
    verifier = protect({"event": "slot", "name": "booking_verifier", "value": "321"})
    assert slot["value"] == started["metadata"] == {"channel": "web", "language": "vi"}
    assert "321" not in json.dumps(verifier)
