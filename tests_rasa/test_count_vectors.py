"""bot/count_vectors.py counts a message's words and character n-grams into the same matrices as Rasa's
CountVectorsFeaturizer, for every featurizer of the trained model: every fifth training example (with and without
diacritics), odd messages, and the parses they lead to."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from rasa.core.agent import Agent
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message

from bot import count_vectors
from tests_rasa.rasa_and_ours import components, rasa_then_ours
from tests_rasa.test_graph_runner import MESSAGES
from vntext import unaccent

ROOT = Path(__file__).resolve().parents[1]
ODD = ("", "   ", "😀😀", "a" * 300, "ksk ksk ksk ksk", "Đắk Lắk", "0912 345 678", "xyzzy qwerty", "?!",
       "khám\nsức khỏe")


def as_seen(matrix: Any) -> Any:
    if matrix is None:
        return None
    return (matrix.format, matrix.shape, matrix.dtype, matrix.row.dtype, matrix.col.dtype,
            matrix.row.tolist(), matrix.col.tolist(), matrix.data.tolist())


@pytest.fixture(scope="module")
def texts() -> list[str]:
    examples = [message.get(TEXT) for message in load_data(str(ROOT / "nlu_data")).training_examples]
    written = [text for text in examples if text][::5]
    return [*written, *(unaccent(text) for text in written), *MESSAGES, *ODD]


def test_every_featurizer_counts_as_rasa_s(agent: Agent, texts: list[str]) -> None:
    featurizers = components(agent, CountVectorsFeaturizer)
    (tokenizer,) = components(agent, Tokenizer)
    assert len(featurizers) == 3 and len(texts) > 700
    entries = 0
    for text in texts:
        message = Message({TEXT: text})
        tokenizer.process([message])
        for featurizer in featurizers:
            tokens = featurizer._get_processed_message_tokens_by_attribute(message, TEXT)
            by_rasa = count_vectors.RASA_CREATE(featurizer, TEXT, [tokens])
            here = count_vectors.create_features(featurizer, TEXT, [tokens])
            assert [[as_seen(matrix) for matrix in side] for side in here] == \
                   [[as_seen(matrix) for matrix in side] for side in by_rasa], (text, featurizer._identifier)
            entries += sum(matrix.nnz for side in here for matrix in side if matrix is not None)
    assert entries > 20_000


def test_binary_counts_and_an_unfitted_vectorizer_are_rasa_s(agent: Agent) -> None:
    featurizer = components(agent, CountVectorsFeaturizer)[0]
    vectorizer = featurizer.vectorizers[TEXT]
    tokens = ["kham", "kham", "suc", "khoe", "kham"]
    try:
        vectorizer.binary = True
        counted = count_vectors.create_features(featurizer, TEXT, [tokens])[1][0]
        assert as_seen(counted) == as_seen(count_vectors.RASA_CREATE(featurizer, TEXT, [tokens])[1][0])
        assert counted.data.tolist() and set(counted.data.tolist()) == {1}
    finally:
        vectorizer.binary = False
    assert count_vectors.create_features(featurizer, "no-such-attribute", [tokens]) == ([None], [None])


def test_the_parses_are_rasa_s(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    def parse_all() -> list[dict[str, Any]]:
        return [asyncio.run(agent.parse_message(text)) for text in (*MESSAGES, *ODD)]

    by_rasa, here = rasa_then_ours(monkeypatch, CountVectorsFeaturizer, {
        "_create_features": (count_vectors.RASA_CREATE, count_vectors.create_features)}, parse_all)
    assert here == by_rasa


def test_the_rasa_server_counts_this_way() -> None:
    import bot.channels  # noqa: F401 - installs it, as the Rasa server loading the channel does

    assert CountVectorsFeaturizer._create_features is count_vectors.create_features
