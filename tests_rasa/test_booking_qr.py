"""A confirmed booking carries the QR code of its booking code, to show at the station's desk: an image
attachment of the confirmation (its text alternative a keyed text), which Rasa passes through to the
gateway beside the confirmation's text and audio."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.booking import ActionSubmitBooking
from bot.channels import recorded_replies
from tests_rasa.fake_api import bundle, json_handler, run_action, tracker

SLOTS = {"consent_booking": True, "booking_for": "self", "full_name": "Nông Thị Mai", "birth_date": "1958-03-05",
         "cccd": "003158001234", "phone": "0912345678", "commune": "Hữu Liên", "commune_id": 9,
         "session_id": "12", "booking_confirmed": True}
SESSION = {"starts_at": "2026-11-25T07:30:00+07:00", "ends_at": "2026-11-25T11:00:00+07:00",
           "site": {"name": "Trạm Y tế xã Hữu Liên"}}
CONFIRMED = {"code": "KE3MX7PA", "status": "confirmed", "waitlist_position": None, "session": SESSION}


def submit(booking: dict[str, Any], published: dict[str, dict[str, str]] | None = None
           ) -> tuple[CollectingDispatcher, str]:
    """Runs the booking's submit against the fake API; what it said, and the fake API's address."""
    routes = {("POST", "/bookings"): json_handler(booking, status=201)}
    if published is not None:
        routes[("GET", "/content/bundle")] = json_handler(bundle(published))
    action = ActionSubmitBooking()
    track = Tracker.from_dict({**tracker("/affirm", slots=SLOTS).current_state(), "sender_id": "telegram:4242"})
    dispatcher, _ = run_action(action, routes, track)
    return dispatcher, action.client.base_url


def test_the_confirmation_carries_the_qr_code_of_its_booking_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    dispatcher, api = submit(CONFIRMED)
    confirmation = dispatcher.messages[0]
    assert confirmation["response"] == "utter_booking_confirmed" and confirmation["code"] == "KE3MX7PA"
    assert confirmation["attachment"] == {"type": "image", "payload": {
        "url": f"{api}/api/v1/qr/bookings/KE3MX7PA.png", "alt": "Mã QR của mã đặt lịch KE3MX7PA"}}
    # On the confirmation itself, not a message of its own; nothing else carries a picture.
    assert [m["response"] for m in dispatcher.messages][:2] == ["utter_booking_confirmed", "utter_what_to_bring"]
    assert [m for m in dispatcher.messages[1:] if m.get("attachment") or m.get("image")] == []


def test_the_address_is_the_apis_public_one_and_the_text_alternative_as_published(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://khamsuckhoe.langson.gov.vn/")
    dispatcher, _ = submit(CONFIRMED, {"booking_qr_alt": {"vi": "Ảnh mã QR, mã {code}"}})
    assert dispatcher.messages[0]["attachment"]["payload"] == {
        "url": "https://khamsuckhoe.langson.gov.vn/api/v1/qr/bookings/KE3MX7PA.png", "alt": "Ảnh mã QR, mã KE3MX7PA"}


def test_a_waitlisted_booking_has_no_qr_code_to_show_yet() -> None:
    dispatcher, _ = submit({**CONFIRMED, "status": "waitlisted", "waitlist_position": 2})
    assert dispatcher.messages[0]["response"] == "utter_booking_waitlisted"
    assert all(not m.get("attachment") for m in dispatcher.messages)


def test_rasa_sends_the_picture_after_the_text_and_keeps_the_confirmations_audio(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What Rasa makes of the action's message (rasa.core: the action server's answer → the REST channel's
    replies, and the replay of a message answered before), with a confirmation that has audio."""
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    dispatcher, api = submit(CONFIRMED)
    audio = {"audio": {"url": "https://api.example/audio/files/a.mp3", "language": "vi"}}
    nlg = TemplatedNaturalLanguageGenerator({"utter_booking_confirmed": [{"text": "Mã {code}", "custom": audio}]})
    core = DialogueStateTracker("telegram:4242", [])
    core.update(UserUttered("/affirm", message_id="m1"))
    channel = CollectingOutputChannel()

    async def utter() -> None:
        # rasa_sdk's message as the action server sends it (the dispatcher's dict, serialised to JSON).
        said = await RemoteAction._utter_responses([dict(dispatcher.messages[0])], channel, nlg, core)
        core.update(ActionExecuted("action_submit_booking"))
        for event in said:
            core.update(event)
            await channel.send_response(core.sender_id, event.message())

    asyncio.run(utter())
    picture = {"type": "image", "payload": {"url": f"{api}/api/v1/qr/bookings/KE3MX7PA.png",
                                            "alt": "Mã QR của mã đặt lịch KE3MX7PA"}}
    assert channel.messages == [{"recipient_id": "telegram:4242", "text": "Mã KE3MX7PA"},
                                {"recipient_id": "telegram:4242", "custom": audio},
                                {"recipient_id": "telegram:4242", "attachment": picture}]
    assert recorded_replies(core, "m1") == [{"recipient_id": "telegram:4242", "text": "Mã KE3MX7PA",
                                             "attachment": picture, "custom": audio}]
