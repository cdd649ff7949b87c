"""bot/graph_runner.py runs the trained model's graphs to the same results as Rasa's dask runner: the NLU
graph on varied messages, and the policy graph at each turn of conversations."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa.core.agent import Agent
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import graph_runner
from tests_rasa.rasa_and_ours import rasa_then_ours

MESSAGES = ("xin chao", "Tôi muốn đặt lịch khám", "ksk co mat tien khong", "lich kham o xa huu lien",
            "con toi sot cao co giat", "giá vàng hôm nay", "😀😀", "ko", "Nguyễn Văn An", "12/07/1960",
            '/inform{"session_id": "12"}', "huy lich kham", "cam on", "a" * 300)


def both_ways(monkeypatch: pytest.MonkeyPatch, work: Any) -> tuple[Any, Any]:
    """`work()` with Rasa's runner, then with ours."""
    return rasa_then_ours(monkeypatch, DaskGraphRunner, {"run": (graph_runner.DASK_RUN, graph_runner.run_in_order)},
                          work)



def test_the_nlu_graph_gives_what_dask_gives(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    def parse_all() -> list[dict[str, Any]]:
        return [asyncio.run(agent.parse_message(text)) for text in MESSAGES]

    by_dask, in_order = both_ways(monkeypatch, parse_all)
    assert in_order == by_dask
    assert {parsed["intent"]["name"] for parsed in in_order} >= {"greet", "book_exam", "emergency"}


def test_the_policy_graph_gives_what_dask_gives(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    processor = agent.processor
    assert processor is not None

    def predictions() -> list[tuple[str | None, float, str | None]]:
        seen = []
        tracker = DialogueStateTracker("graph-runner-test", agent.domain.slots)
        tracker.update(ActionExecuted("action_listen"))
        for text in MESSAGES[:8]:
            parsed = asyncio.run(agent.parse_message(text))
            tracker.update(UserUttered(text, parsed["intent"], parsed["entities"], parsed))
            prediction = processor._predict_next_with_tracker(tracker)
            action = agent.domain.action_names_or_texts[prediction.max_confidence_index]
            seen.append((action, prediction.max_confidence, prediction.policy_name))
            tracker.update(ActionExecuted(action))
            tracker.update(ActionExecuted("action_listen"))
        return seen

    by_dask, in_order = both_ways(monkeypatch, predictions)
    assert in_order == by_dask and len(in_order) == 8


def test_rasa_s_runner_is_the_one_compared_with() -> None:
    assert graph_runner.DASK_RUN.__module__ == "rasa.engine.runner.dask"


def test_inputs_are_taken_as_dask_takes_them(agent: Agent) -> None:
    runner = agent.processor.graph_runner  # type: ignore[union-attr]
    target = agent.processor.model_metadata.nlu_target  # type: ignore[union-attr]
    node = next(name for name in runner._graph_schema.minimal_graph_schema([target]).nodes if name != target)
    # An input whose value names a node is refused; one named like a node takes that node's place.
    for run in (graph_runner.DASK_RUN, graph_runner.run_in_order):
        with pytest.raises(GraphRunError):
            run(runner, inputs={"__message__": node}, targets=[target])

    schema = runner._graph_schema
    need = next(n for n in schema.nodes[target].needs.values() if n in schema.nodes)
    whole = [name for name, _ in graph_runner.plan(schema, [target])]
    cut = [name for name, _ in graph_runner.plan(schema, [target], frozenset({need}))]
    assert need in whole and need not in cut and cut[-1] == target and len(cut) < len(whole)


def test_training_graphs_keep_rasas_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(graph_runner, "DASK_RUN", lambda runner, inputs, targets: calls.append(inputs) or {})
    assert graph_runner.run_in_order(object(), inputs={"__importer__": "importer"}) == {}  # type: ignore[arg-type]
    assert calls == [{"__importer__": "importer"}]
