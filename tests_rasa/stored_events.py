"""Events as Rasa logs them, for the tests of the conversation store and of the tracker's copy."""

from __future__ import annotations

from datetime import datetime, timezone

from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    AgentUttered,
    AllSlotsReset,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    DefinePrevUserUtteredFeaturization,
    EntitiesAdded,
    Event,
    FollowupAction,
    LegacyForm,
    LegacyFormValidation,
    LoopInterrupted,
    ReminderCancelled,
    ReminderScheduled,
    Restarted,
    SessionStarted,
    SlotSet,
    StoryExported,
    UserUtteranceReverted,
    UserUttered,
)

CCCD = "003058000123"
NOTE = "Bản nghe bằng tiếng Việt ạ."


def text(number: int) -> str:
    """A message's text without digits (the store masks digits in what residents type): 120 -> "cau bca"."""
    return "cau " + "".join(chr(ord("a") + int(digit)) for digit in str(number))


def turn(number: int, at: float) -> list[Event]:
    """One resident message and the bot's answer, as Rasa logs them. A booking form opens at message 30
    and is still running at the end (its name question answered at 31, its CCCD at 40)."""
    said = UserUttered(text(number), intent={"name": "faq", "confidence": 0.9},
                       parse_data={"intent": {"name": "faq", "confidence": 0.9}, "entities": [],
                                   "text": text(number)}, timestamp=at)
    events: list[Event] = [ActionExecuted("action_listen", timestamp=at - 0.5), said]
    if number == 30:
        return events + [ActionExecuted("booking_form", timestamp=at + 0.1),
                         ActiveLoop("booking_form", timestamp=at + 0.1),
                         SlotSet("requested_slot", "full_name", timestamp=at + 0.1),
                         BotUttered("Họ tên của bác là gì ạ?", timestamp=at + 0.2)]
    if number == 31:
        events.append(SlotSet("full_name", "Nông Thị Mai", timestamp=at + 0.1))
    if number == 40:
        events.append(SlotSet("cccd", CCCD, timestamp=at + 0.1))
    if number == 35:  # the audio is Vietnamese: said once a conversation
        events.append(BotUttered(data={"custom": {"audio": {"url": "/a.mp3", "note": NOTE}}}, timestamp=at + 0.1))
    return events + [ActionExecuted("action_answer_faq", timestamp=at + 0.1),
                     SlotSet("last_faq_key", f"key_{number % 7}", timestamp=at + 0.1),
                     BotUttered(f"Trả lời câu {number}", timestamp=at + 0.2)]


def every_kind() -> list[Event]:
    """At least one event of every kind Rasa stores, in an order a conversation could log them: a booking
    form opened and interrupted, reverted, restarted, a new session."""
    return [
        *turn(30, 1000.0), *turn(35, 1001.0), ActionExecuted("booking_form", policy="RulePolicy", confidence=1.0,
                                                             action_text=None, hide_rule_turn=True, timestamp=1002),
        ActiveLoop(None), LoopInterrupted(True), LegacyForm("booking_form"), LegacyFormValidation(False),
        ActionExecutionRejected("booking_form", "RulePolicy"),
        EntitiesAdded([{"entity": "commune", "value": "Hữu Liên", "start": 0, "end": 7}]),
        DefinePrevUserUtteredFeaturization(True), AgentUttered("chào", {"a": 1}), FollowupAction("action_listen"),
        ReminderScheduled("EXTERNAL_reminder", datetime(2026, 12, 3, 8, tzinfo=timezone.utc), name="r1"),
        ReminderCancelled(name="r1"), ConversationPaused(), ConversationResumed(), UserUtteranceReverted(),
        ActionReverted(), AllSlotsReset(), Restarted(), StoryExported("stories.md"), SessionStarted(),
        SlotSet("requested_slot", None), UserUttered("/affirm", {"name": "affirm", "confidence": 1.0}),
        BotUttered("Vâng ạ", {"buttons": [{"title": "Có", "payload": "/affirm"}]}, {"utter_action": "utter_ok"})]
