"""Events read by their type's name with each class looked up once (bot/event_types.py): the same events
as Rasa's lookup reads, the same refusals, and every class found asked of Rasa once (issue 21)."""

from __future__ import annotations

import pytest
from rasa.shared.core import events as rasa_events
from rasa.shared.core.events import Event, UserUttered

from bot import event_types
from tests_rasa.stored_events import every_kind


@pytest.fixture
def counted(asked_of_rasa: list[str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names asked of Rasa's lookup, from an empty cache, with ours installed as Rasa's."""
    monkeypatch.setattr(Event, "resolve_by_type", staticmethod(event_types.resolve_by_type))
    return asked_of_rasa


def test_every_kind_is_read_as_rasa_reads_it_each_class_asked_for_once(
        counted: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    dumps = [event.as_dict() for event in every_kind()] * 3
    dumps += [{"no": "event"}, {"event": "topic", "topic": "old"}]
    with monkeypatch.context() as rasas_own:
        rasas_own.setattr(Event, "resolve_by_type", staticmethod(event_types.RASA_RESOLVE))
        rasas = rasa_events.deserialise_events(dumps)
    counted.clear()
    # Rasa's own reading of the action server's answer (RemoteAction.run) now goes through ours.
    ours = rasa_events.deserialise_events(dumps)
    assert ours == rasas and [e.as_dict() for e in ours] == [e.as_dict() for e in rasas]
    assert len(ours) == len(every_kind()) * 3
    names = {dump["event"] for dump in dumps if "event" in dump}
    # Each class once; "topic", which Rasa reads as nothing, is asked again each time it comes.
    assert sorted(counted) == sorted(names)
    counted.clear()
    assert rasa_events.deserialise_events(dumps) == rasas and counted == ["topic"]


def test_what_rasa_does_not_find_is_answered_and_refused_as_rasa_does(counted: list[str]) -> None:
    with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
        Event.resolve_by_type("no_such_event")
    # A caller's default stands in for an unknown name, and is not kept as that name's class.
    assert Event.resolve_by_type("no_such_event", UserUttered) is UserUttered
    with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
        Event.resolve_by_type("no_such_event")
    assert Event.resolve_by_type("topic") is None
    assert counted == ["no_such_event"] * 3 + ["topic"]
    # A known name with a default: its own class, then kept.
    assert Event.resolve_by_type("slot", UserUttered) is rasa_events.SlotSet
    assert Event.resolve_by_type("slot") is rasa_events.SlotSet and counted[-1] == "slot"
    assert counted.count("slot") == 1


def test_the_assistant_reads_events_through_the_cache() -> None:
    import bot.channels  # noqa: F401  (installs it, as the Rasa server does)

    assert Event.resolve_by_type is event_types.resolve_by_type
