"""What the assistant says, as the Rasa domain (bot/domain.yml) first wrote it: the one home of those
sentences. The content store is seeded from it (api.content), and the gateway says its busy response
itself when Rasa cannot answer (gateway.messages). Read when asked, never at import.
"""

from __future__ import annotations

from pathlib import Path

import yaml  # type: ignore[import-untyped]

from api.core.config import PROJECT_ROOT

DOMAIN_FILE = PROJECT_ROOT / "bot" / "domain.yml"


def domain_texts(path: Path = DOMAIN_FILE) -> dict[str, str]:
    """The first text of each response in the Rasa domain: the seed and the assistant's fallback."""
    domain = yaml.safe_load(path.read_text(encoding="utf-8"))
    texts = {}
    for name, variants in (domain.get("responses") or {}).items():
        text = next((v.get("text") for v in variants or [] if isinstance(v, dict) and v.get("text")), None)
        if text:
            texts[name] = str(text)
    return texts
