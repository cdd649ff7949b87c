"""The tf-idf weighted intent classifier: trained, saved and loaded as Rasa runs it; a model file that
cannot be trusted stops loading instead of leaving an untrained classifier to crash every message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
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
