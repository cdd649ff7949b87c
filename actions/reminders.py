"""Reminders in the chat: offered after a booking on Zalo or Telegram, switched on only by an explicit
"yes" (filed as consent with the notice version), and answered from the reminder's own buttons —
"I will come", "no more reminders"."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions import questions
from actions.api import ApiError, ApiUnavailable
from actions.consent import notice_version
from actions.speaking import Speaks
from actions.voice import language_of

PUSH_CHANNELS = ("telegram", "zalo")
# The offer's answers, one button each (`button_reminders_<choice>`).
OFFERED_CHOICES = ("yes", "yes_all", "no")


def chat_of(tracker: Tracker) -> tuple[str, str] | None:
    """(channel, chat id) of this conversation, from the gateway's sender id "telegram:4242"."""
    channel, _sep, chat_id = (tracker.sender_id or "").partition(":")
    return (channel, chat_id) if channel in PUSH_CHANNELS and chat_id else None


async def offer(speaker: Speaks, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """After a booking: ask, where reminders can be delivered; say plainly where they cannot."""
    if chat_of(tracker) is None:
        return []
    say = await speaker.wording(tracker)
    return questions.ask(dispatcher, tracker, questions.REMINDERS_OFFER, [
        (say(f"button_reminders_{choice}"), "inform", {"reminder_choice": choice}) for choice in OFFERED_CHOICES],
        response="utter_reminders_offer")


async def answer(speaker: Speaks, dispatcher: CollectingDispatcher, tracker: Tracker, choice: str
                 ) -> list[EventType]:
    """Does what a reminder's button (or the offer's) asks, through the API `speaker` (the action) asks."""
    client = speaker.client
    chat = chat_of(tracker)
    if choice == "no":
        dispatcher.utter_message(response="utter_reminders_declined")
        return []
    if chat is None:
        dispatcher.utter_message(response="utter_reminders_web")
        return []
    channel, chat_id = chat
    codes = list(tracker.get_slot("my_booking_codes") or [])
    code = next(tracker.get_latest_entity_values("booking_code"), None) or (codes[-1] if codes else None)
    try:
        if choice in ("yes", "yes_all") and code:
            subscription = {"booking_code": code, "channel": channel, "chat_id": chat_id,
                            "language": language_of(dict(tracker.current_slot_values())),
                            "consent_notice": await notice_version("utter_reminders_offer", speaker.content)}
            await client.reminders("subscribe", **subscription)
            dispatcher.utter_message(response="utter_reminders_on")
            if choice == "yes_all":
                await client.announcements("subscribe", **subscription)
                dispatcher.utter_message(response="utter_announcements_on")
        elif choice == "news_stop":
            await client.announcements("stop", channel=channel, chat_id=chat_id)
            dispatcher.utter_message(response="utter_announcements_off")
        elif choice == "stop":
            await client.reminders("stop", channel=channel, chat_id=chat_id)
            dispatcher.utter_message(response="utter_reminders_off")
        elif choice == "confirm" and code:
            await client.reminders("confirm", booking_code=code, channel=channel, chat_id=chat_id)
            dispatcher.utter_message(response="utter_reminder_thanks")
        else:
            dispatcher.utter_message(response="utter_inform_unplaced")
    except ApiUnavailable:
        dispatcher.utter_message(response="utter_service_busy")
    except ApiError as error:
        dispatcher.utter_message(text=(await speaker.wording(tracker)).refusal(error))
    return []


def choice_in(tracker: Tracker) -> str | None:
    value: Any = next(tracker.get_latest_entity_values("reminder_choice"), None)
    return str(value) if value in ("yes", "yes_all", "no", "stop", "confirm", "news_stop") else None
