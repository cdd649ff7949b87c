"""Rasa graph component: intents by a logistic regression over tf-idf weighted features.

Runs in the Rasa environment (Python 3.10), named in config.yml in place of Rasa's
LogisticRegressionClassifier, which fits raw counts with a fixed regularisation (C = 1). Raw counts
let a long message's many words and character n-grams outweigh the few that carry its meaning, and
reward words that occur in every intent ("khám", "ạ"); sublinear tf-idf with each message's vector
normalised to unit length weighs what is rare and caps what is repeated, so the regularisation has
to be looser (C in config.yml, chosen on spent held-out sets: see the comment there).

Everything else — the features read, the intent ranking, the model file (skops) — is Rasa's own:
the weighting and the regression are one scikit-learn pipeline in the place of the bare regression.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.pipeline import Pipeline

# What the fitted weights hold beyond the types skops trusts by default (TfidfTransformer's idf).
_TRUSTED = frozenset({"scipy.sparse._csr.csr_matrix"})


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
