"""Runs in the Rasa environment: .venv-rasa/bin/python -m pytest tests_rasa"""

from __future__ import annotations

import pytest
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.vietnamese_tokenizer import VietnameseTokenizer


@pytest.fixture
def tokenizer() -> VietnameseTokenizer:
    return VietnameseTokenizer(VietnameseTokenizer.get_default_config())


def lemmas(tokenizer: VietnameseTokenizer, text: str) -> list:
    message = Message(data={TEXT: text})
    tokenizer.process([message])
    return [t.lemma for t in message.get(TOKENS_NAMES[TEXT])]


def test_with_and_without_diacritics_give_the_same_lemmas(tokenizer: VietnameseTokenizer) -> None:
    assert lemmas(tokenizer, "Khám sức khỏe có mất tiền không?") == lemmas(tokenizer, "kham suc khoe co mat tien ko")


def test_shorthand_expands_to_several_tokens_over_one_span(tokenizer: VietnameseTokenizer) -> None:
    message = Message(data={TEXT: "ksk có mất tiền k"})
    tokenizer.process([message])
    tokens = message.get(TOKENS_NAMES[TEXT])
    assert [t.lemma for t in tokens] == ["kham", "suc", "khoe", "co", "mat", "tien", "khong"]
    assert {(t.start, t.end, t.text) for t in tokens[:3]} == {(0, 3, "ksk")}
    assert (tokens[-1].start, tokens[-1].end, tokens[-1].text) == (16, 17, "k")


def test_surface_text_and_offsets_are_kept_for_entities(tokenizer: VietnameseTokenizer) -> None:
    text = "tôi tên Nông Thị Mai, cccd 003158001234"
    message = Message(data={TEXT: text})
    tokenizer.process([message])
    for token in message.get(TOKENS_NAMES[TEXT]):
        assert text[token.start:token.end] == token.text
    assert "Nông" in [t.text for t in message.get(TOKENS_NAMES[TEXT])]
    assert "nong" in [t.lemma for t in message.get(TOKENS_NAMES[TEXT])]


def test_intent_names_are_left_alone(tokenizer: VietnameseTokenizer) -> None:
    message = Message(data={TEXT: "chào", INTENT: "book_exam"})
    tokenizer.process_training_data(type("TD", (), {"training_examples": [message]})())
    assert [t.text for t in message.get(TOKENS_NAMES[INTENT])] == ["book_exam"]
