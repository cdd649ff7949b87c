"""Scam reports and messages the bot cannot place anywhere else."""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import reminders
from actions.api import ApiBacked, ApiError, ApiUnavailable
from actions.faq import channel_of
from actions.manage import ActionShowBookings, codes_in_message
from actions.schedule import AWAITING, ActionHandoff, ActionListSessions, latest_entity
from actions.speaking import Speaks

logger = logging.getLogger(__name__)


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
        dispatcher.utter_message(response="utter_inform_unplaced")
        return []
