"""A conversation's tracker copied as it stands instead of replayed (Rasa environment; installed by
bot/channels.py).

Rasa copies the tracker before every action it runs (`MessageProcessor._run_action`: the action works on
the copy, so that a rejected action's events can be dropped), and `DialogueStateTracker.copy` makes the
copy by replaying every event into a new tracker: each event applied again, and every slot copied twice
(when the new tracker is made, and reset). That was 4 % of Rasa's CPU in `bench/profile.py` (issue 21),
three or four times a message. By Rasa's own rule a tracker's state is what its events make of a new
tracker ("MUST be re-creatable by processing all the events", `DialogueStateTracker.__init__`), so the
copy takes that state directly: the same events (the same objects, as the replay appends them), each
slot copied once with its value, the latest action's dict and the active loop copied (events change them
in place), the latest messages shared as the replay shares them.

What Rasa's copy does not carry is left out here too: the model and assistant ids (the copy's events
do not get them stamped), and where the messages came from. Nor does an event act again when copied (a
replayed StoryExported writes its stories file once more at each copy). tests_rasa/test_tracker_copy.py compares the
two copies attribute by attribute on trackers with every kind of event, and fails on an attribute Rasa
adds that this does not know.

A form makes one more tracker at each answer, for its validation action (`FormAction._temporary_tracker`):
the conversation's events since its latest restart replayed into a new tracker, then three or four more.
With no restart and the domain's slots that is the copy, then those events (≈ 1 ms of Rasa's CPU per
message in a form, `bench/profile.py`); anything else is left to Rasa's.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from rasa.core.actions.forms import FormAction
from rasa.shared.constants import DEFAULT_SENDER_ID
from rasa.shared.core.constants import REQUESTED_SLOT
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, Restarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

# Rasa's own, kept for comparison (tests_rasa/test_tracker_copy.py) whatever was installed since.
RASA_COPY = DialogueStateTracker.copy
RASA_FORM_TRACKER = FormAction._temporary_tracker


def _copied(instance: Any) -> Any:
    """`copy.copy` of a plain object (a slot, the active loop: no `__copy__`, no `__slots__`), without its
    generic path."""
    twin = object.__new__(type(instance))
    twin.__dict__.update(instance.__dict__)
    return twin


def _logged(message: Event, events: deque[Event]) -> bool:
    # Replayed, the latest message is the event that set it (shared), or a new empty one if none did.
    return any(event is message for event in reversed(events))


def copy_tracker(self: DialogueStateTracker) -> DialogueStateTracker:
    """The tracker Rasa's `copy` makes (the state its events replay to), without replaying them."""
    twin: DialogueStateTracker = object.__new__(DialogueStateTracker)
    state = twin.__dict__
    state["_max_event_history"] = self._max_event_history
    state["events"] = deque(self.events, self._max_event_history)
    state["sender_id"] = self.sender_id or DEFAULT_SENDER_ID
    state["slots"] = {name: _copied(slot) for name, slot in self.slots.items()}
    state["sender_source"] = None
    state["is_rule_tracker"] = self.is_rule_tracker
    state["_paused"] = self._paused
    state["followup_action"] = self.followup_action
    state["latest_action"] = dict(self.latest_action) if self.latest_action is not None else None
    latest_message = self.latest_message
    state["latest_message"] = (latest_message if latest_message is not None and _logged(latest_message, twin.events)
                               else UserUttered.empty())
    latest_bot = self.latest_bot_utterance
    state["latest_bot_utterance"] = (latest_bot if latest_bot is not None and _logged(latest_bot, twin.events)
                                     else BotUttered.empty())
    state["active_loop"] = _copied(self.active_loop) if self.active_loop is not None else None
    state["model_id"] = None
    state["assistant_id"] = None
    return twin


def form_tracker(self: FormAction, current_tracker: DialogueStateTracker, additional_events: list[Event],
                 domain: Domain) -> DialogueStateTracker:
    """`FormAction._temporary_tracker`: the conversation's events, then the requested slot, the form's own
    execution and `additional_events`, in a new tracker with the domain's slots."""
    if (current_tracker._max_event_history is not None
            or [(slot.name, type(slot)) for slot in domain.slots]
            != [(name, type(slot)) for name, slot in current_tracker.slots.items()]
            or any(isinstance(event, Restarted) for event in current_tracker.events)):
        return RASA_FORM_TRACKER(self, current_tracker, additional_events, domain)
    tracker = copy_tracker(current_tracker)
    for event in [SlotSet(REQUESTED_SLOT, self.get_slot_to_fill(current_tracker)), ActionExecuted(self.name()),
                  *additional_events]:
        tracker.update(event)
    return tracker


def install() -> None:
    DialogueStateTracker.copy = copy_tracker  # type: ignore[method-assign]
    FormAction._temporary_tracker = form_tracker  # type: ignore[method-assign]
