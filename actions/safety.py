"""Scam reports and messages the bot cannot place anywhere else."""

from __future__ import annotations

import logging
import re

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import reminders
from actions.api import ApiBacked, ApiError, ApiUnavailable
from actions.faq import channel_of
from actions.manage import ActionShowBookings, codes_in_message
from actions.schedule import AWAITING, ActionHandoff, ActionListSessions, latest_entity, reachable_site
from actions.speaking import Speaks
from vntext import tokens

logger = logging.getLogger(__name__)

# A bare yes or no outside a form answers the question on screen when its buttons offer that choice.
SHORT_REPLY_CHOICES = {"affirm": "yes", "deny": "no"}
_CHOICE_PAYLOAD = re.compile(r'"reminder_choice"\s*:\s*"(\w+)"')


class ActionReportScam(ApiBacked, Action):
    """The official warning first; then the report goes to the staff of the resident's commune."""

    def name(self) -> str:
        return "action_report_scam"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        dispatcher.utter_message(response="utter_scam_warning")
        commune_id = tracker.get_slot("commune_id")
        try:
            await self.client.report_scam(tracker.latest_message.get("text") or "", channel=channel_of(tracker),
                                          commune_id=int(commune_id) if commune_id else None)
        except (ApiUnavailable, ApiError) as error:
            # The warning is what protects the resident; a lost report is logged (without its text).
            logger.warning("scam report not recorded: %s", type(error).__name__)
            return []
        dispatcher.utter_message(response="utter_scam_recorded")
        return []


class ActionEmergency(ApiBacked, Action):
    """An emergency or acute illness: 115 and the nearest facility at once, then the station's phone
    when the commune is already known. Never asks anything (no commune question) and gives no
    medical advice; a form that was running goes on after it (rules.yml)."""

    def name(self) -> str:
        return "action_emergency"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        dispatcher.utter_message(response="utter_emergency")
        commune_id = tracker.get_slot("commune_id")
        if not commune_id:
            return []
        try:
            site = reachable_site(await self.client.list_sites(int(commune_id)))
        except (ApiUnavailable, ApiError) as error:
            # 115 has been said; the station's line is a help, not a condition.
            logger.warning("station for an emergency not found: %s", type(error).__name__)
            return []
        if site is not None:
            dispatcher.utter_message(response="utter_emergency_station", station=site["name"], phone=site["phone"],
                                     address=site.get("address") or tracker.get_slot("commune") or "")
        return []


class ActionRouteInform(Speaks, Action):
    """A bare answer outside any form ("Hữu Liên", "mã KE3MX7PA"): continue what it answers."""

    def name(self) -> str:
        return "action_route_inform"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        choice = reminders.choice_in(tracker)
        if choice is not None:  # a reminder's button (it may carry a booking code too)
            return await reminders.answer(self, dispatcher, tracker, choice)
        if codes_in_message(tracker):
            return await ActionShowBookings(self.client, self.content).run(dispatcher, tracker, domain)
        awaiting = tracker.get_slot(AWAITING)
        if awaiting == "handoff":
            return await ActionHandoff(self.client, self.content).run(dispatcher, tracker, domain)
        if awaiting or latest_entity(tracker, "commune"):
            return await ActionListSessions(self.client, self.content).run(dispatcher, tracker, domain)
        dispatcher.utter_message(response="utter_stale_choice" if is_button(tracker) else "utter_inform_unplaced")
        return []


def is_button(tracker: Tracker) -> bool:
    """A button's payload ("/affirm", '/inform{"session_id": "12"}'), not words a resident typed. Buttons sent
    before questions were tagged (actions/questions.py) stay tappable on Telegram and Zalo: one that reaches
    this far answers nothing on screen, and must not be thanked for as if it had ("Cảm ơn…")."""
    return (tracker.latest_message.get("text") or "").startswith("/")


def choices_on_screen(tracker: Tracker) -> set[str]:
    """The reminder choices the bot's last message offered as buttons (the reminders offer)."""
    for event in reversed(tracker.events):
        if event.get("event") == "bot":
            buttons = (event.get("data") or {}).get("buttons") or []
            return {match[1] for b in buttons if (match := _CHOICE_PAYLOAD.search(str(b.get("payload", ""))))}
    return set()


class ActionShortReply(Speaks, Action):
    """"ừ", "ok", "ko", "👍" outside any form: the answer to the reminders offer when that is the
    question on screen, otherwise a polite reply with the menu (never silence)."""

    def name(self) -> str:
        return "action_short_reply"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        choice = SHORT_REPLY_CHOICES.get(str(intent))
        # Reminders are switched on only by an explicit yes: in words, not an emoji.
        worded = bool(tokens(tracker.latest_message.get("text") or ""))
        if choice in choices_on_screen(tracker) and (worded or choice == "no"):
            return await reminders.answer(self, dispatcher, tracker, str(choice))
        if is_button(tracker):
            dispatcher.utter_message(response="utter_stale_choice")
        else:
            dispatcher.utter_message(response="utter_inform_unplaced" if intent == "affirm" else "utter_noted")
        return []
