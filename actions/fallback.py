"""What the bot says when it does not know: outside the programme, or unsure what was meant.

Never a guess. An off-topic question is answered "not known here, ask there" and recorded for
staff the way unanswered FAQ questions are; a message the model hesitates about gets the two
likeliest meanings as buttons (Rasa's two-stage fallback, whose affirmation step this replaces).
"""

from __future__ import annotations

import contextlib
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.api import ApiBacked, ApiError, ApiUnavailable
from actions.faq import channel_of
from actions.speaking import Speaks

# Meanings a resident can be offered as a button (each has a `meaning_<intent>` text). Yes, no and
# bare answers are left out: a button saying "yes" to an unknown question would mean nothing.
OFFERED_MEANINGS = (
    "book_exam", "ask_schedule", "my_bookings", "cancel_booking", "reschedule_booking", "faq",
    "check_record_status", "delete_my_data", "human_handoff", "report_scam", "choose_language", "help",
)
OFFERED = 2


class ActionOutOfScope(ApiBacked, Action):
    def name(self) -> str:
        return "action_out_of_scope"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        # Staff see it beside the unanswered FAQ questions; a lost record must not cost the answer.
        with contextlib.suppress(ApiUnavailable, ApiError):
            await self.client.record_unanswered(
                tracker.latest_message.get("text") or "", channel=channel_of(tracker),
                language=tracker.get_slot("language") or "vi", best_key=None, best_score=None)
        dispatcher.utter_message(response="utter_out_of_scope")
        return []


def likeliest(ranking: list[dict[str, Any]], count: int = OFFERED, offered: tuple[str, ...] = OFFERED_MEANINGS
              ) -> list[str]:
    """The `count` most confident intents of the ranking among `offered`."""
    ordered = sorted(ranking, key=lambda entry: entry.get("confidence") or 0.0, reverse=True)
    return [entry["name"] for entry in ordered if entry.get("name") in offered][:count]


class ActionAskAffirmation(Speaks, Action):
    """The first stage of the two-stage fallback: "did you mean A or B?". A button sends the intent
    itself, so the conversation goes on as if it had been understood; "none of these" sends
    `out_of_scope`, on which Rasa asks to rephrase."""

    def name(self) -> str:
        return "action_default_ask_affirmation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        say = await self.wording(tracker)
        ranking = tracker.latest_message.get("intent_ranking") or []
        # Unsure, but it may be an emergency ("bác sĩ ơi tôi bị đau đầu"): 115 is said anyway, first.
        if "emergency" in likeliest(ranking, offered=(*OFFERED_MEANINGS, "emergency")):
            dispatcher.utter_message(response="utter_emergency")
        buttons = []
        for intent in likeliest(ranking):
            title = say.first([f"meaning_{intent}"])
            if title:
                buttons.append({"title": title, "payload": f"/{intent}"})
        if not buttons:
            dispatcher.utter_message(response="utter_ask_rephrase")
            return []
        buttons.append({"title": say("button_none_of_these"), "payload": "/out_of_scope"})
        dispatcher.utter_message(response="utter_ask_affirmation", buttons=buttons)
        return []
