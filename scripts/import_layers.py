"""Package-level import graph of `api/`: prints the edges and the cycles, fails when packages form a cycle.

Imports run down: core → shared domains (consent, identity) → domains → routers/pages (docs/STYLE). So a
module maps to its top-level package under `api` (`api.records.service` → `records`), except the route
layer — routers (`router.py`), staff pages (`*_pages.py`, all of `api.studio`) — which maps to the node
`<package>:routes` above every domain. Modules directly in `api/` (`api.deps`, …) are their own nodes.
Every import counts: lazy ones inside functions and type-only ones under `if TYPE_CHECKING:` too (a cycle
hidden in a function body or in a type is still a cycle in the design).

Fails (exit 1) when domain packages form a cycle, or when anything but `api.main` imports a route module
(a router never imports another router: what two of them share belongs in a module below both).
`--fold-routes` folds routers into their packages (strict package graph, for information).

    .venv/bin/python scripts/import_layers.py [--edges] [--fold-routes] [--root DIR]
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Nodes above everything: they wire every domain together and may (`api.main` mounts the routers,
# `api.models` lists every model for Alembic, `api.__main__` is the CLI, `api.demo` seeds demo data of
# every domain, the migrations load the models). They stay in the printed edges, out of the cycle check.
ENTRY_POINTS = frozenset({"api", "api.main", "api.models", "api.__main__", "api.demo", "api.migrations"})
# The one module that may import routers: it mounts them.
MOUNTS_ROUTERS = "api.main"
ROUTES = ":routes"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(module: str) -> str:
    """`api.records.service` → `api.records`; `api.deps` → `api.deps`; `api` → `api`."""
    return ".".join(module.split(".")[:2])


def is_route(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return package_of(module) == "api.studio" or last == "router" or last.endswith("_pages")


def node_of(module: str, fold_routes: bool = False) -> str:
    package = package_of(module)
    return package + ROUTES if is_route(module) and not fold_routes and module != package else package


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> Iterable[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target
            # `from api.records import service` imports the module api.records.service
            for alias in node.names:
                yield f"{target}.{alias.name}"


def module_imports(root: Path) -> dict[str, set[str]]:
    """Every module of `api/` (migrations' versions left out) → the `api` modules it imports."""
    files = [p for p in (root / "api").rglob("*.py") if "versions" not in p.relative_to(root).parts]
    paths = {module_name(p, root): p for p in files}
    imports: dict[str, set[str]] = {}
    for module, path in sorted(paths.items()):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        imports[module] = {t for t in imported_modules(tree, module, path.name == "__init__.py")
                           if t in paths and t != module}
    return imports


def build_graph(imports: dict[str, set[str]], fold_routes: bool = False) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {node_of(m, fold_routes): set() for m in imports}
    for module, targets in imports.items():
        source = node_of(module, fold_routes)
        graph[source].update(node_of(t, fold_routes) for t in targets)
        graph[source].discard(source)
    return graph


def route_imports(imports: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, route module) for every route module imported by anything but the app factory, the
    route modules of the importer's own package left aside (a package's pages share their helpers)."""
    return sorted((m, t) for m, targets in imports.items() for t in targets
                  if is_route(t) and m != MOUNTS_ROUTERS and package_of(t) != package_of(m))


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; returns only the components with more than one node (the cycles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found, key=lambda c: (-len(c), c))


def without_entry_points(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {src: {d for d in dsts if d not in ENTRY_POINTS} for src, dsts in graph.items() if src not in ENTRY_POINTS}


def short(node: str) -> str:
    return node.removeprefix("api.") if node != "api" else node


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--edges", action="store_true", help="print every edge")
    parser.add_argument("--fold-routes", action="store_true", help="count routers as part of their package")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)

    imports = module_imports(args.root)
    graph = build_graph(imports, args.fold_routes)
    checked = without_entry_points(graph)
    cycles = strongly_connected(checked)
    wrong_imports = route_imports(imports)

    if args.edges:
        print("edges (node → nodes it imports):")
        for src in sorted(graph):
            print(f"  {short(src):<18} → {', '.join(short(d) for d in sorted(graph[src])) or '-'}")
    print(f"{len(checked)} nodes, {sum(len(d) for d in checked.values())} edges among them (entry points left "
          f"out: {', '.join(sorted(short(e) for e in ENTRY_POINTS))})")
    for component in cycles:
        members = set(component)
        print(f"cycle of {len(component)}: {' '.join(short(c) for c in component)}")
        for src in component:
            for dst in sorted(checked[src] & members):
                via = sorted(f"{m.removeprefix('api.')} → {t.removeprefix('api.')}" for m in imports
                             if node_of(m, args.fold_routes) == src for t in imports[m]
                             if node_of(t, args.fold_routes) == dst)
                print(f"    {short(src)} → {short(dst)}  ({'; '.join(via)})")
    if not cycles:
        print("no cycles")
    for src, dst in wrong_imports:
        print(f"route module imported outside {MOUNTS_ROUTERS}: {src} → {dst}")
    return 1 if cycles or wrong_imports else 0


if __name__ == "__main__":
    sys.exit(main())
