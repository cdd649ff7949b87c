"""Ranking FAQ entries for a short, possibly misspelt question typed without diacritics.

Three signals over the normalised, diacritics-free text (vntext):
- words: IDF-weighted overlap between the question and each variant (F1 of the weights), so
  rare, telling words ("nhin", "vneid", "lua dao") count more than "kham suc khoe";
- characters: cosine of character-trigram sets, which forgives typos and joined or split words
  ("mienphi", "suckhoe");
- coverage: how much of the question's weight the entry's variants cover together, so an entry
  whose several phrasings each hold part of the question still wins.
The weights were chosen by leave-one-out over the seed variants (each variant asked against an
index without it), never on the held-out paraphrases that bench/nlu.py reports.

A fourth signal is learnt (learned.py): the probability a naive Bayes model over the entries' questions
gives each entry, for paraphrases that share few words with any question written. The entries are
ordered by the lexical score plus that probability (LEARNED_WEIGHT), unless one scores as a question
asked as written (AS_WRITTEN); the score given is the lexical one (see rank). Chosen on spent FAQ sets
3-5, each asked against the seed without it: top-1 98.2 / 93.9 / 91.7 % lexical alone, 99.1 / 96.2 /
94.7 % with it (smoothing 0.03; 0.1 gave 98.2 / 94.7 / 95.5 %, the probability alone 99.1 / 96.2 / 94.7 %).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from api.faq.learned import KeyModel
from vntext import tokens

WORD_WEIGHT, COVERAGE_WEIGHT, CHAR_WEIGHT = 0.5, 0.2, 0.3
LEARNED_WEIGHT = 1.0
# A lexical score from which the question is taken as one of the entry's own, asked as written.
AS_WRITTEN = 0.9


def _trigrams(words: list[str]) -> set[str]:
    text = f" {' '.join(words)} "
    return {text[i:i + 3] for i in range(len(text) - 2)}


@dataclass(frozen=True)
class _Variant:
    words: frozenset[str]
    grams: frozenset[str]
    # The words' weights added up once, when the index is built, not again for each question.
    weight: float


@dataclass
class FaqIndex:
    variants: dict[str, list[_Variant]] = field(default_factory=dict)
    vocabulary: dict[str, frozenset[str]] = field(default_factory=dict)
    idf: dict[str, float] = field(default_factory=dict)
    learned: KeyModel | None = None

    @classmethod
    def build(cls, entries: Iterable[tuple[str, Iterable[str]]]) -> FaqIndex:
        index = cls()
        entries = [(key, list(questions)) for key, questions in entries]  # read twice: may be a generator
        document_frequency: Counter[str] = Counter()
        parsed: dict[str, list[tuple[frozenset[str], frozenset[str]]]] = {}
        for key, questions in entries:
            found = []
            for question in questions:
                words = tokens(question)
                if not words:  # "???" typed by staff: nothing to match, and no trigram to divide by
                    continue
                found.append((frozenset(words), frozenset(_trigrams(words))))
            parsed[key] = found
            index.vocabulary[key] = frozenset().union(*(words for words, _ in found))
            document_frequency.update(index.vocabulary[key])
        total = max(len(parsed), 1)
        index.idf = {w: math.log(1 + total / df) for w, df in document_frequency.items()}
        index.variants = {key: [_Variant(words, grams, index._weight(words)) for words, grams in found]
                          for key, found in parsed.items()}
        index.learned = KeyModel.train(entries)
        return index

    def _unseen_weight(self) -> float:
        # Words unknown to the content still weigh something, as if rare.
        return math.log(1 + max(len(self.variants), 1))

    def _weight(self, words: Iterable[str]) -> float:
        unseen = self._unseen_weight()
        return sum(self.idf.get(w, unseen) for w in words)

    def rank(self, question: str, limit: int = 3) -> list[tuple[str, float]]:
        words = tokens(question)
        if not words:
            return []
        query_words, query_grams = frozenset(words), _trigrams(words)
        # A question's words are weighed once; a variant's share is then the sum over the words it holds,
        # added in the same order as `_weight` would, so the scores are exactly those of the formulas above.
        unseen = self._unseen_weight()
        weigh = {w: self.idf.get(w, unseen) for w in query_words}
        query_weight = self._weight(query_words)
        query_size = len(query_grams)
        scored = []
        for key, variants in self.variants.items():
            held = query_words & self.vocabulary[key]
            coverage = sum(weigh[w] for w in held) / query_weight if query_weight else 0.0
            best = 0.0
            for variant in variants:
                word_score = 0.0
                if held:  # a variant holds no word of the question that its entry does not
                    shared = sum(weigh[w] for w in query_words & variant.words)
                    if shared:
                        precision = shared / query_weight if query_weight else 0.0
                        recall = shared / variant.weight if variant.words else 0.0
                        word_score = 2 * precision * recall / (precision + recall)
                char_score = len(query_grams & variant.grams) / math.sqrt(query_size * len(variant.grams))
                best = max(best, WORD_WEIGHT * word_score + CHAR_WEIGHT * char_score)
            lexical = round(best + COVERAGE_WEIGHT * coverage, 4)
            scored.append((lexical, key))
        # A question staff wrote, asked as written (or nearly), is theirs whatever the model learnt: an
        # entry with three questions must not hide behind one with thirty.
        learned = (self.learned.probabilities(question)
                   if self.learned and max(score for score, _ in scored) < AS_WRITTEN else {})
        # The learnt probability orders the entries; the score given stays the lexical one, how much of the
        # question the entry's own questions hold, which is what FAQ_MIN_SCORE weighs (the probability
        # shares out 1 among the entries even for a question none of them is about).
        scored.sort(key=lambda item: (-(item[0] + LEARNED_WEIGHT * learned.get(item[1], 0.0)), item[1]))
        return [(key, lexical) for lexical, key in scored[:limit]]
