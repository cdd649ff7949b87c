"""The assistant's judgement on a directory of held-out sets (issue 17), each reported on its own.

    .venv-rasa/bin/python bench/nlu.py --model models/bot.tar.gz --set-dir bench/data/heldout_6

The directory holds NLU YAML sets — with_diacritics.yml, without_diacritics.yml (in-scope intents),
off_topic.yml (intent out_of_scope), emergencies.yml (intent emergency) — and short_replies.yml:
`pairs: [{question: <utter key on screen>, reply: "...", meaning: affirm|deny|stop|thank}]`.
A missing file is skipped. Figures:
- intent accuracy with / without diacritics (the NLU's top intent, MessageGuard included);
- in-scope answer rate: share of those in-scope messages not refused (nlu_fallback, out_of_scope, or
  `faq` with no FAQ entry scoring FAQ_MIN_SCORE: action_answer_faq then says "no answer yet, ask the
  station or 1900 9095" and records the question for staff);
- off-topic honesty: share of off-topic questions refused that way, not answered as if they were in
  scope (the FAQ is the seed content, ranked by the API's own code). A message without a single Latin
  letter or digit once folded ("😂😂😂", "???") that gets the menu is honest too: that is what issue 17 asks for such a
  message (MessageGuard's rule, not the classifier); the line says how many were counted so;
- emergency recall: share routed to action_emergency, i.e. read as `emergency` (a rule in and out
  of every form);
- short-reply accuracy: what the reply does to the question on screen, read as the form reads it
  (reading_of): a stop word ends any form whatever its intent, so `stop` is right when the text is
  one; `affirm`/`deny` are right when the deed's words say so ("hủy đi", "đừng xóa"), or else when the
  intent fills the yes/no slot that way; a stop is a right `deny` where "no" ends the form too; `thank`
  is right as `thank` or `affirm` (the answer to a bare "yes" thanks too);
- the commonest confusion pairs over all sets (an off-topic question refused any of those ways is
  not one).
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

REFUSED = frozenset({"nlu_fallback", "out_of_scope"})
# What a `faq` reading becomes when the FAQ has no answer for it (an honest refusal, recorded).
FAQ_UNKNOWN = "faq (no answer)"
# What a message without a word gets from MessageGuard's rule: the menu, as issue 17 asks.
WORDLESS_MENU = "help (no word: the menu)"
IN_SCOPE_SETS = ("with_diacritics", "without_diacritics")
OFF_TOPIC, EMERGENCIES, SHORT_REPLIES = "off_topic", "emergencies", "short_replies"


def share(hits: int, total: int) -> str:
    return f"{hits}/{total} = {hits / total:.1%}" if total else "no examples"


def load_nlu_set(path: Path) -> list[tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    return [(m.get("text"), m.get("intent")) for m in load_data(str(path)).intent_examples]


def seed_faq_index() -> Any:
    """The FAQ index of the seed content, built by the API's own code (pure Python, no database)."""
    import json

    from api.faq.search import FaqIndex

    seed = json.loads((ROOT / "api" / "faq" / "seed_vi.json").read_text(encoding="utf-8"))
    return FaqIndex.build((entry["key"], entry["questions"]) for entry in seed)


def load_pairs(path: Path) -> list[dict[str, str]]:
    pairs = yaml.safe_load(path.read_text(encoding="utf-8")).get("pairs") or []
    return [{key: str(pair[key]) for key in ("question", "reply", "meaning")} for pair in pairs]


# The cancel and reschedule forms' questions: "hủy" is an answer there, not a stop (actions/manage.py).
_MANAGE_QUESTIONS = frozenset({"utter_ask_cancel_confirmed", "utter_ask_booking_code", "utter_ask_booking_verifier",
                               "utter_ask_reschedule_session_id"})
# Questions whose "no" ends the form with nothing done, as a stop does: there a stop is a right "no".
_NO_ENDS_FORM = frozenset({"utter_ask_cancel_confirmed", "utter_ask_rights_confirmed", "utter_ask_consent_booking",
                           "utter_ask_consent_record"})
# The booking summary: naming an answer to fix ("nhầm số đt") is its "no" (the form asks that answer
# again), and so is an unclear answer (the slot is emptied and the summary offers what to fix).
_SUMMARY = "utter_ask_booking_confirmed"
# Intents the domain's slot mappings take for a yes at a question besides `affirm` (bot/domain.yml).
_ALSO_YES = {"utter_ask_cancel_confirmed": "cancel_booking", "utter_ask_rights_confirmed": "delete_my_data"}


@lru_cache(maxsize=1)
def form_questions() -> frozenset[str]:
    """The questions asked inside a form (utter_ask_<slot> or utter_ask_<form>_<slot> of a slot the form
    requires): a stop word ends a form only there; the reminders offer and the like are asked outside."""
    domain = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
    asked = {f"utter_ask_{prefix}{slot}" for name, form in (domain.get("forms") or {}).items()
             for slot in form.get("required_slots", []) for prefix in ("", f"{name}_")}
    return frozenset(asked) | _MANAGE_QUESTIONS


def reading_of(question: str, reply: str, intent: str) -> str:
    """What the form makes of a reply to the question on screen, in the order the form looks
    (actions/form_control.py): "stop"; at the booking summary a fix of one answer ("deny"); the yes or
    no said with the deed's words ("affirm", "deny", or "unclear": asked again); else the intent, as the
    slot's mappings read it."""
    from actions.form_control import (
        CANCEL_WORDS,
        FIELD_WORDS,
        NO,
        STOP_WORDS,
        UNCLEAR,
        YES,
        answer_in_words,
        find_correction,
        is_stop,
    )

    if question in form_questions() and is_stop(
            reply, STOP_WORDS if question in _MANAGE_QUESTIONS else STOP_WORDS | CANCEL_WORDS):
        return "stop"
    if question == _SUMMARY and find_correction(reply, tuple(FIELD_WORDS)):
        return "deny"
    said = answer_in_words(reply, question.removeprefix("utter_ask_"))
    if said is None:
        return "affirm" if _ALSO_YES.get(question) == intent else intent
    if said == UNCLEAR and question == _SUMMARY:
        return "deny"
    return {YES: "affirm", NO: "deny"}.get(said, "unclear")


def reply_is_right(question: str, meaning: str, reading: str) -> bool:
    if meaning == "thank":
        return reading in {"thank", "affirm"}
    if meaning == "deny" and reading == "stop":
        return question in _NO_ENDS_FORM
    return reading == meaning


def intent_in(outcome: str) -> str:
    return {FAQ_UNKNOWN: "faq", WORDLESS_MENU: "help"}.get(outcome, outcome)


def refused(outcome: str) -> bool:
    return outcome in REFUSED or outcome == FAQ_UNKNOWN


def honest(outcome: str) -> bool:
    """How an off-topic message may be handled: refused, or (with no word in it) shown the menu."""
    return refused(outcome) or outcome == WORDLESS_MENU


def misjudged(gold: str, outcome: str) -> bool:
    """An off-topic question handled any honest way is handled; anything else must be its intent."""
    return not honest(outcome) if gold == "out_of_scope" else gold != intent_in(outcome)


def figures(results: dict[str, list[tuple[str, str, str]]]) -> list[str]:
    """Report lines from (text, gold, predicted) per set name."""
    lines: list[str] = []
    for name in IN_SCOPE_SETS:
        rows = results.get(name)
        if rows is None:
            continue
        right = sum(gold == intent_in(predicted) for _, gold, predicted in rows)
        answered = sum(not refused(predicted) for _, _, predicted in rows)
        lines.append(f"intent accuracy {name.replace('_', ' '):20}: {share(right, len(rows))}")
        lines.append(f"in-scope answer rate {name.replace('_', ' '):18}: {share(answered, len(rows))}")
    if OFF_TOPIC in results:
        rows = results[OFF_TOPIC]
        menus = sum(p == WORDLESS_MENU for _, _, p in rows)
        lines.append(f"off-topic honesty: {share(sum(honest(p) for _, _, p in rows), len(rows))} "
                     f"({menus} of them without a word, given the menu; refused: "
                     f"{share(sum(refused(p) for _, _, p in rows), len(rows))})")
    if EMERGENCIES in results:
        rows = results[EMERGENCIES]
        lines.append(f"emergency recall: {share(sum(p == 'emergency' for _, _, p in rows), len(rows))}")
    return lines


def confusions(results: dict[str, list[tuple[str, str, str]]], top: int = 10) -> list[str]:
    counts = Counter((gold, predicted) for rows in results.values() for _, gold, predicted in rows
                     if misjudged(gold, predicted))
    return [f"  {gold} -> {predicted}: {count}" for (gold, predicted), count in counts.most_common(top)]


async def evaluate_sets(model: Path, directory: Path) -> None:
    from rasa.core.agent import Agent

    from actions.faq import FAQ_MIN_SCORE
    from bot.components.message_guard import wordless_intent

    agent = Agent.load(str(model))
    faq = seed_faq_index()

    async def intent_of(text: str) -> str:
        parsed: dict[str, Any] = await agent.parse_message(text)
        return str((parsed.get("intent") or {}).get("name"))

    async def outcome_of(text: str) -> str:
        intent = await intent_of(text)
        if intent == "help" and wordless_intent(text) == "help":
            return WORDLESS_MENU
        if intent == "faq":
            best = faq.rank(text, 1)
            if not best or best[0][1] < FAQ_MIN_SCORE:
                return FAQ_UNKNOWN
        return intent

    print(f"judgement sets: {directory}")
    results: dict[str, list[tuple[str, str, str]]] = {}
    for name in (*IN_SCOPE_SETS, OFF_TOPIC, EMERGENCIES):
        path = directory / f"{name}.yml"
        if path.exists():
            results[name] = [(text, gold, await outcome_of(text)) for text, gold in load_nlu_set(path)]
    for line in figures(results):
        print(line)
    path = directory / f"{SHORT_REPLIES}.yml"
    if path.exists():
        pairs = load_pairs(path)
        by_meaning: dict[str, list[bool]] = {}
        misses = []
        for pair in pairs:
            reading = reading_of(pair["question"], pair["reply"], await intent_of(pair["reply"]))
            right = reply_is_right(pair["question"], pair["meaning"], reading)
            by_meaning.setdefault(pair["meaning"], []).append(right)
            if not right:
                misses.append(f"  {pair['question']}: {pair['reply']!r} meant {pair['meaning']}, read {reading}")
        total = [right for rights in by_meaning.values() for right in rights]
        detail = ", ".join(f"{meaning} {sum(r)}/{len(r)}" for meaning, r in sorted(by_meaning.items()))
        print(f"short-reply accuracy: {share(sum(total), len(total))} ({detail})")
        if misses:
            print("short replies misread:\n" + "\n".join(misses))
    pairs_lines = confusions(results)
    if pairs_lines:
        print("top confusion pairs (gold -> predicted):\n" + "\n".join(pairs_lines))
    misread = [f"  [{name}] {text!r}: {gold} -> {predicted}" for name, rows in results.items()
               for text, gold, predicted in rows
               if misjudged(gold, predicted) or (gold == "faq" and predicted == FAQ_UNKNOWN)]
    if misread:
        print("misclassified:\n" + "\n".join(misread))
