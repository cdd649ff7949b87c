"""Reminders: offered after a booking, switched on only by an explicit "yes" (filed as consent with the
notice version and the ways the offer named), and answered from the reminder's own buttons — "I will
come", "no more reminders".

On Zalo and Telegram the offer names the chat, then a ZNS message and an SMS to the booking's phone
when the chat cannot carry a reminder (Zalo lets the OA write only within 48 hours of the resident's
last message). The web chat cannot write first: there the offer names the phone only."""

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
# Chats that only answer: their "yes" reaches the booking's phone, never the chat.
PHONE_ONLY_CHANNELS = ("web",)
# The offer's answers, one button each (`button_reminders_<choice>`); the web chat's offer has no
# announcements (they go to a chat only).
OFFERED_CHOICES = ("yes", "yes_all", "no")
OFFERED_ON_THE_WEB = ("yes", "no")
# What a "yes" agrees to: the ways its offer names (the API's REMINDER_WAYS, api/consent/service.py).
REACH_IN_CHAT = ["chat", "zns", "sms"]
REACH_BY_PHONE = ["zns", "sms"]


def conversation_of(tracker: Tracker) -> tuple[str, str] | None:
    """(channel, chat id) of a conversation through the gateway, from its sender id: "telegram:4242",
    "web:w0123…"."""
    channel, _sep, chat_id = (tracker.sender_id or "").partition(":")
    return (channel, chat_id) if channel in (*PUSH_CHANNELS, *PHONE_ONLY_CHANNELS) and chat_id else None


async def offer(speaker: Speaks, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """After a booking: ask, with the offer that names the ways this chat's reminders can take; nothing
    where they can take none (a conversation not through the gateway)."""
    found = conversation_of(tracker)
    if found is None:
        return []
    say = await speaker.wording(tracker)
    choices = OFFERED_CHOICES if found[0] in PUSH_CHANNELS else OFFERED_ON_THE_WEB
    return questions.ask(dispatcher, tracker, questions.REMINDERS_OFFER, [
        (say(f"button_reminders_{choice}"), "inform", {"reminder_choice": choice}) for choice in choices],
        response=offer_response(found[0]))


def offer_response(channel: str) -> str:
    """The offer a chat of `channel` is shown: its words are the notice a "yes" there is filed with."""
    return "utter_reminders_offer" if channel in PUSH_CHANNELS else "utter_reminders_offer_phone"


async def answer(speaker: Speaks, dispatcher: CollectingDispatcher, tracker: Tracker, choice: str
                 ) -> list[EventType]:
    """Does what a reminder's button (or the offer's) asks, through the API `speaker` (the action) asks."""
    client = speaker.client
    if choice == "no":
        dispatcher.utter_message(response="utter_reminders_declined")
        return []
    found = conversation_of(tracker)
    if found is None or (found[0] not in PUSH_CHANNELS and choice not in ("yes", "yes_all")):
        dispatcher.utter_message(response="utter_reminders_web")
        return []
    channel, chat_id = found
    in_chat = channel in PUSH_CHANNELS
    codes = list(tracker.get_slot("my_booking_codes") or [])
    code = next(tracker.get_latest_entity_values("booking_code"), None) or (codes[-1] if codes else None)
    try:
        if choice in ("yes", "yes_all") and code:
            subscription = {"booking_code": code, "channel": channel, "chat_id": chat_id,
                            "language": language_of(dict(tracker.current_slot_values())),
                            "consent_notice": await notice_version(offer_response(channel), speaker.content)}
            await client.reminders("subscribe", **subscription, reach=REACH_IN_CHAT if in_chat else REACH_BY_PHONE)
            dispatcher.utter_message(response="utter_reminders_on" if in_chat else "utter_reminders_on_phone")
            if choice == "yes_all" and in_chat:
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
