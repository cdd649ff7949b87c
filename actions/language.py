"""Language and listening: the resident picks a language, asks for audio, or hears the last message again."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.speaking import Speaks
from actions.voice import bot_data_of_session, language_name, language_of, note_said, speak_along
from common.vocabulary import LANGUAGES

# Preferences that outlive a conversation session; personal data never does.
PREFERENCE_SLOTS = ("language", "audio_wanted")


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        # The tracker still holds the ending session's slots here; only the preferences move on.
        kept = [SlotSet(name, tracker.get_slot(name)) for name in PREFERENCE_SLOTS if tracker.get_slot(name)]
        # A web chat opened in a language (`/chat?lang=tyz`) says so in the first message's metadata.
        metadata = tracker.get_slot("session_started_metadata") or {}
        opened_in = metadata.get("language") if isinstance(metadata, dict) else None
        if not tracker.get_slot("language") and opened_in in LANGUAGES and opened_in != "vi":
            kept += [SlotSet("language", opened_in), SlotSet("audio_wanted", True)]
        return [SessionStarted(), *kept, ActionExecuted("action_listen")]


class ActionChooseLanguage(Speaks, Action):
    def name(self) -> str:
        return "action_choose_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        chosen = next(tracker.get_latest_entity_values("language"), None)
        if chosen not in LANGUAGES:
            dispatcher.utter_message(response="utter_ask_language")
            return []
        if chosen == "vi":
            dispatcher.utter_message(response="utter_language_vietnamese")
            return [SlotSet("language", "vi"), SlotSet("audio_wanted", False)]
        # The slots change only after this action, so the NLG is told the new choice directly:
        # the confirmation itself already comes in the chosen language's audio.
        await self.content.get()
        dispatcher.utter_message(response="utter_language_chosen", language_name=language_name(chosen, self.content),
                                 voice_language=chosen, with_audio=True)
        return [SlotSet("language", chosen), SlotSet("audio_wanted", True)]


class ActionReplayAudio(Speaks, Action):
    def name(self) -> str:
        return "action_replay_audio"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        slots = dict(tracker.current_slot_values())
        language = language_of(slots)
        last = last_bot_message(tracker)
        if last is None:
            dispatcher.utter_message(response="utter_nothing_to_replay")
            return [SlotSet("audio_wanted", True)]
        text, key = last
        clip = await self.client.audio_for(key, language) if key and not _has_slots(key, domain) else None
        await speak_along(dispatcher, self.client, self.content, key=key, text=text, slots=slots,
                          clips={clip["language"]: clip} if clip else {},
                          noted=note_said(bot_data_of_session(tracker.events)))
        if not tracker.get_slot("audio_wanted"):
            dispatcher.utter_message(response="utter_audio_on")
        return [SlotSet("audio_wanted", True)]


def _has_slots(key: str, domain: DomainDict) -> bool:
    variants = (domain.get("responses") or {}).get(key) or [{}]
    return "{" in str(variants[0].get("text", ""))


def last_bot_message(tracker: Tracker) -> tuple[str, str | None] | None:
    """The last text the bot sent, with the message or FAQ key it came from when known."""
    events = list(tracker.events)
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.get("event") != "bot" or not event.get("text"):
            continue
        key = (event.get("metadata") or {}).get("utter_action")
        if key is None:
            producer = next((e.get("name") for e in reversed(events[:index]) if e.get("event") == "action"), None)
            if producer == "action_answer_faq":
                key = tracker.get_slot("last_faq_key")
        return str(event["text"]), key
    return None
