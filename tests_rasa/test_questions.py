"""Every answer button knows its question: a tap of a question that is over (answered, replaced, or from
an earlier booking) changes nothing and says so; a garbled or forged tag is stale too, never a crash.
Actions against a fake API over HTTP; the policy on Rasa's own trackers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk import Tracker

from actions import questions
from actions.booking import ActionSubmitBooking
from actions.booking_form import ValidateBookingForm
from actions.questions import ActionStaleChoice, is_stale, on_screen
from actions.records import ActionAskConsentRecord
from bot.components.stale_choice import STALE_ACTION, StaleChoicePolicy
from tests_rasa.fake_api import json_handler, run_action, tracker
from tests_rasa.test_booking_form import BOOKED, FORM_SLOTS

ROOT = Path(__file__).resolve().parents[1]
OPEN, OLD = "cc.k3x9", "ss.a1b2"


def said(dispatcher: Any) -> list[str]:
    return [m.get("response") or m.get("text") for m in dispatcher.messages]


def asked_before(tag: str | None, *, turns_ago: int = 1) -> list[tuple[str, Any]]:
    """Steps: the question `tag` put on screen `turns_ago` turns before the latest message."""
    steps: list[tuple[str, Any]] = [("user", None), ("open", tag)]
    steps += [("user", None)] * turns_ago
    return steps


@pytest.mark.parametrize("tags", [[], None])
def test_a_typed_answer_carries_no_tag_and_answers_the_question_on_screen(tags: list[Any] | None) -> None:
    assert not is_stale(tags or [], asked_before(OPEN))
    assert not is_stale(tags or [], [("user", None)])


def test_a_tap_of_the_question_on_screen_is_current() -> None:
    assert on_screen(asked_before(OPEN)) == OPEN
    assert not is_stale([OPEN], asked_before(OPEN))
    # Asked again after a side question (a form re-asks): still on screen.
    assert not is_stale([OPEN], [("user", None), ("open", OPEN), ("user", None), ("open", OPEN), ("user", None)])


def test_a_tap_of_an_answered_replaced_or_older_question_is_stale() -> None:
    assert is_stale([OPEN], asked_before(OPEN, turns_ago=2))  # answered (typed) the turn after it was asked
    assert is_stale([OLD], asked_before(OPEN))  # another question is on screen now
    assert is_stale([OLD], [("user", None), ("open", OLD), ("open", OPEN), ("user", None)])  # replaced
    assert is_stale([OPEN], [("user", None)])  # nothing on screen at all


@pytest.mark.parametrize("forged", [
    42, None, 1.5, True, ["cc.k3x9"], {"cc": "k3x9"}, "", "cc.k3x9 ", "CC.K3X9", "cc.k3x9\"}", "cc", "x" * 5000,
    "cc.k3x9'; drop table", "\u0000", "cc.k3x9\n",
])
def test_a_garbled_or_forged_tag_is_stale_never_a_crash(forged: Any) -> None:
    assert is_stale([forged], asked_before(OPEN))
    # A forged tag next to the right one does not make the tap current either.
    assert is_stale([OPEN, forged], asked_before(OPEN))


def test_a_garbled_open_question_leaves_nothing_on_screen() -> None:
    for value in (None, 7, "not a tag", ["cc.k3x9"]):
        assert on_screen(asked_before(value)) is None  # type: ignore[arg-type]
        assert is_stale([OPEN], asked_before(value))  # type: ignore[arg-type]


# --- the booking form refuses a stale tap itself ----------------------------------------------------

def tap(payload_entities: list[dict[str, Any]], *, intent: str, opened: str, slots: dict[str, Any],
        form: str | None = "booking_form") -> Tracker:
    return tracker("/" + intent, payload_entities, slots=slots, intent=intent, form=form, opened=opened)


def test_an_old_consent_yes_at_the_summary_does_not_book_and_the_summary_is_asked_again() -> None:
    summary_tag = "bc.q7w2"
    slots = {**FORM_SLOTS, "booking_confirmed": True, "requested_slot": "booking_confirmed"}
    # The form passes the yes as the answer to the summary (booking_confirmed: True)…
    dispatcher, events = run_action(ValidateBookingForm(), {}, tap(
        [{"entity": "question", "value": "cb.a1b2"}], intent="affirm", opened=summary_tag, slots=slots))
    # …but it was the consent question's "Đồng ý": nothing is confirmed, the summary is asked again.
    assert said(dispatcher) == ["utter_stale_choice_in_form"]
    assert {"event": "slot", "name": "booking_confirmed", "value": None, "timestamp": None} in events
    # The same yes from the summary's own button confirms.
    dispatcher, events = run_action(ValidateBookingForm(), {}, tap(
        [{"entity": "question", "value": summary_tag}], intent="affirm", opened=summary_tag, slots=slots))
    assert said(dispatcher) == [] and {"event": "slot", "name": "booking_confirmed", "value": True,
                                       "timestamp": None} in events


def test_a_session_from_an_earlier_booking_is_not_taken_for_this_one() -> None:
    slots = {**FORM_SLOTS, "session_id": "12", "booking_confirmed": None, "requested_slot": "session_id"}
    dispatcher, events = run_action(ValidateBookingForm(), {("GET", "/sessions"): json_handler({"items": []})}, tap(
        [{"entity": "session_id", "value": "12"}, {"entity": "question", "value": OLD}], intent="inform",
        opened="ss.n3w1", slots=slots))
    assert said(dispatcher) == ["utter_stale_choice_in_form"]
    assert {"event": "slot", "name": "session_id", "value": None, "timestamp": None} in events


# --- outside a form: action_stale_choice ------------------------------------------------------------

def outside(entities: list[dict[str, Any]], prior: list[dict[str, Any]], *, intent: str = "inform") -> Tracker:
    """A tap after the conversation `prior` (events), with the slots the tap itself filled."""
    filled = [{"event": "slot", "name": e["entity"], "value": e["value"]} for e in entities
              if e["entity"] == "session_id"]
    return Tracker.from_dict({
        "sender_id": "test-user", "slots": {e["name"]: e["value"] for e in filled},
        "latest_message": {"text": "/" + intent, "entities": entities, "intent": {"name": intent}},
        "events": [*prior, {"event": "user", "text": "/" + intent}, *filled],
        "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen",
    })


def test_a_session_button_after_the_booking_was_cancelled_changes_nothing_and_offers_the_menu() -> None:
    prior = [{"event": "user", "text": "dat lich"}, {"event": "slot", "name": "open_question", "value": OLD},
             {"event": "slot", "name": "session_id", "value": None},
             {"event": "user", "text": "huy lich"}, {"event": "user", "text": "co"}]
    dispatcher, events = run_action(ActionStaleChoice(), {}, outside(
        [{"entity": "session_id", "value": "12"}, {"entity": "question", "value": OLD}], prior))
    assert said(dispatcher) == ["utter_stale_choice"]
    assert events == [{"event": "slot", "name": "session_id", "value": None, "timestamp": None}]
    assert "Cảm ơn" not in _seed("utter_stale_choice") and "câu hỏi trước" in _seed("utter_stale_choice")


def test_an_old_button_while_another_question_is_open_shows_that_question_again() -> None:
    offer_buttons = [{"title": title, "payload": questions.payload("inform", "ro.z9y8", reminder_choice=choice)}
                     for title, choice in (("Có, nhắc tôi", "yes"), ("Không cần", "no"))]
    prior = [{"event": "user", "text": "/affirm"},
             {"event": "bot", "text": "Bác/anh/chị có muốn tôi nhắn nhắc lịch…?", "data": {"buttons": offer_buttons}},
             {"event": "slot", "name": "open_question", "value": "ro.z9y8"}]
    dispatcher, events = run_action(ActionStaleChoice(), {}, outside(
        [{"entity": "question", "value": "bc.q7w2"}], prior, intent="affirm"))
    assert said(dispatcher) == ["utter_stale_choice_current"]
    message = dispatcher.messages[0]
    assert message["question"] == "Bác/anh/chị có muốn tôi nhắn nhắc lịch…?" and message["buttons"] == offer_buttons
    # Still the question on screen for the next message: its buttons keep working.
    assert events == [{"event": "slot", "name": "open_question", "value": "ro.z9y8", "timestamp": None}]


def _seed(key: str) -> str:
    from common.wording import seeds

    return seeds()[key]


# --- two questions in a row: the reminders offer, then the e-health book -----------------------------

def test_the_e_health_book_question_replaces_the_reminders_offer() -> None:
    track = Tracker.from_dict({**tracker("/affirm", slots=FORM_SLOTS).current_state(), "sender_id": "telegram:4242"})
    dispatcher, booked = run_action(ActionSubmitBooking(), {("POST", "/bookings"): json_handler(BOOKED, status=201)},
                                    track)
    offer = next(m for m in dispatcher.messages if m.get("response") == "utter_reminders_offer")
    [offer_tag] = [e["value"] for e in booked if e["name"] == "open_question"]
    assert [b["title"] for b in offer["buttons"]] == ["Có, nhắc tôi", "Có, và báo khi đội khám lưu động đến xã",
                                                      "Không cần"]
    assert all(len(b["payload"].encode()) <= 64 for b in offer["buttons"])  # Telegram's callback data

    # "so suc khoe dien tu": the consent question, with only its own buttons, each once.
    ask = tracker("so suc khoe dien tu", slots={"known_cccd": "003158001234"}, form="record_form")
    dispatcher, opened = run_action(ActionAskConsentRecord(), {}, ask)
    buttons = dispatcher.messages[-1]["buttons"]
    assert [b["title"] for b in buttons] == ["Đồng ý tra sổ", "Tra cho người khác", "Không tra sổ"]
    [consent_tag] = [e["value"] for e in opened if e["name"] == "open_question"]
    assert consent_tag != offer_tag and all(consent_tag in b["payload"] for b in buttons)
    # The offer's buttons are now stale; the consent question's are current.
    steps = [("user", None), ("open", offer_tag), ("user", None), ("open", consent_tag), ("user", None)]
    assert is_stale([offer_tag], steps) and not is_stale([consent_tag], steps)


# --- the policy: outside forms, a stale tap gets action_stale_choice, then the bot listens -----------

@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "bot" / "domain.yml"))


@pytest.fixture
def policy(tmp_path: Path) -> StaleChoicePolicy:
    return StaleChoicePolicy(StaleChoicePolicy.get_default_config(), LocalModelStorage(tmp_path), Resource("stale"),
                             ExecutionContext(GraphSchema({})))


def predicted(policy: StaleChoicePolicy, domain: Domain, events: list[Any]) -> str | None:
    state = DialogueStateTracker.from_events("policy-test", events, slots=domain.slots)
    probabilities = policy.predict_action_probabilities(state, domain).probabilities
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return domain.action_names_or_texts[best] if probabilities[best] > 0 else None


def tapped(tag: Any, intent: str = "affirm") -> UserUttered:
    return UserUttered("/" + intent, intent={"name": intent, "confidence": 1.0},
                       entities=[{"entity": "question", "value": tag, "start": 0, "end": 0}])


def test_policy_predicts_the_stale_action_for_a_finished_question_only(policy: StaleChoicePolicy,
                                                                       domain: Domain) -> None:
    asked = [ActionExecuted("action_listen"), UserUttered("huy lich", intent={"name": "cancel_booking"}),
             BotUttered("chắc chắn muốn hủy?"), SlotSet("open_question", OPEN), ActionExecuted("action_listen")]
    assert predicted(policy, domain, [*asked, tapped(OPEN)]) is None  # current: the rules answer it
    assert predicted(policy, domain, [*asked, UserUttered("co", intent={"name": "affirm"})]) is None  # typed
    answered = [*asked, UserUttered("co", intent={"name": "affirm"}), ActionExecuted("action_submit_cancel"),
                ActionExecuted("action_listen")]
    assert predicted(policy, domain, [*answered, tapped(OPEN)]) == STALE_ACTION  # the same button, tapped again
    assert predicted(policy, domain, [*asked, tapped({"forged": True})]) == STALE_ACTION
    after = [*answered, tapped(OPEN), ActionExecuted(STALE_ACTION)]
    assert predicted(policy, domain, after) == "action_listen"


def test_after_an_hour_of_silence_no_earlier_question_is_on_screen(policy: StaleChoicePolicy,
                                                                  domain: Domain) -> None:
    from rasa.shared.core.events import SessionStarted

    asked = [ActionExecuted("action_listen"), UserUttered("huy lich", intent={"name": "cancel_booking"}),
             SlotSet("open_question", OPEN), ActionExecuted("action_listen")]
    assert predicted(policy, domain, [*asked, tapped(OPEN)]) is None
    later = [*asked, SessionStarted(), ActionExecuted("action_listen")]
    assert predicted(policy, domain, [*later, tapped(OPEN)]) == STALE_ACTION
    # The action server reads the same from its events.
    events = [{"event": "user"}, {"event": "slot", "name": "open_question", "value": OPEN},
              {"event": "session_started"}, {"event": "user"}]
    assert questions.steps_of(events) == [("user", None)] and is_stale([OPEN], questions.steps_of(events))


def test_policy_leaves_an_active_form_to_its_validation(policy: StaleChoicePolicy, domain: Domain) -> None:
    in_form = [ActionExecuted("action_listen"), UserUttered("dat lich", intent={"name": "book_exam"}),
               ActionExecuted("booking_form"), ActiveLoop("booking_form"), ActionExecuted("action_listen")]
    assert predicted(policy, domain, [*in_form, tapped(OLD)]) is None


# --- every question's buttons: tagged with the question opened, and short enough for Telegram ------------

def asked_buttons() -> dict[str, tuple[list[dict[str, str]], list[Any]]]:
    """Each question with answer buttons, asked through its action: (its buttons, the events returned)."""
    from actions.booking import (
        ActionAskBookingConfirmed,
        ActionAskBookingFor,
        ActionAskConsentBooking,
        ActionAskSessionId,
    )
    from actions.manage import ActionAskBookingCode, ActionAskCancelConfirmed
    from actions.records import ActionAskDataRight, ActionAskRightsConfirmed
    from tests_rasa.test_manage_and_forms import SITE, booking

    far = {"id": 987654, "starts_at": "2026-12-31T13:30:00+07:00", "ends_at": "2026-12-31T16:30:00+07:00",
           "site": SITE, "available": 120, "waitlisted": 0}
    routes = {("GET", "/sessions"): json_handler({"items": [far]}),
              ("GET", "/bookings/{code}"): json_handler(booking())}
    summary = {**FORM_SLOTS, "session_id": "987654", "requested_slot": "booking_confirmed"}
    cases: dict[str, tuple[Any, Tracker]] = {
        "consent_booking": (ActionAskConsentBooking(), tracker("", form="booking_form")),
        "booking_for": (ActionAskBookingFor(), tracker("", form="booking_form")),
        "session": (ActionAskSessionId(), tracker("", slots={"commune_id": 9}, form="booking_form")),
        "summary": (ActionAskBookingConfirmed(), tracker("", slots=summary, form="booking_form")),
        "fix": (ActionAskBookingConfirmed(), tracker("khong", slots=summary, intent="deny", form="booking_form")),
        "booking_code": (ActionAskBookingCode(), tracker("", slots={"my_booking_codes": ["KE3MX7PA", "M7RC4TXA"]},
                                                         form="cancel_form")),
        "cancel": (ActionAskCancelConfirmed(), tracker("", slots={"booking_code": "KE3MX7PA"}, form="cancel_form")),
        "consent_record": (ActionAskConsentRecord(), tracker("", slots={"known_cccd": "003158001234"},
                                                             form="record_form")),
        "data_right": (ActionAskDataRight(), tracker("", form="rights_form")),
        "erase": (ActionAskRightsConfirmed(), tracker("", form="rights_form")),
    }
    found = {}
    for name, (action, track) in cases.items():
        dispatcher, events = run_action(action, routes, track)
        found[name] = (next(m for m in dispatcher.messages if m.get("buttons"))["buttons"], events)
    return found


def test_every_questions_buttons_carry_its_tag_and_fit_telegrams_callback_data() -> None:
    import json

    found = asked_buttons()
    assert len(found) == 10
    for name, (buttons, events) in found.items():
        [opened] = [e["value"] for e in events if e["name"] == "open_question"]
        assert questions.TAG.fullmatch(opened), name
        for button in buttons:
            body = button["payload"]
            assert len(body.encode()) <= 64, (name, body)  # Telegram's callback_data limit
            intent, _, entities = body[1:].partition("{")
            assert intent.isidentifier() and json.loads("{" + entities)["question"] == opened, (name, body)
    # Different questions of one form run have different tags; the same question asked twice, the same.
    tags = {name: next(e["value"] for e in events if e["name"] == "open_question")
            for name, (_, events) in found.items()}
    assert tags["consent_booking"] != tags["session"] != tags["summary"] != tags["fix"]
    assert asked_buttons()["session"][1] == found["session"][1]


def test_a_question_keeps_its_tag_through_one_run_of_a_form_and_changes_with_the_next() -> None:
    def asked_in(events: list[dict[str, Any]]) -> str:
        return questions.tag_for(questions.SESSION, Tracker.from_dict({
            "sender_id": "x", "slots": {}, "latest_message": {"text": ""}, "events": events, "paused": False,
            "followup_action": None, "active_loop": {"name": "booking_form"}, "latest_action_name": "action_listen"}))

    run = [{"event": "user", "text": "dat lich", "timestamp": 100.0},
           {"event": "active_loop", "name": "booking_form", "timestamp": 100.5}]
    first = asked_in([*run, {"event": "user", "text": "huu lien", "timestamp": 130.0}])
    # The first question, asked while the form starts (its activation not stored yet): the same run.
    assert asked_in(run[:1]) == first
    # Asked again later in the same booking (after a side question): the earlier buttons stay good.
    assert asked_in([*run, {"event": "user", "text": "x", "timestamp": 130.0},
                     {"event": "user", "text": "y", "timestamp": 170.0}]) == first
    # A new booking (the form activated again): a new tag, so the old list's buttons are stale.
    again = [*run, {"event": "active_loop", "name": None, "timestamp": 200.0},
             {"event": "user", "text": "dat lich", "timestamp": 300.0},
             {"event": "active_loop", "name": "booking_form", "timestamp": 300.5}]
    assert asked_in(again) != first and questions.TAG.fullmatch(asked_in(again))


def test_an_old_no_at_the_summary_shows_the_summary_again_not_the_fields_to_fix() -> None:
    from actions.booking import ActionAskBookingConfirmed
    from tests_rasa.test_booking_form import SITES, session

    routes = {("GET", "/sessions"): json_handler({"items": [session(13, 27, SITES[1])]})}
    slots = {**FORM_SLOTS, "session_id": "13", "requested_slot": "booking_confirmed"}
    stale = tracker("/deny", [{"entity": "question", "value": "cb.a1b2"}], slots=slots, intent="deny",
                    form="booking_form", opened="bc.q7w2")
    dispatcher, _ = run_action(ActionAskBookingConfirmed(), routes, stale)
    assert said(dispatcher) == ["utter_ask_booking_confirmed"]
    current = tracker("/deny", [{"entity": "question", "value": "bc.q7w2"}], slots=slots, intent="deny",
                      form="booking_form", opened="bc.q7w2")
    dispatcher, _ = run_action(ActionAskBookingConfirmed(), routes, current)
    assert said(dispatcher) == ["utter_which_field"]


def test_no_two_questions_share_a_button_title() -> None:
    """Zalo sends back only a tapped button's title, and the gateway maps a title to the last payload sent
    under it in that chat: an old "Đồng ý" of one consent must not read as a yes to another question."""
    found = asked_buttons()
    owners: dict[str, str] = {}
    for name, (buttons, _) in found.items():
        for button in buttons:
            assert owners.setdefault(button["title"], name) == name, (button["title"], owners[button["title"]], name)
