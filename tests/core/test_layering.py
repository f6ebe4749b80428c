"""The apps form layers: no app imports one that imports it back, and nothing imports the console.

The graph is read from the source (every `from apps.x` / `import apps.x`, at any depth, so a lazy import
inside a function counts as a dependency too). Management commands are entry points, not layers, and
are left out; so is `apps.core`, the foundation whose whole-system drivers (the simulation) sit above
everything by design.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

APPS = Path(__file__).resolve().parents[2] / "apps"
IMPORT = re.compile(r"^\s*(?:from|import) apps\.(\w+)", re.MULTILINE)


def app_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in APPS.rglob("*.py"):
        relative = path.relative_to(APPS)
        app = relative.parts[0]
        if app == "core" or "commands" in relative.parts[:-1]:
            continue
        for imported in IMPORT.findall(path.read_text(encoding="utf-8")):
            if imported not in (app, "core"):
                graph[app].add(imported)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_app_imports_the_console():
    importers = sorted(app for app, imported in app_graph().items() if "console" in imported)
    assert importers == []


def test_the_apps_form_layers_without_cycles():
    assert cycles(app_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"shop": {"console"}, "console": {"shop"}}) == [["console", "shop", "console"]]
