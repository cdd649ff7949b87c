"""Which question a button answers, so an old button cannot answer a newer question.

Residents on Telegram and Zalo can tap a button of any message they ever received; the web chat keeps
old buttons on screen too. A "Đồng ý" from a consent question answered last week, or a session from a
list shown before a cancellation, must not be read as an answer to whatever is asked now.

So each answer button carries its question's tag (entity `question`, never typed by residents):
"<question id>.<instance>" — "bc.k3x9", 7 bytes, so a payload stays within Telegram's 64-byte
callback data. The instance is the same for every asking of one question in one run of a form (the
buttons of a re-ask after a side question stay good) and differs for the next run (a new booking).
Asking a question with buttons sets the slot `open_question` to its tag; that question is on screen
until the resident's next message, unless that message's turn asks it again.

A tap is current when its tag is the open question's and the question was (re)asked in the turn
just before the tap. Anything else — an older tag, a tag of a question already answered, a garbled
or forged tag — is stale: nothing it carried is kept, the resident is told it belongs to a question
that is over and is shown the question now open (or the menu). Inside a form the form's validation
does this (`FormControl`); outside one, the dialogue predicts `action_stale_choice`
(bot/components/stale_choice.py) — the Rasa server and the action server share `is_stale` below.

Buttons without a tag (menus: "Đặt lịch khám", "Xem lịch khám ở xã"; a booking's "Hủy lịch …") are
commands, good at any time; what they start checks itself (a cancelled booking cannot be cancelled).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.speaking import Speaks

QUESTION_ENTITY = "question"
OPEN_SLOT = "open_question"
TAG = re.compile(r"[a-z]{2}\.[0-9a-z]{1,8}")
# What the policy and the validation read from a conversation's events: ("user", None) for a
# resident's message, ("open", tag) for a question put on screen.
Step = tuple[str, Any]

# Events after which nothing asked before is on screen: a new conversation (an hour of silence), a restart.
NEW_CONVERSATION = ("session_started", "restart")
# Question ids, one per question with answer buttons.
CONSENT_BOOKING, BOOKING_FOR, SESSION, BOOKING_CONFIRMED = "cb", "bf", "ss", "bc"
BOOKING_CODE, CANCEL_CONFIRMED, CONSENT_RECORD, DATA_RIGHT = "bk", "cc", "cr", "dr"
RIGHTS_CONFIRMED, REMINDERS_OFFER, COMMUNE, FIX_ANSWER = "rc", "ro", "cm", "fx"


def _base36(number: int, width: int = 4) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    for _ in range(width):
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out


def instance_of(tracker: Tracker) -> str:
    """The run a question belongs to: the resident's message that started the active form, else their
    latest message. (A message, not the form's activation event: the first question of a form is asked
    before that event is stored, and an event's stored copy need not carry the same timestamp.)"""
    events = list(tracker.events)
    form = tracker.active_loop_name
    end = len(events)
    if form:
        activations = [i for i, e in enumerate(events) if e.get("event") == "active_loop" and e.get("name") == form]
        end = activations[-1] if activations else end
    anchor: dict[str, Any] = next((e for e in reversed(events[:end]) if e.get("event") == "user"), {})
    stamp = repr(anchor.get("timestamp", "")) + (form or "")
    return _base36(zlib.crc32(stamp.encode()))


def tag_for(question: str, tracker: Tracker) -> str:
    return f"{question}.{instance_of(tracker)}"


def payload(intent: str, tag: str, **entities: str) -> str:
    """A button's payload: `/affirm{"question": "cb.k3x9"}`, `/inform{"session_id": "12", "question": …}`."""
    return f"/{intent}" + json.dumps({**entities, QUESTION_ENTITY: tag}, ensure_ascii=False)


def ask(dispatcher: CollectingDispatcher, tracker: Tracker, question: str,
        buttons: Sequence[tuple[str, str, dict[str, str]]], **message: Any) -> list[EventType]:
    """Puts a question on screen with its answer buttons, (title, intent, entities) each, tagged; the
    events open it. `message` is what utter_message takes (a response name and its values, or a text)."""
    tag = tag_for(question, tracker)
    dispatcher.utter_message(buttons=[{"title": title, "payload": payload(intent, tag, **entities)}
                                      for title, intent, entities in buttons], **message)
    return [SlotSet(OPEN_SLOT, tag)]


def tapped_tags(entities: Iterable[Any]) -> list[Any]:
    """The question tags a message carries (as sent: maybe not strings at all)."""
    return [e.get("value") for e in entities if isinstance(e, dict) and e.get("entity") == QUESTION_ENTITY]


def on_screen(steps: Sequence[Step]) -> str | None:
    """The tag of the question on screen when the resident sent the latest message: the open question,
    if it was put on screen after the message before."""
    users = [index for index, (kind, _) in enumerate(steps) if kind == "user"]
    if not users:
        return None
    before = steps[:users[-1]]
    since = users[-2] if len(users) > 1 else -1
    for index in range(len(before) - 1, since, -1):
        kind, value = before[index]
        if kind == "open":
            return value if isinstance(value, str) and TAG.fullmatch(value) else None
    return None


def is_stale(tags: Sequence[Any], steps: Sequence[Step]) -> bool:
    """True when a message carries a question tag that is not the question on screen. A message
    without a tag (typed) answers whatever is on screen, as always."""
    if not tags:
        return False
    current = on_screen(steps)
    return current is None or any(not isinstance(tag, str) or tag != current for tag in tags)


def steps_of(events: Iterable[dict[str, Any]]) -> list[Step]:
    """The steps of serialised events (the action server's tracker)."""
    steps: list[Step] = []
    for event in events:
        if event.get("event") in NEW_CONVERSATION:
            steps = []  # nothing of an earlier conversation is on screen any more
        elif event.get("event") == "user":
            steps.append(("user", None))
        elif event.get("event") == "slot" and event.get("name") == OPEN_SLOT:
            steps.append(("open", event.get("value")))
    return steps


def stale_tap(tracker: Tracker) -> bool:
    return is_stale(tapped_tags(tracker.latest_message.get("entities") or []), steps_of(tracker.events))


def take_back(tracker: Tracker) -> list[EventType]:
    """Every slot the latest message filled, set back to what it was before: a stale tap changes nothing."""
    events = list(tracker.events)
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
    before: dict[str, Any] = {}
    for event in events[:max(last_user, 0)]:
        if event.get("event") == "slot":
            before[event["name"]] = event.get("value")
    changed = dict.fromkeys(e["name"] for e in events[last_user + 1:] if e.get("event") == "slot")
    changed.pop(OPEN_SLOT, None)
    return [SlotSet(name, before.get(name)) for name in changed]


def question_message(tracker: Tracker, tag: str) -> dict[str, Any] | None:
    """The last message that put question `tag` on screen: its text and buttons."""
    for event in reversed(tracker.events):
        if event.get("event") != "bot":
            continue
        buttons = (event.get("data") or {}).get("buttons") or []
        if any(f'"{QUESTION_ENTITY}": "{tag}"' in str(b.get("payload", "")) for b in buttons):
            return {"text": event.get("text") or "", "buttons": buttons}
    return None


class ActionStaleChoice(Speaks, Action):
    """A tapped button whose question is over, outside any form: say so, change nothing, and show the
    question now on screen again (or the menu when none is)."""

    def name(self) -> str:
        return "action_stale_choice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
                  ) -> list[EventType]:
        events = take_back(tracker)
        current = on_screen(steps_of(tracker.events))
        shown = question_message(tracker, current) if current else None
        if shown is None:
            dispatcher.utter_message(response="utter_stale_choice")
            return events
        dispatcher.utter_message(response="utter_stale_choice_current", question=shown["text"],
                                 buttons=shown["buttons"])
        # Shown again: still the question on screen for the resident's next message.
        return [*events, SlotSet(OPEN_SLOT, current)]
