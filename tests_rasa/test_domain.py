"""The domain and the actions agree: every response an action sends, and every action, is declared."""

from __future__ import annotations

import re
from pathlib import Path

from rasa.shared.core.domain import Domain

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE_INTENTS = {
    "greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "help", "faq", "book_exam", "cancel_booking",
    "reschedule_booking", "my_bookings", "ask_schedule", "check_record_status", "choose_language",
    "request_audio", "report_scam", "delete_my_data", "human_handoff", "inform", "emergency",
}
ARCHITECTURE_ENTITIES = {"cccd", "phone", "birth_date", "date", "commune", "person_name", "language", "booking_code"}


def load_domain() -> Domain:
    return Domain.load(str(ROOT / "bot" / "domain.yml"))


def test_intents_and_entities_are_the_contract_names() -> None:
    domain = load_domain()
    # Rasa adds its own default intents (session_start, restart, back, nlu_fallback, out_of_scope).
    assert set(domain.intents) - set(Domain.empty().intents) == ARCHITECTURE_INTENTS
    assert set(domain.entities) >= ARCHITECTURE_ENTITIES


def test_every_response_and_action_used_by_the_action_server_is_declared() -> None:
    domain = load_domain()
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "actions").glob("*.py"))
    used_responses = set(re.findall(r'response="(utter_\w+)"', source))
    assert used_responses, "the pattern must find the actions' responses"
    assert used_responses <= set(domain.responses), used_responses - set(domain.responses)
    used_actions = set(re.findall(r'return "(action_\w+)"', source))
    assert used_actions <= set(domain.user_actions), used_actions - set(domain.user_actions)


def test_the_action_server_registers_exactly_the_domains_custom_actions() -> None:
    # The action server instantiates every Action subclass it finds: a base class without a name
    # would stop it from starting, and an action missing from the domain could never be predicted.
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")
    custom = {name for name in load_domain().user_actions if name.startswith(("action_", "validate_"))}
    assert set(executor.actions) == custom
