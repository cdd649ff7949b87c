"""Rasa graph component: intents by a logistic regression over tf-idf weighted features.

Runs in the Rasa environment (Python 3.10), named in config.yml in place of Rasa's
LogisticRegressionClassifier, which fits raw counts with a fixed regularisation (C = 1). Raw counts
let a long message's many words and character n-grams outweigh the few that carry its meaning, and
reward words that occur in every intent ("khám", "ạ"); sublinear tf-idf with each message's vector
normalised to unit length weighs what is rare and caps what is repeated, so the regularisation has
to be looser (C in config.yml, chosen on spent held-out sets: see the comment there).

Everything else — the features read, the intent ranking, the model file (skops) — is Rasa's own:
the weighting and the regression are one scikit-learn pipeline in the place of the bare regression.

At run time one message is weighed and scored straight from the fitted numbers (issue 21): Rasa's
path builds scipy matrices for every message (csr, hstack, vstack, then the pipeline's sparse
products), ≈ 1.6-2 ms of CPU for what is a dot product over a hundred features (now ≈ 0.25 ms). The probabilities
are the pipeline's own (a test compares them on the trained model).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.tensorflow.constants import RANKING_LENGTH
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.pipeline import Pipeline

# What the fitted weights hold beyond the types skops trusts by default (TfidfTransformer's idf).
_TRUSTED = frozenset({"scipy.sparse._csr.csr_matrix"})


def _sentence_features(message: Message) -> tuple[Any, Any]:
    """(columns, counts) of the message's sparse sentence features, placed as Rasa's
    `get_sparse_features` places them (each featurizer's block after the previous one's, in order) but
    without building the stacked matrix; a column given twice is summed, counts not above 0 left out."""
    columns, counts, offset = [], [], 0
    for features in message.features:
        if features.attribute == TEXT and features.is_sparse() and features.type == FEATURE_TYPE_SENTENCE:
            block = scipy.sparse.coo_matrix(features.features)
            columns.append(block.col + offset)
            counts.append(block.data)
            offset += block.shape[1]
    if not columns:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    merged = scipy.sparse.csr_matrix((np.concatenate(counts), (np.zeros(sum(map(len, columns)), dtype=np.int64),
                                                               np.concatenate(columns))), shape=(1, offset))
    kept = merged.data > 0
    return merged.indices[kept], merged.data[kept]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class WeightedLogisticRegressionClassifier(LogisticRegressionClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "C": 1.0, "sublinear_tf": True}

    def __init__(
        self, config: dict[str, Any], name: str, model_storage: ModelStorage, resource: Resource
    ) -> None:
        super().__init__(config, name, model_storage, resource)
        regression = self.clf
        regression.set_params(C=self.config["C"])
        self.clf = Pipeline([
            ("weights", TfidfTransformer(sublinear_tf=self.config["sublinear_tf"])),
            ("regression", regression),
        ])

    @cached_property
    def _fitted(self) -> tuple[Any, Any, Any, list[str]]:
        """(idf, weights as features x intents, intercepts, intents) of the fitted pipeline."""
        weights, regression = self.clf.named_steps["weights"], self.clf.named_steps["regression"]
        return (np.asarray(weights.idf_), np.ascontiguousarray(regression.coef_.T), regression.intercept_,
                [str(intent) for intent in regression.classes_])

    def probabilities(self, message: Message) -> list[tuple[str, float]]:
        """Each intent's probability for one message, likeliest first: the pipeline's predict_proba."""
        idf, weights, intercepts, intents = self._fitted
        scores = intercepts.copy()
        columns, counts = _sentence_features(message)
        if len(columns):
            values = (np.log(counts) + 1 if self.config["sublinear_tf"] else counts) * idf[columns]
            scores += values @ weights[columns] / np.linalg.norm(values)
        if len(intents) == 2:  # one score, for the second intent: the binary regression's sigmoid
            scores = np.array([0.0, scores[0]])
        scores = np.exp(scores - scores.max())
        scores /= scores.sum()
        return sorted(zip(intents, scores.tolist(), strict=True), key=lambda pair: -pair[1])

    def process(self, messages: list[Message]) -> list[Message]:
        if any(message.get_dense_features(TEXT)[1] is not None for message in messages):
            return list(super().process(messages))  # dense features too: Rasa's own path stacks them
        for message in messages:
            ranking = [{"name": name, "confidence": confidence} for name, confidence in self.probabilities(message)]
            message.set(INTENT, ranking[0], add_to_output=True)
            if self.config[RANKING_LENGTH] > 0:
                ranking = ranking[: self.config[RANKING_LENGTH]]
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> WeightedLogisticRegressionClassifier:
        import skops.io as sio

        # Rasa's own loader refuses any type skops does not trust by default and then silently runs an
        # untrained classifier; the weights keep their idf as a sparse matrix, the one type added here.
        # A file that cannot be read stops the server instead of letting every message crash.
        with model_storage.read_from(resource) as model_dir:
            path = model_dir / f"{resource.name}.skops"
            untrusted = set(sio.get_untrusted_types(file=path)) - _TRUSTED
            if untrusted:
                raise ValueError(f"the intent classifier's model file holds untrusted types: {sorted(untrusted)}")
            component = cls(config, execution_context.node_name or resource.name, model_storage, resource)
            component.clf = sio.load(path, trusted=sorted(_TRUSTED))
        return component
