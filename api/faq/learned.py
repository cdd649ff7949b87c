"""Which FAQ entry a question is about, as learnt from the entries' own questions (pure numpy).

The lexical ranking (search.py) finds the entry whose questions share a question's words and letters.
A paraphrase that shares few of them fails it: "dân thường có được khám free không hay chỉ cán bộ"
shares more words with the fee entry than with eligibility, "có số điện thoại nào để hỏi thêm không"
more with data privacy than with the hotline. A naive Bayes model over the same folded words, their
pairs and character n-grams (tf-idf weighted) learns instead which words tell the entries apart, from
every question staff have written for them; search.py adds its probability to the lexical score to
order the entries.

It is learnt whenever the index is built (when staff publish a change: ≈ 50 ms for 600 questions), so what
staff write is what it knows; there is no file to ship or keep in step. Naive Bayes rather than a
logistic regression: on spent FAQ sets 3-5 both added the same (+1 to +4 points of top-1, see
search.py), and naive Bayes is counted in one pass where the regression took ≈ 3 s of CPU to fit.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from vntext import tokens

# Additive smoothing of the words' weights per entry, chosen on spent FAQ sets 3-5 (see search.py).
SMOOTHING = 0.03


def features(question: str) -> Counter[str]:
    """Folded words, adjacent pairs of them, and each word's character 2- to 4-grams."""
    words = tokens(question)
    found: Counter[str] = Counter(f"w {word}" for word in words)
    found.update(f"p {first} {second}" for first, second in zip(words, words[1:], strict=False))
    for word in words:
        padded = f" {word} "
        found.update(f"c {padded[i:i + size]}" for size in (2, 3, 4) for i in range(len(padded) - size + 1))
    return found


@dataclass(frozen=True)
class KeyModel:
    keys: tuple[str, ...]
    columns: dict[str, int]
    idf: np.ndarray
    log_likelihood: np.ndarray  # columns x keys: log P(feature | entry)
    log_prior: np.ndarray

    def _row(self, found: Counter[str]) -> tuple[np.ndarray, np.ndarray]:
        """A question's known features as (columns, sublinear tf-idf values of unit length)."""
        known = [(self.columns[name], n) for name, n in found.items() if name in self.columns]
        if not known:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        columns = np.array([column for column, _ in known], dtype=np.int64)
        values = (1 + np.log(np.array([n for _, n in known], dtype=float))) * self.idf[columns]
        return columns, values / np.linalg.norm(values)

    def probabilities(self, question: str) -> dict[str, float]:
        columns, values = self._row(features(question))
        scores = values @ self.log_likelihood[columns] + self.log_prior
        scores = np.exp(scores - scores.max())
        return dict(zip(self.keys, (scores / scores.sum()).tolist(), strict=True))

    @classmethod
    def train(cls, entries: Iterable[tuple[str, Iterable[str]]]) -> KeyModel | None:
        """None when there is nothing to learn from (fewer than two entries with questions)."""
        examples = [(key, features(question)) for key, questions in entries for question in questions]
        examples = [(key, found) for key, found in examples if found]
        keys = tuple(sorted({key for key, _ in examples}))
        if len(keys) < 2:
            return None
        document_frequency: Counter[str] = Counter(name for _, found in examples for name in found)
        columns = {name: i for i, name in enumerate(sorted(document_frequency))}
        idf = np.array([math.log((1 + len(examples)) / (1 + document_frequency[name])) + 1 for name in columns])
        empty = cls(keys, columns, idf, np.zeros(0), np.zeros(0))
        weight = np.zeros((len(columns), len(keys)))
        for key, found in examples:
            row_columns, values = empty._row(found)
            weight[row_columns, keys.index(key)] += values
        weight += SMOOTHING
        log_likelihood = np.log(weight / weight.sum(axis=0))
        # Every entry equally likely beforehand: one staff have just written, with three questions, is no
        # less likely to be asked about than one with thirty.
        log_prior = np.full(len(keys), -math.log(len(keys)))
        return cls(keys, columns, idf, log_likelihood, log_prior)
