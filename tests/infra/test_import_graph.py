"""No import cycles inside any of the packages, and the plugin's folders import only downwards.

The graph is built from the source with ``ast``: every ``import`` of a module of the same package, at any
depth of the module: a function-level import, or one under ``if TYPE_CHECKING:``, is still a dependency
(two modules that need each other's names are one concept split in two, whatever hides the cycle at run time).
A package's ``__init__`` is a module like any other: a child that imports its own package's ``__init__``,
which imports the child back, is a cycle.

The folder rules are the map at the top of ``docs/DESIGN.md``: ``FOLDER_RULES`` says which folders each
folder of ``pytest_execserver`` may import; anything else fails with the offending imports named.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "pytest_execserver": ROOT / "pytest_execserver",
    "execserver_ref": ROOT / "server" / "execserver_ref",
    "execserver_relay": ROOT / "server" / "execserver_relay",
    "pytoxiproxy": ROOT / "toxiproxy" / "pytoxiproxy",
}


def _module_name(package: str, root: Path, path: Path) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Absolute names this module imports (``from x import y`` gives both ``x`` and ``x.y``)."""
    found: set[str] = set()
    base = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                target = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(package: str, root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (a package's ``__init__`` included)."""
    modules = {_module_name(package, root, p): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        targets = _imports(tree, name, path.name == "__init__.py")
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def test_find_cycle_reports_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_has_no_import_cycle(package: str) -> None:
    cycle = find_cycle(import_graph(package, PACKAGES[package]))
    assert cycle is None, f"import cycle in {package}: {' -> '.join(cycle or [])}"


# Which folders of pytest_execserver each folder may import (docs/DESIGN.md, "Map"). Listed bottom-up: a
# folder imports only folders listed before it. Top-level modules are named "<name>".
FOLDER_RULES: dict[str, set[str]] = {
    "examples": set(),  # shipped examples import only public libraries: they show what a user writes
    "<waiting>": set(),
    "checks": set(),
    "telemetry": {"checks"},
    "client": {"checks", "telemetry", "<waiting>"},
    "servers": {"telemetry"},
    # the load engine and resource sampler: our client and the stdlib only; its CLI (load/__main__.py) starts
    # servers too
    "load": {"client", "servers"},
    "faults": {"checks", "servers", "client"},
    "report": {"checks", "telemetry"},
    "glue": {"checks", "telemetry", "client", "servers", "faults", "report", "load"},
    "subjects": {"checks", "telemetry", "client", "servers", "faults", "report", "load", "glue"},
    "shrink": {"checks", "telemetry", "client", "servers", "faults", "report", "load", "glue"},
    "<decorators>": {"faults", "glue"},
    "suites": {
        *("checks", "telemetry", "client", "servers", "faults", "report", "load", "glue", "subjects", "shrink"),
        "<waiting>",
    },
    "cli": {"servers", "faults"},
    "<__main__>": {"servers", "faults", "glue", "report", "suites", "cli"},
    "<plugin>": {"checks", "telemetry", "client", "servers", "faults", "report", "load", "glue", "subjects", "shrink",
                 "suites"},  # the shipped suites' options are registered by the entry (a --pyargs conftest is too late)
    "<__init__>": {"<decorators>", "faults"},
}
# Imports under ``if TYPE_CHECKING:`` of the project's own modules, counted: each is an import the module
# avoids at run time (to keep the autoloaded entry light); a new one must be a choice, not a cycle in hiding.
# (17: plugin.py annotates exec_load with glue.load_run.LoadRunner, issue 23)
TYPE_CHECKING_BUDGET = {"pytest_execserver": 17, "execserver_ref": 0, "execserver_relay": 0, "pytoxiproxy": 1}
PLUGIN_FOLDERS = {
    p.name for p in PACKAGES["pytest_execserver"].iterdir() if p.is_dir() and (p / "__init__.py").exists()
}


def _folder(module: str) -> str:
    """The folder a module of pytest_execserver lives in, or ``<name>`` for a top-level module."""
    parts = module.split(".")
    if len(parts) == 1:
        return "<__init__>"
    return parts[1] if parts[1] in PLUGIN_FOLDERS else f"<{parts[1]}>"


def folder_violations(graph: dict[str, set[str]], rules: dict[str, set[str]]) -> list[str]:
    """Each import that crosses from one folder to another the rules do not allow, as ``a -> b``."""
    found = []
    for module, targets in sorted(graph.items()):
        here = _folder(module)
        for target in sorted(targets):
            there = _folder(target)
            if there != here and there not in rules.get(here, set()):
                found.append(f"{module} -> {target} ({here} may not import {there})")
    return found


def test_folder_rules_are_a_layering() -> None:
    """Each folder's allowed imports are listed before it, so the rules themselves admit no folder cycle."""
    order = list(FOLDER_RULES)
    for folder, allowed in FOLDER_RULES.items():
        assert all(order.index(a) < order.index(folder) for a in allowed), folder


def test_folder_violations_names_the_offending_import() -> None:
    graph = {"pytest_execserver.checks.history": {"pytest_execserver.glue.runstate"}}
    assert folder_violations(graph, FOLDER_RULES) == [
        "pytest_execserver.checks.history -> pytest_execserver.glue.runstate (checks may not import glue)"
    ]


def test_every_plugin_folder_has_a_rule() -> None:
    tops = {f"<{p.stem}>" for p in PACKAGES["pytest_execserver"].glob("*.py")}
    assert PLUGIN_FOLDERS | tops <= set(FOLDER_RULES), sorted((PLUGIN_FOLDERS | tops) - set(FOLDER_RULES))


def test_plugin_folders_import_only_downwards() -> None:
    violations = folder_violations(import_graph("pytest_execserver", PACKAGES["pytest_execserver"]), FOLDER_RULES)
    assert not violations, "\n".join(violations)


def test_at_most_eight_modules_at_the_plugin_top_level() -> None:
    top = sorted(p.name for p in PACKAGES["pytest_execserver"].glob("*.py"))
    assert len(top) <= 8, top


def _type_checking_imports(package: str, root: Path) -> list[str]:
    """``importer -> module`` for each of the package's own modules imported under ``if TYPE_CHECKING:``."""
    modules = {_module_name(package, root, p) for p in root.rglob("*.py")}
    found = []
    for path in sorted(root.rglob("*.py")):
        name = _module_name(package, root, path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                inner = ast.Module(body=node.body, type_ignores=[])
                own = _imports(inner, name, path.name == "__init__.py") & modules
                found += [f"{name} -> {t}" for t in sorted(own)]
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_type_checking_imports_are_counted(package: str) -> None:
    found = _type_checking_imports(package, PACKAGES[package])
    assert len(found) <= TYPE_CHECKING_BUDGET[package], "\n".join(found)
