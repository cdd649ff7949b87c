"""Validation of the booking form, one answer at a time, with a helpful re-ask for each mistake.

The CCCD, phone and name rules are those the API applies (`common.identity`, shared by both runtimes), so the
bot and the API accept and refuse exactly the same input; a refusal is said by its code's keyed text
(`error_<code>`), as the API's refusals are.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.api import ApiError, ApiUnavailable
from actions.booking import PERSONAL_SLOTS
from actions.dates import parse_date
from actions.form_control import FIELD_WORDS, FormControl
from actions.manage import choose_offered_session
from actions.schedule import resolve_commune
from actions.speaking import VIETNAM, Speaks, Wording
from common import identity
from common.errors import InvalidInput
from vntext import fold

# Folded words naming someone else. "em", "cháu", "anh", "chị" are left out: residents also use
# them for themselves when talking to the bot, so they count as "self" below.
FAMILY_WORDS = ("me", "bo", "cha", "ong", "ba", "vo", "chong", "con", "nguoi than", "nguoi nha")
SELF_WORDS = ("toi", "minh", "ban than", "chinh toi", "em", "chau")


def today() -> date:
    """The resident's today, in Vietnam time whatever the server's clock zone."""
    return datetime.now(VIETNAM).date()


def reask(dispatcher: CollectingDispatcher, message: str, slot: str) -> dict[str, Any]:
    dispatcher.utter_message(text=message)
    return {slot: None}


def by_rule(dispatcher: CollectingDispatcher, say: Wording, slot: str, rule: Callable[[], str]) -> dict[str, Any]:
    """The slot set to what the API's rule returns, or cleared and re-asked with why the rule refused it."""
    try:
        return {slot: rule()}
    except InvalidInput as error:
        return reask(dispatcher, say.refusal(error), slot)


class IdentityAnswers(Speaks):
    """Birth date and CCCD as every form asks them (booking, e-book lookup, data rights): the API's
    own rules, and a CCCD must agree with the birth year already given."""

    async def validate_birth_date(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> dict[str, Any]:
        if value is None:  # emptied on purpose (a correction, "someone else"): nothing to check
            return {"birth_date": None}
        say = await self.wording(tracker)
        parsed = parse_date(str(value))
        if parsed is None:
            return reask(dispatcher, say.refusal(identity.InvalidBirthDate()), "birth_date")

        def rule() -> str:
            birth = identity.check_birth_date(parsed, today=today())
            cccd = tracker.get_slot("cccd")
            if cccd:  # forms that ask the CCCD first
                identity.check_cccd_matches_birth_date(cccd, birth)
            return birth.isoformat()

        return by_rule(dispatcher, say, "birth_date", rule)

    async def validate_cccd(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: DomainDict) -> dict[str, Any]:
        if value is None:
            return {"cccd": None}
        say = await self.wording(tracker)

        def rule() -> str:
            cccd = identity.normalize_cccd(str(value))
            birth = tracker.get_slot("birth_date")
            if birth:
                identity.check_cccd_matches_birth_date(cccd, date.fromisoformat(birth))
            return cccd

        return by_rule(dispatcher, say, "cccd", rule)


class ConsentFirst:
    """For forms whose first question is a consent notice: "no" ends the form at once, so nothing
    more is asked or stored."""

    consent_slot: str

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> list[str]:
        if tracker.get_slot(self.consent_slot) is False:
            return []
        return domain_slots


class ValidateBookingForm(ConsentFirst, IdentityAnswers, FormControl, FormValidationAction):
    consent_slot = "consent_booking"
    correctable = tuple(FIELD_WORDS)
    forget_on_stop = ("consent_booking", *PERSONAL_SLOTS)

    def name(self) -> str:
        return "validate_booking_form"

    async def validate_booking_for(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> dict[str, Any]:
        if value in ("self", "relative"):  # a button of the question
            return {"booking_for": value}
        words = f" {fold(str(value))} "
        if any(f" {w} " in words for w in FAMILY_WORDS):
            return {"booking_for": "relative"}
        if any(f" {w} " in words for w in SELF_WORDS):
            return {"booking_for": "self"}
        say = await self.wording(tracker)
        return reask(dispatcher, say("booking_for_reask"), "booking_for")

    async def validate_full_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: DomainDict) -> dict[str, Any]:
        return by_rule(dispatcher, await self.wording(tracker), "full_name",
                       lambda: identity.normalize_name(str(value)))

    async def validate_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> dict[str, Any]:
        return by_rule(dispatcher, await self.wording(tracker), "phone", lambda: identity.normalize_phone(str(value)))

    async def validate_commune(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> dict[str, Any]:
        try:
            commune, asked = await resolve_commune(self.client, dispatcher, str(value) if value else None, tracker)
        except (ApiUnavailable, ApiError):
            dispatcher.utter_message(response="utter_service_busy")
            return {"commune": None}
        if commune is None:
            # Several communes by that name: the buttons to pick one are the question on screen.
            return {"commune": None, **{event["name"]: event["value"] for event in asked}}
        return {"commune": commune["name"], "commune_id": commune["id"]}

    def validate_booking_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> dict[str, Any]:
        # "Sửa lại" asks again; the question then offers one button per answer to fix.
        return {"booking_confirmed": True if value else None}

    async def validate_session_id(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> dict[str, Any]:
        say = await self.wording(tracker)
        return await choose_offered_session(self, value, dispatcher, tracker,
                                            not_offered={"text": say("session_not_in_schedule")})
