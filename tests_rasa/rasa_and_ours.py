"""What the tests that hold our replacements of Rasa's code against Rasa's own share: the trained model's
components of a kind, and one piece of work done with Rasa's methods and then with ours."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rasa.core.agent import Agent


def components(agent: Agent, kind: type) -> list[Any]:
    """The loaded model's graph components of `kind`, in the graph's order."""
    nodes = agent.processor.graph_runner._instantiated_nodes  # type: ignore[union-attr]
    return [node._component for node in nodes.values() if isinstance(node._component, kind)]


def rasa_then_ours(monkeypatch: pytest.MonkeyPatch, owner: type, methods: dict[str, tuple[Any, Any]],
                   work: Callable[[], Any]) -> tuple[Any, Any]:
    """`work()` with each of `owner`'s `methods` set to Rasa's (the first of its pair), then to ours."""
    done = []
    for side in (0, 1):
        with monkeypatch.context() as patch:
            for name, pair in methods.items():
                patch.setattr(owner, name, pair[side])
            done.append(work())
    return done[0], done[1]
