"""Each event type's class by the name it is written under, looked up once per process (Rasa environment;
installed by bot/channels.py, and used directly by bot/tracker_store.py).

Rasa's `Event.resolve_by_type` lists every subclass of `Event` afresh — recursively, asking each class
whether it is abstract — for every event it reads. Rasa reads events by name where a tracker is read back
from the store (≈ 1.2 ms of Rasa's CPU per message in `bench/profile.py`, issue 21) and where the action
server's answer is read (`RemoteAction.run` → `deserialise_events`: ≈ 0.25 ms per message in a later
profile, after the store had its own cache). A class once found is kept; what Rasa does not find (an
unknown name, its old "topic", a caller's default) is asked of Rasa again each time, so it answers and
fails exactly as Rasa's lookup does.

tests_rasa/test_event_types.py reads every kind of event both ways.
"""

from __future__ import annotations

from rasa.shared.core.events import Event

# Rasa's own, for what is not found and for comparison.
RASA_RESOLVE = Event.resolve_by_type
_FOUND: dict[str, type[Event]] = {}


def resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    """Rasa's `Event.resolve_by_type`, with each class found looked up once."""
    found = _FOUND.get(type_name)
    if found is not None:
        return found
    found = RASA_RESOLVE(type_name, default)
    # Only a class named so is kept: not None ("topic"), nor a default returned for an unknown name.
    if found is not None and found.type_name == type_name:
        _FOUND[type_name] = found
    return found


def install() -> None:
    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign]
