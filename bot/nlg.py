"""The assistant's words come from the content service, so staff change them without retraining.

Rasa asks this generator for each response by name. It takes the domain response (buttons,
variations, slot filling as usual), puts in the text staff published for the resident's language
(else the Vietnamese one), and adds the audio that goes with it for residents who listen. When the
content service cannot be reached, the domain text is used: the bot never goes silent.
"""

from __future__ import annotations

import copy
import logging
from collections import OrderedDict
from typing import Any

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from actions.api import ApiClient, speaking_for
from actions.content import DEFAULT_REFRESH_S, ContentCache
from actions.voice import NOTE_VIETNAMESE, audio_for, language_name, language_of, note_for, note_said, wants_audio

log = logging.getLogger(__name__)
# Conversations whose note was put on a message of the current turn, which the tracker does not hold yet
# (an action's several messages are generated before any is recorded); the oldest are forgotten.
NOTED_TURNS_KEPT = 10_000


def bot_data_of_session(tracker: DialogueStateTracker) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = []
    for event in tracker.events:
        if isinstance(event, SessionStarted):
            data = []
        elif isinstance(event, BotUttered):
            data.append(event.data or {})
    return data


def turn_of(tracker: DialogueStateTracker) -> str:
    message = tracker.latest_message
    return f"{tracker.sender_id}@{message.timestamp if message else ''}"


class ContentNLG(TemplatedNaturalLanguageGenerator):
    def __init__(self, endpoint_config: EndpointConfig | None = None, domain: Domain | None = None,
                 content: ContentCache | None = None, client: ApiClient | None = None) -> None:
        super().__init__(domain.responses if domain else {})
        url = endpoint_config.url if endpoint_config and endpoint_config.url else None
        refresh = float((endpoint_config.kwargs or {}).get("refresh_s", DEFAULT_REFRESH_S)) if endpoint_config \
            else DEFAULT_REFRESH_S
        self.content = content or ContentCache(url, refresh_s=refresh)
        self.client = client or ApiClient(url)
        self._noted_turns: OrderedDict[str, None] = OrderedDict()
        self.seed = {name: next((v.get("text") for v in variants if v.get("text")), None)
                     for name, variants in self.responses.items()}

    async def generate(self, utter_action: str, tracker: DialogueStateTracker, output_channel: str,
                       **kwargs: Any) -> dict[str, Any] | None:
        # Speech for this message is asked for on behalf of the chat the resident wrote from.
        with speaking_for(tracker.latest_message.metadata if tracker.latest_message else None):
            return await self._generate(utter_action, tracker, output_channel, **kwargs)

    async def _generate(self, utter_action: str, tracker: DialogueStateTracker, output_channel: str,
                        **kwargs: Any) -> dict[str, Any] | None:
        slots = tracker.current_slot_values()
        response = copy.deepcopy(self._random_response_for(utter_action, output_channel, slots))
        if response is None:
            return None
        # An action may speak for a choice its own slot events have not applied yet.
        language = kwargs.get("voice_language") or language_of(slots)
        spoken_to = tracker.latest_message.metadata if tracker.latest_message else None
        with_audio = bool(kwargs.get("with_audio")) or wants_audio(slots, spoken_to)
        await self.content.get()
        published = self.content.text(utter_action, language)
        # An unedited message keeps the domain's variations; an edited one says what staff wrote.
        if published and response.get("text") and (language != "vi" or published != self.seed.get(utter_action)):
            response["text"] = published
        response = self._fill_response(response, slots, **kwargs)
        if with_audio and response.get("text") and not utter_action.startswith("utter_audio_"):
            await self._add_audio(response, utter_action, language, slots, tracker)
        return response

    def _note_due(self, tracker: DialogueStateTracker) -> bool:
        """The note that the audio is Vietnamese is said the first time in a conversation, not after every
        message (the audio itself still comes)."""
        turn = turn_of(tracker)
        if turn in self._noted_turns or note_said(bot_data_of_session(tracker)):
            return False
        self._noted_turns[turn] = None
        while len(self._noted_turns) > NOTED_TURNS_KEPT:
            self._noted_turns.popitem(last=False)
        return True

    async def _add_audio(self, response: dict[str, Any], key: str, language: str, slots: dict[str, Any],
                         tracker: DialogueStateTracker) -> None:
        # A recording matches the message as written, not filled with a resident's details.
        has_slots = "{" in (self.content.text(key, "vi") or self.seed.get(key) or "")
        clips = {} if has_slots else self.content.bundle.audio.get(key, {})
        payload = await audio_for(self.client, key=key, text=response["text"], language=language, clips=clips,
                                  slots=slots, content=self.content)
        note = note_for(payload, language)
        if note == NOTE_VIETNAMESE and not self._note_due(tracker):
            note = None
        if note:
            text = self.content.text(note, language) or self.seed.get(note) or ""
            note_text = text.replace("{language_name}", language_name(language, self.content))
            if payload is None:
                response["text"] = f"{response['text']}\n\n{note_text}"
            else:
                payload["note"] = note_text
        if payload is not None:
            custom = response.get("custom")
            response["custom"] = {**(custom if isinstance(custom, dict) else {}), "audio": payload}
