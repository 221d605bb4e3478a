"""The package's structure: no import circle between ganlab's modules, layers that import only downward, one
error family, and the command line imported by nothing below it."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

import ganlab

ROOT = Path(ganlab.__file__).parent

# the layers, bottom first, as docs/architecture.md's "Map, from the bottom up" lists them: a module imports from
# its own unit and from the units of lower layers; units that share a layer do not import each other, except
# those in SAME_LAYER_USES. Units the map does not list: the facade ganlab/__init__.py (loads runs/ and eval/
# lazily) and __main__.py (calls cli).
LAYERS = [
    {"errors", "models"},
    {"devices"},
    {"config", "files", "plots", "precision"},
    {"data", "methods"},
    {"eval"},
    {"experiment"},
    {"runs"},
    {"train"},
    {"explore", "report", "sweep", "__init__"},
    {"cli"},
    {"__main__"},
]
LAYER_OF = {unit: i for i, units in enumerate(LAYERS) for unit in units}
SAME_LAYER_USES = {("sweep", "report")}  # "the one exception is sweep.py, which uses report/"


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted(ROOT.rglob("*.py")):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def imports(path: Path, name: str, known) -> set[str]:
    """The modules of ``known`` (names such as ``ganlab.explore.live``) that module ``name`` at ``path`` imports:
    every import statement, at module level or inside a function or class, with relative imports resolved and
    ``from ganlab.x import y`` counted as module ``ganlab.x.y`` where y is one."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for a in node.names:
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return {m for m in found if m in known and m != name}


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    return {name: imports(path, name, mods) for name, path in mods.items()}


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (module -> modules it imports) as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done (no circle through it)
    for root in sorted(graph):
        if root in state:
            continue
        path, todo = [root], [iter(sorted(graph.get(root, ())))]
        state[root] = 1
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                todo.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                todo.append(iter(sorted(graph.get(nxt, ()))))
    return None


def unit(name: str) -> str:
    parts = name.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def test_the_circle_check_finds_a_circle_and_passes_a_tree():
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"a"}}) == ["a", "a"]
    assert find_circle({"a": {"b", "c"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) is None


def test_imports_inside_functions_count_and_resolve(tmp_path):
    """An import made inside a function is an edge like any other: the edit -> live -> edit circle that the
    explore commands once had, built from two small files, is found."""
    pkg = tmp_path / "ganlab" / "explore"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "common.py").write_text("X = 1\n")
    (pkg / "edit.py").write_text("from . import common\n\n\ndef save():\n    from ganlab.explore.live import X\n")
    (pkg / "live.py").write_text("class Explorer:\n    def find(self):\n        from ganlab.explore import edit\n")
    mods = {"ganlab.explore": pkg / "__init__.py",
            **{f"ganlab.explore.{m}": pkg / f"{m}.py" for m in ("common", "edit", "live")}}
    graph = import_graph(mods)
    assert graph["ganlab.explore.edit"] == {"ganlab.explore.common", "ganlab.explore.live"}
    assert graph["ganlab.explore.live"] == {"ganlab.explore.edit"}
    assert find_circle(graph) == ["ganlab.explore.edit", "ganlab.explore.live", "ganlab.explore.edit"]


def test_no_import_circle_between_modules():
    """No circle among ganlab's modules, counting the imports made inside functions too (they run later than
    import time, but a circle through them still ties the modules into one knot)."""
    circle = find_circle(import_graph(modules()))
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_layers_import_only_downward():
    """Every import, also one inside a function, goes to the same unit or to a lower layer (sweep -> report
    being the one use within a layer)."""
    bad = []
    mods = modules()
    for name, path in mods.items():
        assert unit(name) in LAYER_OF, f"{name}: add its unit to LAYERS (and to docs/architecture.md's map)"
        for m in imports(path, name, mods):
            a, b = unit(name), unit(m)
            if a == b:
                continue
            if LAYER_OF[b] > LAYER_OF[a]:
                bad.append(f"{name} imports {m}, a layer above it")
            elif LAYER_OF[b] == LAYER_OF[a] and (a, b) not in SAME_LAYER_USES:
                bad.append(f"{name} imports {m}, in the same layer")
    assert not bad, bad


def test_one_error_family_defined_at_the_bottom():
    """No exception class is defined outside ganlab/errors.py."""
    defined = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception", "Missing"))
                    for b in node.bases):
                defined.append(f"{name}.{node.name}")
    assert all(d.startswith("ganlab.errors.") for d in defined), defined


@pytest.mark.slow
def test_every_module_imports_in_a_fresh_interpreter():
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    names = [n for n in modules() if not n.endswith("__main__")]
    r = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
