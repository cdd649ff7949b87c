"""Seeing, cancelling and rescheduling a booking, by its code or by the bookings made in this chat.

A code is printed, read aloud and forwarded, so the API lets a chat use it alone only when that chat
made the booking (it knows the chat from the gateway's signature). For a code from elsewhere it
answers "not found" until the request also carries a second factor: the form then asks once for
the last three digits of the phone used when booking (a birth date is taken too), and every later
request about that booking in the form carries it (`booking_verifier`).
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions import questions
from actions.api import ApiBacked, ApiError, ApiUnavailable
from actions.dates import parse_date
from actions.form_control import STOP_WORDS, FormControl
from actions.formatting import address_of
from actions.speaking import Speaks, Wording
from common import booking_codes
from common.vocabulary import ACTIVE_BOOKING_STATUSES
from common.when import session_time

MAX_SHOWN = 3
# The second factor the resident gave for `booking_code`, and a code waiting for one.
VERIFIER = "booking_verifier"
UNVERIFIED = "unverified_booking_code"
# The API's answer both for an unknown code and for a code this chat may not use without a factor.
NOT_FOUND = "booking_not_found"
# A lockout on a booking code means too many wrong codes (or factors), not an identity check's lockout.
CODE_LOCKOUT = "booking_code"


def normalize_code(text: str) -> str | None:
    """The booking code in what the resident typed ("mã ke3m-x7pa"), or None if there is none.

    A code split over several words ("KE3M X7PA") must contain a digit: otherwise two ordinary
    words ("khám chữa") could be taken for one."""
    chunks = [re.sub(r"[^0-9A-Za-z]", "", word) for word in re.split(r"[\s\-]+", str(text))]
    for end in range(len(chunks), 0, -1):
        for start in range(end - 1, max(end - 4, -1), -1):
            code = booking_codes.canonical("".join(chunks[start:end]))
            if code is not None and (start == end - 1 or any(ch.isdigit() for ch in code)):
                return code
    return None


def my_codes(tracker: Tracker) -> list[str]:
    """Codes of the bookings made in this chat (the API knows them by the chat alone)."""
    return list(tracker.get_slot("my_booking_codes") or [])


def codes_in_message(tracker: Tracker) -> list[str]:
    found = [normalize_code(str(e.get("value", ""))) for e in tracker.latest_message.get("entities", [])
             if e.get("entity") == "booking_code"]
    return [code for code in dict.fromkeys(found) if code]


def read_verifier(text: str) -> str | None:
    """The second factor in what the resident typed: a birth date as YYYY-MM-DD, else the last three
    digits of a phone number ("678", "số cuối 678", or the whole number)."""
    day = parse_date(text)
    if day is not None:
        return day.isoformat()
    digits = re.sub(r"\D", "", text)
    return digits[-3:] if len(digits) >= 3 else None


def verifier_of(tracker: Tracker) -> str | None:
    return tracker.get_slot(VERIFIER) or None


def describe(booking: dict[str, Any], say: Wording) -> str:
    """"Mã KE3MX7PA: đã xác nhận — Thứ Ba, 25/11/2026, 7:30–11:00, Trạm Y tế xã Hữu Liên"."""
    session = booking["session"]
    code, status = booking["code"], say.booking_status(booking["status"])
    when, place = session_time(session["starts_at"], session["ends_at"]), session["site"]["name"]
    if booking["status"] == "waitlisted" and booking.get("waitlist_position"):
        return say("booking_summary_waitlisted", code=code, status=status, when=when, place=place,
                   position=booking["waitlist_position"])
    return say("booking_summary", code=code, status=status, when=when, place=place)


def manage_buttons(booking: dict[str, Any], say: Wording) -> list[dict[str, str]]:
    if booking["status"] not in ACTIVE_BOOKING_STATUSES:
        return []
    code = booking["code"]
    return [{"title": say("button_reschedule_booking", code=code),
             "payload": f'/reschedule_booking{{"booking_code": "{code}"}}'},
            {"title": say("button_cancel_booking", code=code),
             "payload": f'/cancel_booking{{"booking_code": "{code}"}}'}]


class ActionShowBookings(Speaks, Action):
    """ "Lịch của tôi": the bookings named in the message, else those made in this chat."""

    def name(self) -> str:
        return "action_show_bookings"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        codes = codes_in_message(tracker) or my_codes(tracker)[-MAX_SHOWN:]
        if not codes:
            dispatcher.utter_message(response="utter_ask_code_to_show")
            return []
        say = await self.wording(tracker)
        for code in codes[:MAX_SHOWN]:
            try:
                booking = await self.client.get_booking(code)
            except ApiUnavailable:
                dispatcher.utter_message(response="utter_service_busy")
                return []
            except ApiError:
                dispatcher.utter_message(response="utter_code_not_found", code=code)
                continue
            dispatcher.utter_message(text=describe(booking, say), buttons=manage_buttons(booking, say))
        return []


class ActionAskBookingCode(Speaks, Action):
    """Which booking to cancel or change: the ones made in this chat as buttons, or type the code;
    for a typed code the API would not show on its own, the second factor instead."""

    def name(self) -> str:
        return "action_ask_booking_code"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        unverified = tracker.get_slot(UNVERIFIED)
        if unverified:
            dispatcher.utter_message(response="utter_ask_booking_verifier", code=unverified)
            return []
        codes = my_codes(tracker)[-MAX_SHOWN:]
        return questions.ask(dispatcher, tracker, questions.BOOKING_CODE,
                             [(code, "inform", {"booking_code": code}) for code in codes],
                             response="utter_ask_booking_code")


class BookingCodeForm(FormControl):
    """Mixed into the cancel and reschedule form validations: the code must name an active booking."""

    # "hủy" answers the cancel question here, so only the other stop words end these forms.
    stop_words = STOP_WORDS
    forget_on_stop = ("booking_code", "cancel_confirmed", "session_id", UNVERIFIED, VERIFIER)

    async def active_booking(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
                             ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """(booking, slot changes): the booking if it can still be changed, else why not, said — or
        the question for the second factor, when the code is not this chat's."""
        text = str(value or "")
        code, verifier = normalize_code(text), None
        pending = tracker.get_slot(UNVERIFIED)
        if code is None and pending:
            # The answer to the question for the second factor of the code typed just before.
            code, verifier = pending, read_verifier(text)
            if verifier is None:
                dispatcher.utter_message(response="utter_verifier_invalid")
                return None, {"booking_code": None}
        if code is None:
            dispatcher.utter_message(response="utter_code_invalid")
            return None, {"booking_code": None}
        # What another code, or none, leaves behind: no code, and no factor meant for an earlier one.
        forget: dict[str, Any] = {"booking_code": None, **{slot: None for slot in (UNVERIFIED, VERIFIER)
                                                           if tracker.get_slot(slot)}}
        try:
            booking = await self.client.get_booking(code, verifier=verifier)
        except ApiUnavailable:
            dispatcher.utter_message(response="utter_service_busy")
            return None, {"booking_code": None}
        except ApiError as error:
            if error.status == 429:  # too many wrong codes from this chat: the API says how long to wait
                dispatcher.utter_message(text=(await self.wording(tracker)).refusal(error, reason=CODE_LOCKOUT))
            elif verifier is None and error.code == NOT_FOUND and code not in my_codes(tracker):
                # Unknown, or not made in this chat: the API cannot tell us which, so ask once.
                return None, {**forget, UNVERIFIED: code}
            else:
                dispatcher.utter_message(response="utter_code_not_found", code=code)
            return None, forget
        if booking["status"] not in ACTIVE_BOOKING_STATUSES:
            # Nothing left to change: say so and end the form rather than ask for another code.
            say = await self.wording(tracker)
            dispatcher.utter_message(response="utter_booking_not_active", code=code,
                                     status=say.booking_status(booking["status"]))
            return None, {**forget, REQUESTED_SLOT: None}
        return booking, {**forget, "booking_code": code, **({VERIFIER: verifier} if verifier else {})}


class ValidateCancelForm(BookingCodeForm, FormValidationAction):
    def name(self) -> str:
        return "validate_cancel_form"

    async def validate_booking_code(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> dict[str, Any]:
        return (await self.active_booking(value, dispatcher, tracker))[1]

    def validate_cancel_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> dict[str, Any]:
        # None: an unclear answer (actions/form_control.py answer_in_words), asked again.
        return {"cancel_confirmed": None if value is None else bool(value)}


class ValidateRescheduleForm(BookingCodeForm, FormValidationAction):
    correctable = ("session_id",)

    def name(self) -> str:
        return "validate_reschedule_form"

    async def validate_booking_code(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> dict[str, Any]:
        booking, changes = await self.active_booking(value, dispatcher, tracker)
        if booking is not None:
            # New sessions are offered in the booking's own commune.
            site = booking["session"]["site"]
            changes.update(commune_id=site["commune_id"], commune=site["commune_name"])
        return changes

    async def validate_session_id(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> dict[str, Any]:
        return await choose_offered_session(self, value, dispatcher, tracker,
                                            not_offered={"response": "utter_session_not_offered"})


class NotOffered(TypedDict, total=False):
    """What to say when a tapped session is not one on offer: a domain response, or a text."""

    response: str
    text: str


async def choose_offered_session(backed: ApiBacked, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 *, not_offered: NotOffered) -> dict[str, Any]:
    """The session slot set to a tapped session the resident may pick, or cleared with the reason said."""
    if not str(value).isdigit():
        dispatcher.utter_message(response="utter_choose_session_by_button")
        return {"session_id": None}
    try:
        offered = await offered_sessions(backed, tracker)
    except (ApiUnavailable, ApiError):
        dispatcher.utter_message(response="utter_service_busy")
        return {"session_id": None}
    if str(value) not in {str(s["id"]) for s in offered}:
        dispatcher.utter_message(**not_offered)
        return {"session_id": None}
    return {"session_id": str(value)}


async def offered_sessions(backed: ApiBacked, tracker: Tracker) -> list[dict[str, Any]]:
    """Sessions the resident may pick: the commune's coming ones, minus the one being changed."""
    sessions = await backed.sessions_of_chosen_commune(tracker.get_slot("commune_id"))
    code = tracker.get_slot("booking_code")
    if tracker.active_loop_name == "reschedule_form" and code:
        current = (await backed.client.get_booking(code, verifier=verifier_of(tracker)))["session_id"]
        sessions = [s for s in sessions if s["id"] != current]
    return sessions


class ActionAskCancelConfirmed(Speaks, Action):
    def name(self) -> str:
        return "action_ask_cancel_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        try:
            booking = await self.client.get_booking(str(tracker.get_slot("booking_code")),
                                                    verifier=verifier_of(tracker))
        except (ApiUnavailable, ApiError):
            dispatcher.utter_message(response="utter_service_busy")
            return []
        say = await self.wording(tracker)
        session = booking["session"]
        # Exactly what will be cancelled: whose booking, when and where.
        return questions.ask(
            dispatcher, tracker, questions.CANCEL_CONFIRMED,
            [(say("button_cancel_confirmed"), "affirm", {}), (say("button_cancel_kept"), "deny", {})],
            response="utter_ask_cancel_confirmed", booking=describe(booking, say), code=booking["code"],
            full_name=(booking.get("resident") or {}).get("full_name") or "",
            when=session_time(session["starts_at"], session["ends_at"]), place=session["site"]["name"],
            address=address_of(session["site"], say))


def forget_booking_choice() -> list[EventType]:
    return [SlotSet(slot, None) for slot in ("booking_code", "cancel_confirmed", "session_id", UNVERIFIED, VERIFIER)]


class ActionSubmitCancel(Speaks, Action):
    def name(self) -> str:
        return "action_submit_cancel"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        code, confirmed = tracker.get_slot("booking_code"), tracker.get_slot("cancel_confirmed")
        if code and confirmed is False:
            dispatcher.utter_message(response="utter_booking_kept", code=code)
        elif code and confirmed:
            try:
                booking = await self.client.cancel_booking(code, verifier=verifier_of(tracker))
            except ApiUnavailable:
                dispatcher.utter_message(response="utter_service_busy")
                return []  # kept, so the resident can simply say "có" again
            except ApiError as error:
                dispatcher.utter_message(text=(await self.wording(tracker)).refusal(error, reason=CODE_LOCKOUT))
            else:
                session = booking["session"]
                dispatcher.utter_message(response="utter_booking_cancelled", code=code,
                                         when=session_time(session["starts_at"], session["ends_at"]),
                                         place=session["site"]["name"])
        return forget_booking_choice()


class ActionSubmitReschedule(Speaks, Action):
    def name(self) -> str:
        return "action_submit_reschedule"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        code, session_id = tracker.get_slot("booking_code"), tracker.get_slot("session_id")
        if not (code and session_id):
            return forget_booking_choice()  # stopped, or nothing left to change: already explained
        try:
            booking = await self.client.reschedule_booking(code, int(session_id), verifier=verifier_of(tracker))
        except ApiUnavailable:
            dispatcher.utter_message(response="utter_service_busy")
            return []
        except ApiError as error:
            dispatcher.utter_message(text=(await self.wording(tracker)).refusal(error, reason=CODE_LOCKOUT))
            return forget_booking_choice()
        session = booking["session"]
        say = await self.wording(tracker)
        where = {"when": session_time(session["starts_at"], session["ends_at"]), "place": session["site"]["name"],
                 "address": address_of(session["site"], say)}
        if booking["status"] == "confirmed":
            dispatcher.utter_message(response="utter_booking_rescheduled", code=code, **where)
        else:
            dispatcher.utter_message(response="utter_booking_waitlisted", code=code, **where,
                                     position=booking["waitlist_position"])
        return forget_booking_choice()
