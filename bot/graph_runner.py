"""Rasa's model graphs run in order, without dask (Rasa environment; installed by bot/channels.py).

Every message runs the NLU graph once and the policy graph once per action predicted. Rasa's
DaskGraphRunner builds, at each run, the smallest schema holding the targets (a new GraphSchema), a dask
task graph from it, and has dask's synchronous scheduler order and run it: for our nine-node NLU graph
and seven-node policy graph that was ≈ 1 ms of each message's CPU in Rasa (bench/profile.py, issue 21),
more than several of the nodes themselves. The graphs are fixed once the model is loaded, so the order
of the nodes each set of targets needs is worked out once and the nodes are called in it, each with
its dependencies' outputs, as dask calls them. Training graphs (run with the importer as input, also by a
server's /model/train) keep Rasa's runner: dask frees their large intermediate outputs as it goes.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.constants import PLACEHOLDER_IMPORTER
from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import GraphSchema
from rasa.engine.runner.dask import DaskGraphRunner

# Rasa's own, kept for comparison (tests_rasa/test_graph_runner.py) whatever was installed since.
DASK_RUN = DaskGraphRunner.run
# The runner's own attribute: (targets) → [(node name, names of the values it needs)], in running order.
_PLANS = "_ksk_plans"


def plan(schema: GraphSchema, targets: list[str], inputs: frozenset[str] = frozenset()
         ) -> list[tuple[str, tuple[str, ...]]]:
    """The nodes the targets need, each after the nodes it needs (depth first from the targets). An input
    named like a node takes its place, as it does in dask's graph."""
    ordered: list[tuple[str, tuple[str, ...]]] = []
    placed: set[str] = set()

    def visit(name: str, path: frozenset[str]) -> None:
        if name in placed or name in inputs or name not in schema.nodes:  # done, or an input
            return
        if name in path:
            raise GraphRunError(f"The graph has a cycle through '{name}'.")
        needs = tuple(schema.nodes[name].needs.values())
        for need in needs:
            visit(need, path | {name})
        placed.add(name)
        ordered.append((name, needs))

    for target in targets:
        visit(target, frozenset())
    return ordered


def run_in_order(self: DaskGraphRunner, inputs: dict[str, Any] | None = None,
                 targets: list[str] | None = None) -> dict[str, Any]:
    """DaskGraphRunner.run without dask: the same outputs, keyed by target."""
    inputs = inputs or {}
    if PLACEHOLDER_IMPORTER in inputs:
        return DASK_RUN(self, inputs, targets)
    run_targets = list(targets) if targets else self._graph_schema.target_names
    plans: dict[tuple[Any, ...], tuple[list[tuple[str, tuple[str, ...]]], frozenset[str]]] = (
        self.__dict__.setdefault(_PLANS, {}))
    given = frozenset(inputs)
    key = (tuple(run_targets), given)
    if key not in plans:
        # With the names of dask's graph (the targets' minimal schema), for the inputs' check below.
        plans[key] = (plan(self._graph_schema, run_targets, given),
                      frozenset(self._graph_schema.minimal_graph_schema(run_targets).nodes))
    steps, graph = plans[key]
    # A node gets, for each thing it needs, a (name, output) pair: what nodes return, and what dask
    # made of an input (DaskGraphRunner._add_inputs_to_graph, whose check this is, in its order).
    values: dict[str, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, str) and (value in graph or value in values):
            raise GraphRunError(
                f"Input value '{value}' clashes with a node name. Make sure that none of the input names passed "
                f"to the `run` method are the same as node names in the graph schema.")
        values[name] = (name, value)
    nodes = self._instantiated_nodes
    try:
        for name, needs in steps:
            # A need that is neither a node nor an input reaches the node as its name, as dask passes it.
            values[name] = nodes[name](*(values.get(need, need) for need in needs))
    except RuntimeError as error:
        raise GraphRunError("Error running runner.") from error
    return dict(values[target] for target in run_targets)


def install() -> None:
    DaskGraphRunner.run = run_in_order  # type: ignore[method-assign]
