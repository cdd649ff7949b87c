"""bot/rule_lookup.py predicts what Rasa's RulePolicy predicts, from the conversation's last states only:
at every turn of the conversation tests' stories and of one long chat made of them, on the trained model."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rasa.core.agent import Agent
from rasa.core.policies.rule_policy import RULES, RulePolicy
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.generator import TrainingDataGenerator
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.core.training_data.structures import StoryGraph

from bot import rule_lookup
from tests_rasa.rasa_and_ours import components, rasa_then_ours

ROOT = Path(__file__).resolve().parents[1]
STORIES = sorted((ROOT / "tests_rasa" / "conversations").glob("*.yml"))


@pytest.fixture(scope="module")
def policy(agent: Agent) -> RulePolicy:
    found = components(agent, RulePolicy)
    assert len(found) == 1
    return found[0]


@pytest.fixture(scope="module")
def turns(agent: Agent) -> list[DialogueStateTracker]:
    """The tracker before each action of every story, and of one chat of every story in a row."""
    steps = [step for path in STORIES for step in YAMLStoryReader(agent.domain).read_from_file(str(path))]
    stories = TrainingDataGenerator(StoryGraph(steps), agent.domain, augmentation_factor=0,
                                    use_story_concatenation=False, remove_duplicates=False).generate()
    chat = [event for story in stories for event in story.events]
    before: list[DialogueStateTracker] = []
    for events in [list(story.events) for story in stories] + [chat]:
        before += [DialogueStateTracker.from_events("rule-lookup-test", events[:at], agent.domain.slots)
                   for at, event in enumerate(events) if at and isinstance(event, ActionExecuted)]
    assert len(stories) >= 25 and len(chat) > 300
    return before


def rasa_then_here(monkeypatch: pytest.MonkeyPatch, work: Callable[[], Any]) -> tuple[Any, Any]:
    return rasa_then_ours(monkeypatch, RulePolicy, {
        "_find_action_from_rules": (rule_lookup.RASA_FIND, rule_lookup.find_action_from_rules),
        "_prediction_states": (rule_lookup.RASA_STATES, rule_lookup.prediction_states)}, work)


def predictions(policy: RulePolicy, domain: Domain, trackers: list[DialogueStateTracker]) -> list[Any]:
    seen = []
    for tracker in trackers:
        prediction = policy.predict_action_probabilities(tracker, domain)
        seen.append((prediction.probabilities, prediction.events, prediction.policy_name,
                     prediction.is_end_to_end_prediction, prediction.is_no_user_prediction,
                     prediction.hide_rule_turn))
    return seen


def test_every_prediction_is_rasa_s(agent: Agent, policy: RulePolicy, turns: list[DialogueStateTracker],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    by_rasa, here = rasa_then_here(monkeypatch, lambda: predictions(policy, agent.domain, turns))
    assert here == by_rasa
    actions = {max(range(len(seen[0])), key=seen[0].__getitem__) for seen in here}
    assert len(here) > 500 and len(actions) > 25
    assert {seen[4] for seen in here} == {True, False}  # some kept a form going
    assert rule_lookup._longest(policy) == 3 and not rule_lookup._text_can_match(policy)


@pytest.mark.parametrize("use_text", [False, True])
def test_the_last_states_are_the_last_of_rasa_s(agent: Agent, policy: RulePolicy, use_text: bool,
                                                turns: list[DialogueStateTracker]) -> None:
    for tracker in turns[::7]:
        whole = rule_lookup.RASA_STATES(policy, tracker, agent.domain, use_text)
        for count in (1, 3, 50):
            assert rule_lookup.last_states(policy, tracker, agent.domain, count, use_text) == whole[-count:]


def test_no_rule_applying_keeps_rasa_s_name_for_the_prediction(
        agent: Agent, policy: RulePolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = DialogueStateTracker.from_events("rule-lookup-test", [
        ActionExecuted("action_listen"), UserUttered("?", {"name": "inform", "confidence": 1.0}),
        ActionExecuted("utter_greet")], agent.domain.slots)
    by_rasa, here = rasa_then_here(monkeypatch, lambda: policy._find_action_from_rules(tracker, agent.domain, False))
    assert here == by_rasa and by_rasa[1] not in policy.lookup[RULES]


def test_a_model_with_rules_on_the_text_keeps_rasa_s_text_lookup(
        agent: Agent, policy: RulePolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    by_text = copy.copy(policy)
    rule = [{"prev_action": {"action_name": "action_listen"}, "user": {"text": "xin chao ban"}}]
    by_text.lookup = {**policy.lookup, RULES: {**policy.lookup[RULES], json.dumps(rule): "utter_goodbye"}}
    tracker = DialogueStateTracker.from_events("rule-lookup-test", [
        ActionExecuted("action_listen"), UserUttered("xin chao ban", {"name": "greet", "confidence": 1.0})],
        agent.domain.slots)
    assert rule_lookup._text_can_match(by_text)
    by_rasa, here = rasa_then_here(monkeypatch, lambda: by_text.predict_action_probabilities(tracker, agent.domain))
    goodbye = agent.domain.index_for_action("utter_goodbye")
    assert by_rasa.max_confidence_index == here.max_confidence_index == goodbye
    assert here.is_end_to_end_prediction


def test_the_rasa_server_looks_rules_up_this_way() -> None:
    import bot.channels  # noqa: F401 - installs it, as the Rasa server loading the channel does

    assert RulePolicy._find_action_from_rules is rule_lookup.find_action_from_rules
    assert RulePolicy._prediction_states is rule_lookup.prediction_states
