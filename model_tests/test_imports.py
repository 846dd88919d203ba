"""The layout of impl/: no import cycle, and every import of impl/ is a plain top-level one.

Records live apart from the steps that change them (impl/node_state.py,
impl/provider_state.py, impl/session_state.py), so the step modules import the
records and the composition (impl/node.py) imports the steps, never the other
way round. A cycle hidden behind an import inside a function (as node.py once
had with raft.py and provider.py) is still a cycle: the graph here counts every
import statement wherever it stands, and a second check forbids the hiding place.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

IMPL = Path(__file__).resolve().parent.parent / "impl"


def module_name(root: Path, path: Path) -> str:
    """Return the dotted module name of ``path`` under the package directory ``root``."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> tuple[nx.DiGraph, list[tuple[str, int, str]]]:
    """Return the graph of imports between the modules of package ``root`` and the imports
    that are not at a module's top level, as ``(module, line, imported)``.

    ``from pkg import name`` counts as importing ``pkg.name`` when that is a module of
    the package, else ``pkg``. An import under ``if TYPE_CHECKING:`` is an edge too (a
    cycle there still couples the modules) and counts as top level.
    """
    modules = {module_name(root, p): p for p in sorted(root.rglob("*.py"))}
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(modules)
    nested: list[tuple[str, int, str]] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = {id(stmt) for stmt in tree.body}
        for stmt in tree.body:  # an `if TYPE_CHECKING:` block is still top level
            if isinstance(stmt, ast.If):
                top_level.update(id(s) for s in stmt.body)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [
                    f"{node.module}.{alias.name}"
                    if f"{node.module}.{alias.name}" in modules
                    else node.module
                    for alias in node.names
                ]
            for target in targets:
                if target not in modules or target == name:
                    continue
                graph.add_edge(name, target, line=node.lineno)
                if id(node) not in top_level:
                    nested.append((name, node.lineno, target))
    return graph, nested


def cycles(graph: nx.DiGraph) -> list[list[str]]:
    """Return one cycle per strongly connected component of more than one module."""
    found = []
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1:
            found.append([a for a, _ in nx.find_cycle(graph.subgraph(component))])
    return sorted(found)


def test_impl_has_no_import_cycle() -> None:
    graph, _ = import_graph(IMPL)
    assert graph.number_of_nodes() > 30  # the walk saw the package
    assert cycles(graph) == []


def test_impl_imports_only_at_top_level() -> None:
    _, nested = import_graph(IMPL)
    assert nested == []


def test_records_are_imported_by_the_steps_not_the_reverse() -> None:
    graph, _ = import_graph(IMPL)
    for records, steps in (
        ("impl.node_state", "impl.raft"),
        ("impl.provider_state", "impl.provider"),
        ("impl.session_state", "impl.session"),
    ):
        assert graph.has_edge(steps, records)
        assert not nx.has_path(graph, records, steps), (records, steps)
    assert not nx.has_path(graph, "impl.raft", "impl.node")
    assert not nx.has_path(graph, "impl.provider", "impl.node")


def write_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    package.mkdir()
    for name, text in files.items():
        (package / name).write_text(text, encoding="utf-8")
    return package


def test_cycle_check_catches_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    """The shape node.py once had: records here, steps there, a lazy import back."""
    package = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "node.py": "def poll():\n    from pkg.raft import step\n    return step\n",
            "raft.py": "from pkg.node import poll\nstep = poll\n",
            "types.py": "X = 1\n",
        },
    )
    graph, nested = import_graph(package)
    assert cycles(graph) == [["pkg.node", "pkg.raft"]]
    assert nested == [("pkg.node", 2, "pkg.raft")]


def test_cycle_check_resolves_submodules_and_ignores_outside_imports(tmp_path: Path) -> None:
    package = write_package(
        tmp_path,
        {
            "__init__.py": "from pkg import a\n",
            "a.py": "import json\nfrom pkg import b\n",
            "b.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import X\n"
            ),
        },
    )
    graph, nested = import_graph(package)
    assert set(graph.edges) == {("pkg", "pkg.a"), ("pkg.a", "pkg.b"), ("pkg.b", "pkg.a")}
    assert cycles(graph) == [["pkg.a", "pkg.b"]]
    assert nested == []


@pytest.mark.parametrize(
    "module",
    ["impl.node_state", "impl.provider_state", "impl.session_state", "impl.node", "impl.codec"],
)
def test_each_layer_imports_on_its_own(module: str) -> None:
    """Each module imports first in a fresh interpreter (no order-dependent import)."""
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
