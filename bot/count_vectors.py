"""A message's word and character counts made straight from the fitted vocabulary (Rasa environment;
installed by bot/channels.py).

Rasa's `CountVectorsFeaturizer` counts a message's tokens through scikit-learn's `CountVectorizer.transform`:
a compressed sparse row matrix is built and checked, its columns sorted, and then converted to coordinates,
twice per featurizer (the tokens one by one, and the sentence) and three featurizers per message (bot/config.yml):
≈ 1.8 ms of Rasa's CPU per message in `bench/profile.py` (issue 21), most of it in scipy's checks. The
counting itself is the vectorizer's own analyzer looked up in its vocabulary; the same counts are written
here straight into the coordinate matrix Rasa keeps (≈ 0.9 ms per message for the three). A vectorizer
that is not fitted is left to Rasa's path, which reports it as before.

tests_rasa/test_count_vectors.py compares the matrices (entries, order, types, shape) with Rasa's for
every featurizer of the trained model, on the training examples and odd messages, and the parses whole.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from sklearn.feature_extraction.text import CountVectorizer

# Rasa's own, kept for what is left to it and for comparison (tests_rasa/test_count_vectors.py).
RASA_CREATE = CountVectorsFeaturizer._create_features
_ANALYZER = "_ksk_analyzer"


def counts(vectorizer: CountVectorizer, documents: list[str]) -> scipy.sparse.coo_matrix:
    """`vectorizer.transform(documents)` with its columns sorted, as coordinates: what Rasa keeps."""
    analyze = getattr(vectorizer, _ANALYZER, None)
    if analyze is None:  # built once per vectorizer: `transform` builds it at every call
        analyze = vectorizer.build_analyzer()
        setattr(vectorizer, _ANALYZER, analyze)
    vocabulary = vectorizer.vocabulary_
    rows: list[int] = []
    columns: list[int] = []
    values: list[int] = []
    for row, document in enumerate(documents):
        found: dict[int, int] = {}
        for feature in analyze(document):
            column = vocabulary.get(feature)
            if column is not None:
                found[column] = found.get(column, 0) + 1
        for column in sorted(found):
            rows.append(row)
            columns.append(column)
            values.append(1 if vectorizer.binary else found[column])
    return scipy.sparse.coo_matrix(
        (np.array(values, dtype=vectorizer.dtype), (np.array(rows, dtype=np.int32), np.array(columns, dtype=np.int32))),
        shape=(len(documents), len(vocabulary)))


def create_features(self: CountVectorsFeaturizer, attribute: str, all_tokens: list[list[str]]
                    ) -> tuple[list[Any], list[Any]]:
    """`CountVectorsFeaturizer._create_features`: each message's tokens counted one by one (sequence) and
    together (sentence, for the attributes Rasa gives one)."""
    vectorizer = self.vectorizers.get(attribute)
    if not vectorizer:
        return [None], [None]
    if not isinstance(vectorizer, CountVectorizer) or not hasattr(vectorizer, "vocabulary_"):
        return RASA_CREATE(self, attribute, all_tokens)
    sequence: list[Any] = []
    sentence: list[Any] = []
    for tokens in all_tokens:
        if not tokens:
            sequence.append(None)
            sentence.append(None)
            continue
        sequence.append(counts(vectorizer, tokens))
        sentence.append(counts(vectorizer, [" ".join(tokens)]) if attribute in DENSE_FEATURIZABLE_ATTRIBUTES else None)
    return sequence, sentence


def install() -> None:
    CountVectorsFeaturizer._create_features = create_features  # type: ignore[method-assign]
