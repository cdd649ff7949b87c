"""Rasa training-data importer: each NLU example also as residents type it without diacritics.

Runs in the Rasa environment (Python 3.10), named under `importers:` in config.yml. Most residents
type without marks ("dat lich kham cho me"), while the examples staff and we write mostly carry
them. Every example with diacritics is therefore also taught in its unmarked copy (case, spacing and
entity offsets kept), generated here at training time so the copy never goes stale and has no second
home. Measured on set 5 (one run each), the copies alone did not close the gap between typing with
and without marks (84 / 74 % before, 81 / 75 % with them); more varied examples did, and the copies
keep every new example useful to both kinds of typing.

A copy that would collide with an example of another intent is left out: without marks some
short replies are two words at once ("dung vay": *đúng vậy*, yes, or *dừng vậy*, stop), and the
model must learn that they are ambiguous rather than be taught both.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rasa.shared.importers.rasa import RasaFileImporter
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_VALUE,
    INTENT,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from vntext import fold, nfc, unaccent


def unmarked(text: str) -> str | None:
    """The text without diacritics, character for character (so entity offsets still hold); None
    when it has none, or when a character would not map to exactly one."""
    text = nfc(text)
    plain = [unaccent(ch) for ch in text]
    if any(len(ch) != 1 for ch in plain):
        return None
    copy = "".join(plain)
    return copy if copy != text else None


def unmarked_copy(example: Message, synonyms: dict[str, str]) -> Message | None:
    text = example.get(TEXT)
    copy = unmarked(text) if text else None
    entities = example.get(ENTITIES) or []
    # Offsets count the characters as written: decomposed text ("a" + a combining mark) is composed,
    # and shorter, in the copy, so an annotated one is left without a copy rather than mislabelled.
    if copy is None or (entities and nfc(text) != text):
        return None
    moved_entities = []
    for entity in entities:
        start, end = entity[ENTITY_ATTRIBUTE_START], entity[ENTITY_ATTRIBUTE_END]
        moved = dict(entity)
        # A value that is the span as written becomes the span as now written, unless the span is a
        # synonym ("H'Mông" -> hmn), whose canonical value the copy keeps; an explicit value stays.
        if entity.get(ENTITY_ATTRIBUTE_VALUE) == text[start:end]:
            span = text[start:end]
            moved[ENTITY_ATTRIBUTE_VALUE] = synonyms.get(span, synonyms.get(span.lower(), copy[start:end]))
        moved_entities.append(moved)
    data: dict[str, Any] = {TEXT: copy, INTENT: example.get(INTENT)}
    if moved_entities:
        data[ENTITIES] = moved_entities
    return Message(data=data)


def with_unmarked_copies(data: TrainingData) -> TrainingData:
    intents_by_folded: dict[str, set[str]] = defaultdict(set)
    for example in data.intent_examples:
        intents_by_folded[fold(example.get(TEXT))].add(example.get(INTENT))
    written = {(example.get(TEXT), example.get(INTENT)) for example in data.intent_examples}
    copies, seen = [], set()
    for example in data.intent_examples:
        copy = unmarked_copy(example, data.entity_synonyms)
        if copy is None or len(intents_by_folded[fold(copy.get(TEXT))]) > 1:
            continue
        key = (copy.get(TEXT), copy.get(INTENT))
        if key in written or key in seen:
            continue
        seen.add(key)
        copies.append(copy)
    return data.merge(TrainingData(training_examples=copies))


class UnmarkedCopiesImporter(RasaFileImporter):
    def get_nlu_data(self, language: str | None = "en") -> TrainingData:
        return with_unmarked_copies(super().get_nlu_data(language))
