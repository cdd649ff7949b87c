"""The action server's responses are checked as Rasa checks them, with the validator built once."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

import bot.channels  # noqa: F401 - loading the channel installs the check, as in the Rasa server
from bot import action_results

GOOD: list[dict[str, Any]] = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "requested_slot", "value": "full_name", "timestamp": None},
                {"event": "active_loop", "name": "booking_form"}, {"event": "followup", "name": "action_listen"}],
     "responses": [{"text": "Họ tên của bác là gì ạ?", "buttons": [], "response": "utter_ask_full_name"}]},
    {"events": [{"event": "slot", "name": "my_booking_codes", "value": ["ABCD3467"]}]},
]
BAD: list[Any] = [
    {"events": [{"event": "slot"}]},  # a slot event without its name
    {"events": [{"event": "no_such_event"}]},
    {"events": "not a list"},
    {"responses": [42]},
    [],
]


def original_verdict(result: Any) -> str | None:
    try:
        jsonschema.validate(result, RemoteAction.action_response_format_spec())
    except ValidationError as error:
        return error.message
    return None


def test_the_server_uses_the_validator_built_once() -> None:
    assert RemoteAction._validate_action_result is action_results.validate_action_result


@pytest.mark.parametrize("result", GOOD)
def test_what_rasa_accepts_is_accepted(result: dict[str, Any]) -> None:
    assert original_verdict(result) is None
    assert RemoteAction("action_x", None)._validate_action_result(result) is True


@pytest.mark.parametrize("result", BAD)
def test_what_rasa_refuses_is_refused_with_its_error(result: Any) -> None:
    expected = original_verdict(result)
    assert expected is not None
    with pytest.raises(ValidationError) as raised:
        RemoteAction("action_x", None)._validate_action_result(result)
    assert raised.value.message.startswith(expected)
    assert "Failed to validate Action server response" in raised.value.message


def test_the_schema_is_checked_once_not_at_every_response(monkeypatch: pytest.MonkeyPatch) -> None:
    checks: list[Any] = []
    validator = jsonschema.validators.validator_for(RemoteAction.action_response_format_spec())
    original = validator.check_schema
    monkeypatch.setattr(validator, "check_schema", classmethod(lambda cls, s: checks.append(s) or original(s)))
    for _ in range(5):
        RemoteAction("action_x", None)._validate_action_result(GOOD[1])
    assert checks == []
