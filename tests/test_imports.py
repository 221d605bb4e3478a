"""The package's structure: no import circle between ganlab's modules, layers that import only downward, one
error family, and the command line imported by nothing below it."""
import ast
import subprocess
import sys
from pathlib import Path

import ganlab

ROOT = Path(ganlab.__file__).parent

# the layers, bottom first: a module may import from its own layer's unit and from the units of lower layers
LAYERS = [
    {"errors", "models", "precision"},
    {"config", "files", "plots"},
    {"data", "methods"},
    {"eval"},
    {"experiment"},
    {"runs"},
    {"train", "explore", "report", "__init__"},
    {"sweep"},
    {"cli"},
    {"__main__"},
]
LAYER_OF = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted(ROOT.rglob("*.py")):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def imports(path: Path, name: str, top_level_only: bool) -> set[str]:
    """The ganlab modules ``path`` imports (relative imports resolved); only those run at import time when
    ``top_level_only`` (imports inside functions run later and cannot make a circle at import time)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)) and not (top_level_only and in_function):
                nodes.append(child)
            visit(child, inner)

    visit(tree, False)
    found = set()
    known = modules()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ganlab")}
            continue
        base = node.module or ""
        if node.level:
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
        if not base.startswith("ganlab"):
            continue
        for a in node.names:  # `from ganlab.x import y` imports module ganlab.x.y when y is one
            found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return {m for m in found if m in known and m != name}


def unit(name: str) -> str:
    parts = name.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def test_no_import_circle_between_modules():
    graph = {name: imports(path, name, top_level_only=True) for name, path in modules().items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(n):
        state[n] = 1
        stack.append(n)
        for m in graph[n]:
            if state.get(m) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(m):] + [m]))
            if m not in state:
                walk(m)
        stack.pop()
        state[n] = 2

    for n in graph:
        if n not in state:
            walk(n)


def test_layers_import_only_downward():
    """Every import, also one inside a function, goes to the same unit or to a lower layer."""
    bad = []
    for name, path in modules().items():
        assert unit(name) in LAYER_OF, f"{name}: add its unit to LAYERS"
        for m in imports(path, name, top_level_only=False):
            if unit(m) != unit(name) and LAYER_OF[unit(m)] > LAYER_OF[unit(name)]:
                bad.append(f"{name} imports {m}")
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


def test_every_module_imports_in_a_fresh_interpreter():
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    names = [n for n in modules() if not n.endswith("__main__")]
    r = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
