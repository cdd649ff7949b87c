"""The tf-idf weighted intent classifier: trained, saved and loaded as Rasa runs it; a model file that
cannot be trusted stops loading instead of leaving an untrained classifier to crash every message."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from rasa.core.agent import Agent
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import coo_matrix

from bot.components.intent_classifier import WeightedLogisticRegressionClassifier

# Word counts over a four-word vocabulary: "khám" (in every intent), "hủy", "giá", "vàng".
VOCABULARY = ("kham", "huy", "gia", "vang")


def message(counts: tuple[int, ...], intent: str | None = None) -> Message:
    data = {TEXT: " ".join(word for word, n in zip(VOCABULARY, counts, strict=True) for _ in range(n))}
    if intent:
        data[INTENT] = intent
    found = Message(data=data)
    found.add_features(Features(coo_matrix(np.array([counts], dtype=float)), "sentence", TEXT, "counts"))
    return found


def examples() -> TrainingData:
    return TrainingData([
        *(message((kham, 1, 0, 0), "cancel_booking") for kham in (0, 1, 2, 3)),
        *(message((kham, 0, 1, 1), "out_of_scope") for kham in (0, 1, 2, 3)),
    ])


def trained(tmp_path: Path) -> tuple[LocalModelStorage, Resource]:
    storage, resource = LocalModelStorage(tmp_path), Resource("intents")
    context = ExecutionContext(GraphSchema({}), node_name="intents")
    config = {**WeightedLogisticRegressionClassifier.get_default_config(), "C": 30}
    WeightedLogisticRegressionClassifier.create(config, storage, resource, context).train(examples())
    return storage, resource


def load(storage: LocalModelStorage, resource: Resource) -> WeightedLogisticRegressionClassifier:
    config = {**WeightedLogisticRegressionClassifier.get_default_config(), "C": 30}
    return WeightedLogisticRegressionClassifier.load(config, storage, resource, ExecutionContext(GraphSchema({})))


def test_a_saved_classifier_loads_and_weighs_words_by_their_rarity(tmp_path: Path) -> None:
    classifier = load(*trained(tmp_path))
    # Many repetitions of the word every intent shares do not drown the one word that tells.
    parsed = classifier.process([message((9, 1, 0, 0)), message((9, 0, 1, 0))])
    assert [m.get(INTENT)["name"] for m in parsed] == ["cancel_booking", "out_of_scope"]
    idf = classifier.clf.named_steps["weights"].idf_
    assert idf[0] < idf[1] and idf[0] < idf[2]  # the shared word weighs least


def test_a_model_file_with_an_untrusted_type_is_refused(tmp_path: Path) -> None:
    storage, resource = trained(tmp_path)
    with storage.write_to(resource) as directory:
        # What a tampered or foreign file could hold: a type skops would have to import and run.
        sio.dump({"clf": Path("/etc")}, directory / f"{resource.name}.skops")
    with pytest.raises(ValueError, match="untrusted"):
        load(storage, resource)


@pytest.mark.parametrize("intents", [2, 3])
def test_one_message_is_scored_as_the_pipeline_scores_it(tmp_path: Path, intents: int) -> None:
    storage, resource = LocalModelStorage(tmp_path), Resource("intents")
    context = ExecutionContext(GraphSchema({}), node_name="intents")
    config = {**WeightedLogisticRegressionClassifier.get_default_config(), "C": 30}
    data = examples()
    if intents == 3:
        data = TrainingData([*data.training_examples, *(message((1, 0, 3, 0), "faq") for _ in range(3))])
    classifier = WeightedLogisticRegressionClassifier.create(config, storage, resource, context)
    classifier.train(data)
    for counts in ((9, 1, 0, 0), (0, 0, 2, 1), (1, 1, 1, 1), (3, 0, 0, 0), (0, 0, 0, 0)):
        found = message(counts)
        expected = classifier.clf.predict_proba(classifier._create_X([found]))[0]
        got = dict(classifier.probabilities(found))
        assert list(got) and max(got, key=got.__getitem__) == classifier.clf.classes_[expected.argmax()]
        assert np.allclose([got[intent] for intent in classifier.clf.classes_], expected)


def test_the_trained_model_ranks_intents_as_rasas_own_path_does(agent: Agent,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tests_rasa.rasa_and_ours import rasa_then_ours
    from tests_rasa.test_graph_runner import MESSAGES

    def rankings() -> list[list[tuple[str, float]]]:
        parsed = [asyncio.run(agent.parse_message(text)) for text in (*MESSAGES, "dat lich kham cho me", "")]
        return [[(entry["name"], entry["confidence"]) for entry in p["intent_ranking"]] for p in parsed]

    rasas, ours = rasa_then_ours(monkeypatch, WeightedLogisticRegressionClassifier, {
        "process": (LogisticRegressionClassifier.process, WeightedLogisticRegressionClassifier.process)}, rankings)
    for mine, theirs in zip(ours, rasas, strict=True):
        assert [name for name, _ in mine] == [name for name, _ in theirs]
        assert np.allclose([p for _, p in mine], [p for _, p in theirs])
