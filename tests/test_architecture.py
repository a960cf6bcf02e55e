"""The layout holds: no import circle among the platform's modules, hidden in a function or not
(an import inside a function that dodges a circle still is one)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hone", "jobs", "api", "console")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module → the platform modules it imports anywhere in its body."""
    paths = {
        _module(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts
    }
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package up level - 1
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            graph[module] |= {name for name in names if name in paths and name != module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph.get(module, ())):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while (top := stack.pop()) != module:
                group.append(top)
            if group:
                found.append(sorted([module, *group]))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_finder_sees_a_circle_hidden_in_a_function():
    graph = {"a.x": {"a.y"}, "a.y": {"a.x"}, "a.z": {"a.x"}}
    assert circles(graph) == [["a.x", "a.y"]]


def test_no_import_circles_in_the_platform():
    assert circles(import_graph()) == []


def _kind_comparisons(function: ast.FunctionDef) -> list[str]:
    """``Job.Kind.X`` anywhere in the function, and a ``.kind`` compared with a name or names."""
    found = []
    for node in ast.walk(function):
        if isinstance(node, ast.Attribute) and ast.unparse(node.value) == "Job.Kind":
            found.append(ast.unparse(node))
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            literal = any(isinstance(side, ast.Constant | ast.Tuple | ast.List | ast.Set) for side in sides)
            if literal and any(isinstance(side, ast.Attribute) and side.attr == "kind" for side in sides):
                found.append(ast.unparse(node))
    return found


def test_the_launch_path_compares_no_kinds():
    """launch() reads a kind's traits (jobs.launch.kinds) instead of asking which kind it is."""
    tree = ast.parse((ROOT / "jobs" / "launch" / "__init__.py").read_text(encoding="utf-8"))
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    seen = ast.parse("def f(job):\n    return job.kind == Job.Kind.SWEEP or job.kind in ('merge', 'curate')")
    assert len(_kind_comparisons(seen.body[0])) == 2
    for name in ("launch", "_enter_first_status", "_primary_model"):
        assert _kind_comparisons(functions[name]) == [], name
    tree = ast.parse((ROOT / "jobs" / "launch" / "kinds.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            assert _kind_comparisons(node) == [], node.name


def test_every_job_kind_has_one_entry_in_each_registry():
    """A kind is a Job.Kind, its traits, its spec builder and the trainer's spec model and runner."""
    from django.template.loader import get_template
    from django.utils.module_loading import import_string

    from jobs.launch.kinds import KINDS, KindTraits
    from jobs.lifecycle.specs import BUILDERS
    from jobs.models import Job
    from trainers.spec import JOB_KINDS

    kinds = set(Job.Kind.values)
    assert set(KINDS) == kinds
    assert set(BUILDERS) == kinds
    assert set(JOB_KINDS) == kinds
    for kind, traits in KINDS.items():
        assert isinstance(traits, KindTraits)
        assert traits.label and traits.inputs, kind
        serializer = import_string(traits.api_serializer)
        assert hasattr(serializer, "launch"), kind
        assert bool(traits.result) == bool(traits.result_context), kind
        if traits.result:
            get_template(traits.result)
            assert callable(import_string(traits.result_context)), kind
