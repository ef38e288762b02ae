"""The layout shows the architecture: no import cycles, floors import only downwards, files stay readable."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "analogist"
#: Floors, bottom first: a module may import its own floor and those below it, never one above.
#: ``eval`` is a front end (``analogist eval``, the benchmarks): it runs pairs on the batch's engines.
FLOORS = [
    {"errors", "threads", "progress", "io", "filesystem", "outputs", "data", "ops"},
    {"features", "matching", "synthesis", "training"},
    {"methods"},
    {"apps"},
    {"tasks"},
    {"cli", "web", "batch", "eval", "__init__", "__main__"},
]
MAX_LINES = 330  # "about 300": io.py and eval/runner.py sit just above


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules ``path`` imports, at any depth of the file (lazy imports count), as absolute names."""
    tree = ast.parse(path.read_text())
    package = _module(path).split(".") if path.name == "__init__.py" else _module(path).split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("analogist"):
                found.add(name)
                found.update(f"{name}.{a.name}" for a in node.names)  # "from pkg import module"
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("analogist"))
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in SRC.rglob("*.py")}
    return {m: {i for i in _imports(p) if i in files and i != m} for m, p in files.items()}


def _floor(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, names in enumerate(FLOORS) if top in names)


def test_the_module_graph_has_no_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if n in m.split(".")[0:1]:
                continue
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n) :] + [n])
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    # a package's __init__ re-exporting its own modules is not a cycle of the design
    real = [c for c in cycles if not all(x == c[0] or x.startswith(c[0] + ".") for x in c)]
    assert not real, "import cycles: " + "; ".join(" -> ".join(c) for c in real)


def test_every_top_level_package_sits_on_a_floor() -> None:
    tops = {
        p.stem if p.is_file() else p.name for p in SRC.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert tops <= set().union(*FLOORS), tops - set().union(*FLOORS)


def test_floors_import_only_downwards() -> None:
    # the root's __init__ (a version and lazy names) may be read from anywhere
    upward = [f"{m} -> {n}" for m, deps in _graph().items() for n in deps if n != "analogist" and _floor(n) > _floor(m)]
    assert not upward, "imports from a lower floor up: " + ", ".join(sorted(upward))


def test_methods_are_one_package_per_paper_with_the_same_rooms() -> None:
    papers = sorted(p.name for p in (SRC / "methods").iterdir() if (p / "__init__.py").exists())
    assert papers == ["analogy", "buddies", "coat", "nnst", "samnet"]
    for paper in papers:
        rooms = {p.stem for p in (SRC / "methods" / paper).glob("*.py")}
        assert {"__init__", "params", "core"} <= rooms, (paper, rooms)
        # params.py imports nothing from its siblings
        assert not any(
            i.startswith(f"analogist.methods.{paper}.") for i in _imports(SRC / "methods" / paper / "params.py")
        )


def test_no_source_file_is_too_long_to_read_in_one_sitting() -> None:
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long
