"""The folder tree is the architecture: top-level packages import one way only.

bot/ is the composition root, so nothing imports it; knowledge/ is pure domain rules, so it imports
no other package of ours and nothing of Telegram; infrastructure (storage, delivery, i18n,
observability, charts) never imports the Telegram glue (handlers) or time-based work (scheduler).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = sorted(
    p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name not in {"tests"}
)
INFRASTRUCTURE = {"storage", "delivery", "i18n", "observability", "charts"}


def imported_modules(package: str) -> dict[str, set[str]]:
    """Top-level names each module of `package` imports (TYPE_CHECKING blocks included)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        targets: set[str] = set()
        for names in imported_modules(package).values():
            targets |= {n for n in names if n in PACKAGES and n != package}
        graph[package] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(graph[node]):
            if cycle := visit(target):
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        if cycle := visit(node):
            return cycle
    return None


def test_no_import_cycle_between_top_level_packages() -> None:
    cycle = find_cycle(package_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_nothing_imports_the_composition_root() -> None:
    graph = package_graph()
    assert sorted(p for p, targets in graph.items() if "bot" in targets) == []


@pytest.mark.parametrize("package", sorted(INFRASTRUCTURE))
def test_infrastructure_never_imports_handlers_or_scheduler(package: str) -> None:
    assert package_graph()[package] & {"bot", "handlers", "scheduler"} == set()


def test_knowledge_is_the_bottom_and_knows_nothing_of_telegram() -> None:
    offenders = {
        module: sorted(names & ({"aiogram", "aiohttp"} | set(PACKAGES) - {"knowledge"}))
        for module, names in imported_modules("knowledge").items()
    }
    assert {m: n for m, n in offenders.items() if n} == {}
