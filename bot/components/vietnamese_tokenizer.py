"""Rasa graph component: whitespace tokens whose features ignore diacritics and chat shorthand.

Runs in the Rasa environment (Python 3.10). Each token keeps its surface text and offsets, so
entity annotations and extracted values stay exactly as the resident typed them, while its
`lemma` is the canonical, diacritics-free form from `vntext` ("Khám" -> "kham", "k" -> "khong").
Shorthand that stands for several words ("ksk") becomes several tokens over the same span, so
"ksk" and "khám sức khỏe" give the model the same words. Featurizers then choose: with
`use_lemma: true` (Rasa's default) they see the folded form, with `use_lemma: false` the text as
typed — config.yml uses both, so the model is robust to missing diacritics and can still use them.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from vntext import fold, normalize


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class VietnameseTokenizer(WhitespaceTokenizer):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return WhitespaceTokenizer.get_default_config()

    @staticmethod
    def not_supported_languages() -> None:
        return None

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = super().tokenize(message, attribute)
        if attribute != TEXT:
            return tokens
        result: list[Token] = []
        for token in tokens:
            canonical = fold(normalize(token.text)).split() or [fold(token.text)]
            for lemma in canonical:
                result.append(Token(token.text, token.start, token.end, data=dict(token.data), lemma=lemma))
        return result
