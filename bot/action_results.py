"""Rasa checks every action server response against its JSON schema with `jsonschema.validate`, which
first checks the schema itself against JSON Schema's meta-schema and builds a new validator each time:
≈ 18 ms of CPU per action call here, two calls in a typical message — the largest part of what a
message cost in Rasa (issue 21, `bench/profile.py`). The same check with one validator built once costs
≈ 0.7 ms and accepts and refuses exactly the same responses, with the same error.

Installed when the Rasa server loads our input channel (bot/channels.py), in every process that serves
residents; Rasa offers no setting for it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jsonschema import ValidationError, validators
from jsonschema.exceptions import best_match
from rasa.core.actions.action import RemoteAction


@lru_cache(maxsize=1)
def _validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)  # once, as `jsonschema.validate` does on every call
    return cls(schema)


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """`RemoteAction._validate_action_result` with the validator built once."""
    error: ValidationError | None = best_match(_validator().iter_errors(result))
    if error is None:
        return True
    # Rasa's own wording of the failure (rasa/core/actions/action.py).
    error.message += (". Failed to validate Action server response from API, make sure your response from "
                      "the Action endpoint is valid. For more information about the format visit "
                      "https://rasa.com/docs/rasa/custom-actions")
    raise error


def install() -> None:
    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
