"""Rasa dialogue policy: a tapped button whose question is over gets `action_stale_choice`, whatever the
button says (actions/questions.py explains the question tags).

Outside a form, a yes, a session or a reminder choice is otherwise taken by the rules as an answer to
nothing ("Cảm ơn… muốn làm gì tiếp ạ?", which an elderly resident may read as "booked"). Inside a form
the form's validation refuses the tap itself (the form is predicted before any policy could), so this
policy stays out of active forms. It learns nothing: trained, it only records that it exists.
"""

from __future__ import annotations

from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Restarted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from actions.questions import OPEN_SLOT, Step, is_stale, tapped_tags

STALE_ACTION = "action_stale_choice"
# Above the RulePolicy (4): a stale tap must not be answered by the rule for its intent.
PRIORITY = 5


def steps_of(tracker: DialogueStateTracker) -> list[Step]:
    steps: list[Step] = []
    for event in tracker.events:
        if isinstance(event, (SessionStarted, Restarted)):
            steps = []  # a new conversation: nothing asked before is on screen
        elif isinstance(event, UserUttered):
            steps.append(("user", None))
        elif isinstance(event, SlotSet) and event.key == OPEN_SLOT:
            steps.append(("open", event.value))
    return steps


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class StaleChoicePolicy(Policy):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"priority": PRIORITY}

    def train(self, training_trackers: list[TrackerWithCachedStates], domain: Domain, **kwargs: Any) -> Resource:
        # Nothing learnt; an empty resource, so loading the trained model finds one.
        with self._model_storage.write_to(self._resource):
            pass
        return self._resource

    def predict_action_probabilities(self, tracker: DialogueStateTracker, domain: Domain,
                                     rule_only_data: dict[str, Any] | None = None, **kwargs: Any) -> PolicyPrediction:
        probabilities = self._default_predictions(domain)
        if tracker.active_loop_name is None:
            if tracker.latest_action_name == ACTION_LISTEN_NAME and is_stale(
                    tapped_tags(tracker.latest_message.entities if tracker.latest_message else []),
                    steps_of(tracker)):
                probabilities[domain.index_for_action(STALE_ACTION)] = 1.0
            elif tracker.latest_action_name == STALE_ACTION:
                probabilities[domain.index_for_action(ACTION_LISTEN_NAME)] = 1.0
        return self._prediction(probabilities)
