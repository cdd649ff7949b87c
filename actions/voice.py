"""Which audio goes with a message: the resident's language if recorded, else Vietnamese (recorded,
else synthesised), always saying plainly when it is not their language. Shared by the Rasa
server's NLG (domain messages) and the actions (FAQ answers, replays)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from actions.api import ApiClient, ApiError, ApiUnavailable
from actions.content import ContentCache, seeds_only
from common.vocabulary import DEFAULT_LANGUAGE, LANGUAGES

# Domain messages that tell the resident which audio they get; editable like every other message.
NOTE_VIETNAMESE = "utter_audio_in_vietnamese"
NOTE_NONE = "utter_audio_unavailable"


def language_of(slots: dict[str, Any]) -> str:
    language = slots.get("language")
    return language if isinstance(language, str) and language in LANGUAGES else DEFAULT_LANGUAGE


def language_name(language: str, content: ContentCache | None = None) -> str:
    """The language as a message names it (`{language_name}`: "tiếng Tày"), in that language itself.

    Without a cache the seed is said."""
    return (content or seeds_only()).say(f"language_name_{language}", language)


def wants_audio(slots: dict[str, Any], metadata: dict[str, Any] | None = None) -> bool:
    """Residents who chose a minority language, or asked to listen, get audio with messages; and one
    who spoke (the gateway heard a voice note: `metadata.input == "voice"`) is answered in kind, without
    having to ask."""
    spoke = isinstance(metadata, dict) and metadata.get("input") == "voice"
    return spoke or bool(slots.get("audio_wanted")) or language_of(slots) != "vi"


async def audio_for(client: ApiClient, *, key: str | None, text: str, language: str,
                    clips: dict[str, dict[str, Any]], slots: dict[str, Any],
                    content: ContentCache | None = None) -> dict[str, Any] | None:
    """The custom `audio` payload for one message, or None when no audio can be made.

    `clips` maps a language to a playable recording of this message ({url, ogg_url, placeholder})."""
    spoken = spoken_text(text, slots, hidden=(content or seeds_only()).say("audio_details_hidden", language))
    for wanted in dict.fromkeys((language, "vi")):
        clip = clips.get(wanted)
        if clip:
            return {"url": clip["url"], "ogg_url": clip.get("ogg_url"), "language": wanted, "key": key,
                    "placeholder": bool(clip.get("placeholder"))}
    if not spoken.strip():
        return None
    try:
        speech = await client.speech(spoken)
    except (ApiUnavailable, ApiError):
        return None
    return {"url": speech["mp3_url"], "ogg_url": speech["ogg_url"], "language": "vi", "key": key,
            "synthetic": True}


def note_for(payload: dict[str, Any] | None, language: str) -> str | None:
    """Which note (a domain message name) must accompany this audio, if any."""
    if payload is None:
        return NOTE_NONE
    if payload["language"] != language:
        return NOTE_VIETNAMESE
    return None


def note_said(bot_data: Iterable[Mapping[str, Any]]) -> bool:
    """Whether the conversation's messages (their data: text, buttons, custom payload) already explained
    that a message's audio is Vietnamese. Said once: after every message it would drown the messages."""
    for data in bot_data:
        custom = data.get("custom")
        audio = custom.get("audio") if isinstance(custom, Mapping) else None
        if isinstance(audio, Mapping) and audio.get("note"):
            return True
    return False


def bot_data_of_session(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The data of the bot's messages since the conversation (session) started, from serialised events."""
    data: list[Mapping[str, Any]] = []
    for event in events:
        if event.get("event") == "session_started":
            data = []
        elif event.get("event") == "bot":
            data.append(event.get("data") or {})
    return data


# Slots whose values must not be spoken into a cached file or sent to an online speech service.
PERSONAL_SLOTS = ("cccd", "phone", "birth_date", "full_name", "known_cccd", "known_birth_date")


def spoken_text(text: str, slots: dict[str, Any], *, hidden: str) -> str:
    """The text to synthesise: a resident's own details are left out of the audio (`hidden` is said instead)."""
    for name in PERSONAL_SLOTS:
        value = slots.get(name)
        if isinstance(value, str) and len(value.strip()) >= 2:
            text = text.replace(value.strip(), hidden)
    return text


async def speak_along(dispatcher: Any, client: ApiClient, content: ContentCache, *, key: str | None, text: str,
                      slots: dict[str, Any], clips: dict[str, dict[str, Any]], noted: bool = False) -> None:
    """Sends the audio of a text an action has just said (or is replaying), with the honest note unless the
    conversation has `noted` it already."""
    language = language_of(slots)
    await content.get()
    payload = await audio_for(client, key=key, text=text, language=language, clips=clips, slots=slots,
                              content=content)
    note = note_for(payload, language)
    if payload is None:
        dispatcher.utter_message(response=NOTE_NONE)
        return
    if note == NOTE_VIETNAMESE and not noted:
        payload["note"] = content.say(note, language, language_name=language_name(language, content))
    dispatcher.utter_message(json_message={"audio": payload})
