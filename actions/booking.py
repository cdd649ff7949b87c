"""Asking for a session, confirming, and submitting the booking to the API."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions import questions, reminders
from actions.api import ApiError, ApiUnavailable
from actions.consent import notice_version
from actions.faq import channel_of
from actions.form_control import FIELD_WORDS, FIX_FIELD
from actions.formatting import address_of, day_month_year, session_title, several_sites
from actions.manage import offered_sessions, verifier_of
from actions.speaking import Speaks, Wording
from common.booking_codes import qr_path
from common.masking import mask
from common.when import session_time

# Personal answers are dropped from the conversation as soon as the booking is made or refused.
# Answers the summary offers to fix, one "Sửa …" button each.
FIXABLE = tuple(FIELD_WORDS)
PERSONAL_SLOTS = ("full_name", "birth_date", "cccd", "phone", "booking_for", "session_id", "booking_confirmed")


def forget_personal_data() -> list[EventType]:
    return [SlotSet(slot, None) for slot in PERSONAL_SLOTS]


def remember_identity(cccd: str | None, birth_date: str | None) -> list[EventType]:
    """Keep a confirmed CCCD and birth date for the rest of the conversation, so an e-book lookup or
    a data request need not ask again. The conversation store keeps them encrypted, and the
    conversation (with them) ends after an hour of silence."""
    return [SlotSet("known_cccd", cccd), SlotSet("known_birth_date", birth_date)]


class ActionAskConsentBooking(Speaks, Action):
    def name(self) -> str:
        return "action_ask_consent_booking"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        say = await self.wording(tracker)
        return questions.ask(dispatcher, tracker, questions.CONSENT_BOOKING, [
            (say("button_consent_booking_yes"), "affirm", {}), (say("button_consent_booking_no"), "deny", {})],
            response="utter_ask_consent_booking")


class ActionAskBookingFor(Speaks, Action):
    def name(self) -> str:
        return "action_ask_booking_for"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        say = await self.wording(tracker)
        return questions.ask(dispatcher, tracker, questions.BOOKING_FOR, [
            (say("button_booking_for_self"), "inform", {"booking_for": "self"}),
            (say("button_booking_for_relative"), "inform", {"booking_for": "relative"})],
            response="utter_ask_booking_for")


class ActionAskSessionId(Speaks, Action):
    def name(self) -> str:
        return "action_ask_session_id"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        say = await self.wording(tracker)
        try:
            sessions = await offered_sessions(self, tracker)
        except (ApiUnavailable, ApiError):
            dispatcher.utter_message(response="utter_service_busy")
            return []
        if not sessions:
            dispatcher.utter_message(response="utter_no_sessions",
                                     commune=tracker.get_slot("commune") or say("this_commune"))
            return []
        shown = sessions[:8]
        places = several_sites(shown)
        buttons = [(session_title(s, say, several_sites=places), "inform", {"session_id": str(s["id"])})
                   for s in shown]
        code = tracker.get_slot("booking_code")
        if tracker.active_loop_name != "reschedule_form" or not code:
            return questions.ask(dispatcher, tracker, questions.SESSION, buttons, response="utter_ask_session_id")
        # A tap moves the booking at once: the question says which booking, whose, and where it is now.
        try:
            booking = await self.client.get_booking(str(code), verifier=verifier_of(tracker))
        except (ApiUnavailable, ApiError):
            dispatcher.utter_message(response="utter_service_busy")
            return []
        now = booking["session"]
        return questions.ask(dispatcher, tracker, questions.SESSION, buttons,
                             response="utter_ask_reschedule_session_id", code=booking["code"],
                             full_name=(booking.get("resident") or {}).get("full_name") or "",
                             when=session_time(now["starts_at"], now["ends_at"]), place=now["site"]["name"],
                             address=address_of(now["site"], say))


class ActionAskBookingConfirmed(Speaks, Action):
    """The last question before booking: everything that will happen — for whom, who, when, where."""

    def name(self) -> str:
        return "action_ask_booking_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        slot = tracker.get_slot
        say = await self.wording(tracker)
        said_no = (tracker.latest_message.get("intent") or {}).get("name") == "deny"
        # A stale "Không" (another question's button) is no answer to the summary: it is shown again.
        if said_no and not questions.stale_tap(tracker):
            # "Chưa đúng": one button per answer to ask again.
            return questions.ask(dispatcher, tracker, questions.FIX_ANSWER, [
                (say("button_fix_field", field=say(f"field_{name}")), "inform", {FIX_FIELD: name})
                for name in FIXABLE], response="utter_which_field")
        try:
            offered = await offered_sessions(self, tracker)
            session = next((s for s in offered if str(s["id"]) == str(slot("session_id"))), None)
        except (ApiUnavailable, ApiError):
            # Nothing is confirmed unseen: the next message picks the session again (and shows it).
            dispatcher.utter_message(response="utter_service_busy")
            return [SlotSet("session_id", None), SlotSet(REQUESTED_SLOT, "session_id")]
        if session is None:
            # Nothing is confirmed without the session it books: the choice is asked again.
            dispatcher.utter_message(text=say("session_not_in_schedule"))
            return [SlotSet("session_id", None), SlotSet(REQUESTED_SLOT, "session_id"),
                    *await ActionAskSessionId(self.client, self.content).run(dispatcher, tracker, domain)]
        birth = slot("birth_date") or ""
        day = day_month_year(birth) if len(birth) == 10 else birth
        return questions.ask(
            dispatcher, tracker, questions.BOOKING_CONFIRMED,
            [(say("button_book_confirmed"), "affirm", {}), (say("button_book_fix"), "deny", {})],
            response="utter_ask_booking_confirmed",
            for_whom=say("booking_for_relative") if slot("booking_for") == "relative" else say("booking_for_self"),
            full_name=slot("full_name"), birth_date=day, cccd=mask(slot("cccd") or ""),
            phone=mask(slot("phone") or ""), commune=slot("commune"),
            when=session_time(session["starts_at"], session["ends_at"]), place=session["site"]["name"],
            address=address_of(session["site"], say),
        )


def idempotency_key(tracker: Tracker, body: dict[str, Any]) -> str:
    """The same answers in the same chat make the same key: a double tap or a redelivered
    message books once. Hashed, since the body holds personal data."""
    raw = tracker.sender_id + json.dumps(body, sort_keys=True, ensure_ascii=False)
    return "chat-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def qr_attachment(code: str, say: Wording, api_url: str) -> dict[str, Any]:
    """The QR code of a booking code, to show at the station's desk, as an image attachment of the
    confirmation: the gateway sends it as a photo (Telegram), an image (Zalo) or an <img> (web chat), with
    its text alternative. Its address is the API's public one (PUBLIC_BASE_URL, as the API's own setting
    names it; residents' phones load it on the web chat), else the address this server calls the API at."""
    base = os.environ.get("PUBLIC_BASE_URL") or api_url
    return {"type": "image", "payload": {"url": base.rstrip("/") + qr_path(code),
                                         "alt": say("booking_qr_alt", code=code)}}


class ActionSubmitBooking(Speaks, Action):
    def name(self) -> str:
        return "action_submit_booking"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        def slot(name: str) -> Any:
            # rasa_sdk says Optional[Any]; a slot holds whatever JSON its form validated and stored.
            return tracker.get_slot(name)

        if slot("consent_booking") is False:
            dispatcher.utter_message(response="utter_consent_refused")
            return forget_personal_data()
        if slot("booking_confirmed") is not True:
            # The resident stopped the form ("thôi"); it has already said so and forgotten the answers.
            return forget_personal_data()
        missing = [name for name in ("session_id", "full_name", "birth_date", "cccd", "phone", "commune_id")
                   if not slot(name)]
        if missing:
            # The form always fills these; if a restart or an edit lost one, ask again rather than fail.
            dispatcher.utter_message(response="utter_booking_incomplete")
            return []
        metadata = tracker.latest_message.get("metadata") or {}
        body = {
            "session_id": int(slot("session_id")),
            "resident": {"full_name": slot("full_name"), "birth_date": slot("birth_date"), "cccd": slot("cccd"),
                         "phone": slot("phone"), "commune_id": int(slot("commune_id"))},
            "channel": channel_of(tracker) or "web",
            "referral_code": metadata.get("referral_code") or None,
            "consent_notice": await notice_version("utter_ask_consent_booking", self.content),
            # A relative booking for someone answers the consent question for them: filed as such.
            "consent_given_by": "relative" if slot("booking_for") == "relative" else "self",
        }
        try:
            booking = await self.client.create_booking(body, idempotency_key(tracker, body))
        except ApiUnavailable:
            dispatcher.utter_message(response="utter_service_busy")
            return []  # answers kept, so "thử lại" can resubmit them
        except ApiError as error:
            # A lockout here is the identity check's (a CCCD tried with too many birth dates).
            dispatcher.utter_message(text=(await self.wording(tracker)).refusal(error, reason="identity"))
            return forget_personal_data()
        session = booking["session"]
        say = await self.wording(tracker)
        where = {"when": session_time(session["starts_at"], session["ends_at"]), "place": session["site"]["name"],
                 "address": address_of(session["site"], say)}
        if booking["status"] == "confirmed":
            # The QR code rides on the confirmation as its attachment: a message of its own would be one
            # more reply, and `custom` is where the confirmation's audio goes. (rasa_sdk types `attachment`
            # as text; Rasa passes any JSON through.)
            confirmed: dict[str, Any] = {**where, "code": booking["code"],
                                         "attachment": qr_attachment(booking["code"], say, self.client.base_url)}
            dispatcher.utter_message(response="utter_booking_confirmed", **confirmed)
        else:
            dispatcher.utter_message(response="utter_booking_waitlisted", code=booking["code"], **where,
                                     position=booking["waitlist_position"])
        dispatcher.utter_message(response="utter_what_to_bring")
        offered = await reminders.offer(self, dispatcher, tracker)
        codes = list(slot("my_booking_codes") or [])
        return [*forget_personal_data(), *remember_identity(slot("cccd"), slot("birth_date")),
                SlotSet("my_booking_codes", [*codes, booking["code"]]), *offered]
