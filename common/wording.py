"""The assistant's words: one key per sentence, the current wording as its seed, staff's published
wording over it. Both runtimes choose and fill texts here, so a sentence reads the same whether the
Rasa server, the action server, the gateway or the API says it.

Seeds live in the Rasa project: `bot/domain.yml` (the responses Rasa says itself) and `bot/texts/*.yml`
(what actions, the API and the gateway put together: sentences with values, parts of sentences,
refusals, record statuses, buttons), one file per speaker. The API seeds its content store from both; staff edit any key
per language through draft → review → publish; every runtime falls back to the seed when the
content service cannot be reached, so the assistant never goes silent.

Placeholders are named (`{code}`, `{when}`) and filled by name only: a published text cannot reach
anything but the values the code offers it (no `str.format` attribute or index access).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DOMAIN_FILE = PROJECT_ROOT / "bot" / "domain.yml"
TEXTS_DIR = PROJECT_ROOT / "bot" / "texts"

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BRACE = re.compile(r"[{}]")


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def stray_braces(text: str) -> bool:
    """A brace that is not part of a `{name}` placeholder ("{code", "{ code }", "{}"): a typo that
    would show to residents as it is."""
    return bool(_BRACE.search(PLACEHOLDER.sub("", text)))


def fill(text: str, values: Mapping[str, object]) -> str:
    """`text` with each `{name}` it has a value for replaced; others stay as they are."""
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)


def choose(published: Mapping[str, Mapping[str, str]], seeds: Mapping[str, str], key: str,
           language: str | None) -> str | None:
    """The text of `key` for a language: staff's wording in it, else in Vietnamese, else the seed."""
    texts = published.get(key) or {}
    return (texts.get(language or "vi") or texts.get("vi") or seeds.get(key)) or None


def domain_seeds(path: Path = DOMAIN_FILE) -> dict[str, str]:
    """The first text of each response in the Rasa domain."""
    domain = _load_yaml(path)
    texts = {}
    for name, variants in (domain.get("responses") or {}).items():
        text = next((v.get("text") for v in variants or [] if isinstance(v, dict) and v.get("text")), None)
        if text:
            texts[str(name)] = str(text)
    return texts


class DuplicateKey(ValueError):
    """One key seeded twice: which wording is the seed would depend on file order."""


def text_seeds(folder: Path = TEXTS_DIR, domain: Path = DOMAIN_FILE) -> dict[str, str]:
    """The texts outside the domain, by key, from every file of `folder`."""
    texts: dict[str, str] = {}
    taken = set(domain_seeds(domain))
    for path in sorted(folder.glob("*.yml")):
        for key, text in (_load_yaml(path).get("texts") or {}).items():
            if key in texts or key in taken:
                raise DuplicateKey(f"{key} ({path.name})")
            texts[str(key)] = str(text)
    return texts


@lru_cache
def domain_keys() -> frozenset[str]:
    """The Rasa domain's responses: texts Rasa fills from the conversation's slots and that are spoken."""
    return frozenset(domain_seeds())


@lru_cache
def seeds() -> dict[str, str]:
    """Every seed, by key (read once per process)."""
    return {**domain_seeds(), **text_seeds()}


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml  # type: ignore[import-untyped]  # both environments install PyYAML (Rasa requires it)

    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}
