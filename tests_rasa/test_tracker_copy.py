"""The tracker Rasa copies before each action is copied as it stands (bot/tracker_copy.py): the same
tracker as Rasa's replaying copy, attribute by attribute, after every event of conversations with every
kind of event, and as separate from the original."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from rasa.core.actions.forms import FormAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    Event,
    LoopInterrupted,
    Restarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot import tracker_copy
from bot.tracker_copy import RASA_COPY, RASA_FORM_TRACKER, copy_tracker, form_tracker
from tests_rasa.stored_events import CCCD, every_kind, turn

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "bot" / "domain.yml"))


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Applying a StoryExported event writes its file (stories.md) where the process runs: not in the checkout.
    monkeypatch.chdir(tmp_path)


def conversation() -> list[Event]:
    """A booking form opened, answered and interrupted, every kind of event, then more turns."""
    events = [event for number in range(28, 42) for event in turn(number, 1000.0 + number)]
    events += [LoopInterrupted(True), *every_kind()]
    events += [ActiveLoop("booking_form"), SlotSet("requested_slot", "cccd"), LoopInterrupted(True)]
    return events + [event for number in range(50, 53) for event in turn(number, 2000.0 + number)]


def state(tracker: DialogueStateTracker) -> dict[str, Any]:
    """Everything a tracker holds, comparable: events and the latest messages by identity (the copy shares
    them as the replay does), slots by their type and fields."""
    events = list(tracker.events)

    def which(message: Event) -> Any:
        logged = [index for index, event in enumerate(events) if event is message]
        return ("logged", logged[-1]) if logged else ("new", message.as_dict() | {"timestamp": None})

    seen: dict[str, Any] = {}
    for name, value in vars(tracker).items():
        if name == "events":
            seen[name] = [id(event) for event in events]
        elif name == "slots":
            seen[name] = {slot: (type(held), vars(held)) for slot, held in value.items()}
        elif name in ("latest_message", "latest_bot_utterance"):
            seen[name] = which(value)
        else:
            seen[name] = value
    return seen


def test_the_copy_is_rasas_copy_after_every_event_of_a_conversation_with_every_kind(domain: Domain) -> None:
    events = conversation()
    for upto in range(len(events) + 1):
        tracker = DialogueStateTracker.from_events("chat-1", events[:upto], domain.slots)
        # As the processor sets them: the copy carries neither (nor does Rasa's).
        tracker.model_id, tracker.assistant_id, tracker.sender_source = "model", "assistant", "rest"
        ours, rasas = copy_tracker(tracker), RASA_COPY(tracker)
        assert state(ours) == state(rasas), upto
        assert set(vars(ours)) == set(vars(rasas)) == set(vars(tracker))


def test_the_copy_and_the_original_change_apart(domain: Domain) -> None:
    # The booking form runs, its name and CCCD answered.
    events = [event for number in range(28, 42) for event in turn(number, 1000.0 + number)]
    tracker = DialogueStateTracker.from_events("chat-2", events, domain.slots)
    assert tracker.active_loop_name == "booking_form"
    before = state(tracker)

    ours = copy_tracker(tracker)
    ours.update_with_events([UserUttered("khong", {"name": "deny", "confidence": 1.0}), ActionExecuted("utter_ok"),
                             SlotSet("full_name", "Lò Văn Pá"), LoopInterrupted(True)], domain)

    assert state(tracker) == before
    assert tracker.get_slot("full_name") == "Nông Thị Mai" and ours.get_slot("full_name") == "Lò Văn Pá"
    assert not tracker.is_active_loop_interrupted and ours.is_active_loop_interrupted
    # And the other way round.
    tracker.update(SlotSet("cccd", None))
    assert ours.get_slot("cccd") == CCCD


def test_a_tracker_with_no_events_copies_to_a_new_empty_one(domain: Domain) -> None:
    tracker = DialogueStateTracker("", domain.slots)
    ours, rasas = copy_tracker(tracker), RASA_COPY(tracker)
    assert state(ours) == state(rasas)
    assert ours.sender_id == rasas.sender_id == "default"
    # Not the original's empty messages: the copy's own, as a replay makes them.
    assert ours.latest_message is not tracker.latest_message
    assert ours.latest_bot_utterance is not tracker.latest_bot_utterance


def test_the_rasa_server_copies_trackers_this_way() -> None:
    import bot.channels  # noqa: F401 - installs it, as the Rasa server loading the channel does

    assert DialogueStateTracker.copy is tracker_copy.copy_tracker
    assert FormAction._temporary_tracker is tracker_copy.form_tracker


def form_state(tracker: DialogueStateTracker, shared: int) -> dict[str, Any]:
    """`state`, with the events after the first `shared` (made anew by each form tracker) by their content."""
    seen = state(tracker)
    made = [event.as_dict() | {"timestamp": None} for event in list(tracker.events)[shared:]]
    return seen | {"events": [*seen["events"][:shared], *made]}


def test_a_form_s_tracker_for_its_validation_is_rasa_s_after_every_event(domain: Domain) -> None:
    events = conversation()
    form = FormAction("booking_form", None)
    answers = [SlotSet("cccd", CCCD), SlotSet("phone", None)]
    restarted = next(at for at, event in enumerate(events) if isinstance(event, Restarted))
    made_here = 0
    for upto in range(len(events) + 1):
        tracker = DialogueStateTracker.from_events("chat-3", events[:upto], domain.slots)
        tracker.model_id, tracker.assistant_id, tracker.sender_source = "model", "assistant", "rest"
        with patch.object(tracker_copy, "RASA_FORM_TRACKER", wraps=RASA_FORM_TRACKER) as rasas_made:
            ours = form_tracker(form, tracker, answers, domain)
        made_here += not rasas_made.called
        rasas = RASA_FORM_TRACKER(form, tracker, answers, domain)
        shared = len(rasas.events) - 2 - len(answers)
        assert form_state(ours, shared) == form_state(rasas, shared), upto
    # A restart, and the events before it, are left to Rasa's.
    assert made_here == restarted + 1


def test_a_form_s_tracker_is_rasa_s_when_the_history_is_capped(domain: Domain) -> None:
    events = [event for number in range(28, 42) for event in turn(number, 1000.0 + number)]
    tracker = DialogueStateTracker.from_events("chat-4", events, domain.slots, max_event_history=20)
    form = FormAction("booking_form", None)
    with patch.object(tracker_copy, "RASA_FORM_TRACKER", wraps=RASA_FORM_TRACKER) as rasas_made:
        form_tracker(form, tracker, [], domain)
    assert rasas_made.called
