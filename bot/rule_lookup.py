"""RulePolicy's lookup reads only the conversation's last few states (Rasa environment; installed by
bot/channels.py).

The dialogue is rules and forms only (bot/config.yml), so RulePolicy predicts every action, three or four
times a message. Each time it turned the whole conversation into states, replaying every event into a new
tracker and describing the tracker after each action (`Domain.states_for_tracker_history`), then held every
rule against every state: ≈ 2 ms a prediction for a 75-event conversation, and it grew with the
conversation (4.4 ms of Rasa's CPU per message in `bench/profile.py`, issue 21). Two things make most of it
unnecessary:

- **A rule is held only against as many states as it has.** `RulePolicy._is_rule_applicable` accepts any
  state further back than the rule's length, so the rules that apply are decided by the last N states,
  N being the longest rule's length (3 in this model). The replay still applies every event (a state
  holds the slots, set anywhere before), but only the last N trackers are described. When no rule
  applies, Rasa names the prediction after the whole conversation's states; that case is left to Rasa's
  own lookup.
- **The lookup by the message's text can never match here.** Before it looks a user's message up by its
  intent, RulePolicy looks it up by its text (end-to-end rules), with the whole conversation described
  again. A rule can match that only if its last state asks for no intent and follows `action_listen`
  (or nothing); in this model none does, so the text lookup finds nothing and is skipped. It is worked
  out once per policy from its rules, so a model with such rules keeps Rasa's text lookup.

tests_rasa/test_rule_lookup.py holds both against Rasa's own: the states, and every prediction at every
turn of the conversation tests' stories and of a long chat made of them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH, RulePolicy
from rasa.shared.core.constants import ACTION_LISTEN_NAME, PREVIOUS_ACTION, SHOULD_NOT_BE_SET, USER
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import ACTION_NAME, INTENT

# Rasa's own, kept for the fallback and for comparison (tests_rasa/test_rule_lookup.py).
RASA_FIND = RulePolicy._find_action_from_rules
RASA_STATES = RulePolicy._prediction_states
_TAIL = "_ksk_states_needed"


def _keys(policy: RulePolicy) -> list[str]:
    return [*policy.lookup.get(RULES, {}), *policy.lookup.get(RULES_FOR_LOOP_UNHAPPY_PATH, {})]


@lru_cache(maxsize=8)
def _longest(policy: RulePolicy) -> int:
    """How many of the conversation's last states any rule of this policy reads."""
    return max((len(json.loads(key)) for key in _keys(policy)), default=1)


def _asks_for(sub_state: dict[str, Any], feature: str) -> Any:
    value = sub_state.get(feature)
    return value if value and value != SHOULD_NOT_BE_SET else None


@lru_cache(maxsize=8)
def _text_can_match(policy: RulePolicy) -> bool:
    """Whether some rule could apply to a user's turn described by its text instead of its intent: a last
    state that asks for no intent (text turns have none) and follows `action_listen` (the turn's previous
    action) — a state that asks for no previous action never applies to one that has it."""
    for key in _keys(policy):
        last = json.loads(key)[-1]
        if _asks_for(last.get(USER, {}), INTENT):
            continue
        previous = last.get(PREVIOUS_ACTION, {})
        named = _asks_for(previous, ACTION_NAME)
        if not previous or (named is not None and named != ACTION_LISTEN_NAME):
            continue
        return True
    return False


def last_states(policy: RulePolicy, tracker: DialogueStateTracker, domain: Domain, count: int,
                use_text_for_last_user_input: bool = False) -> list[State]:
    """The last `count` of `policy._prediction_states(tracker, domain, use_text_for_last_user_input)`: the
    same replay of the applied events (`DialogueStateTracker.generate_all_prior_trackers`), with only the
    last trackers described."""
    applied = tracker.applied_events()
    described = 1 + sum(isinstance(event, ActionExecuted) for event in applied)
    skipped = described - count
    replay = tracker.init_copy()
    states: list[State] = []
    seen = 0
    for event in applied:
        if isinstance(event, ActionExecuted):
            if seen >= skipped:
                states.append(domain._clean_state(domain.get_active_state(replay)))
            seen += 1
        replay.update(event)
    states.append(domain._clean_state(domain.get_active_state(replay)))
    # what the featurizer does to the states after them (RulePolicy's slices nothing: max_history None)
    policy.featurizer._choose_last_user_input([states], use_text_for_last_user_input)
    return states


def prediction_states(self: RulePolicy, tracker: DialogueStateTracker, domain: Domain,
                      use_text_for_last_user_input: bool = False,
                      rule_only_data: dict[str, Any] | None = None) -> list[State]:
    """Rasa's, or only the last states while `find_action_from_rules` looks rules up."""
    count = getattr(self, _TAIL, None)
    if count is None:
        return RASA_STATES(self, tracker, domain, use_text_for_last_user_input, rule_only_data)
    return last_states(self, tracker, domain, count, use_text_for_last_user_input)


def find_action_from_rules(self: RulePolicy, tracker: DialogueStateTracker, domain: Domain,
                           use_text_for_last_user_input: bool) -> tuple[str | None, str | None, bool]:
    """`RulePolicy._find_action_from_rules` on the last states. The text lookup that cannot match answers
    as Rasa's answers when it finds nothing, but without naming the states it looked at: `_predict` reads
    that name only with an action."""
    if use_text_for_last_user_input and not _text_can_match(self):
        return None, None, False
    setattr(self, _TAIL, _longest(self))
    try:
        found = RASA_FIND(self, tracker, domain, use_text_for_last_user_input)
    finally:
        delattr(self, _TAIL)
    if found[1] in self.lookup.get(RULES, {}):
        return found
    # No rule applies: Rasa names the prediction after the whole conversation's states.
    return RASA_FIND(self, tracker, domain, use_text_for_last_user_input)


def install() -> None:
    RulePolicy._prediction_states = prediction_states  # type: ignore[method-assign,assignment]
    RulePolicy._find_action_from_rules = find_action_from_rules  # type: ignore[method-assign]
