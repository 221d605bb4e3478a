"""No module outside ganlab/methods/ names a method or probes a method's attributes: callers ask what a method
declares (``capabilities``, ``latent_prior``, ``image_features``...) instead of comparing names or calling hasattr.

The check walks the syntax of every module: a string that is a method's name may appear in messages and
docstrings, but not in a comparison (``cfg.method == "vae"``, ``name in ("gan", "cgan")``) or a collection
literal or dict keys (a table of method names); and ``hasattr``/``getattr`` with a constant name of a Method's attribute is a
probe."""
from __future__ import annotations

import ast
from pathlib import Path

import ganlab
from ganlab.methods import METHODS, Method

PACKAGE = Path(ganlab.__file__).parent


def method_attributes() -> set[str]:
    """Names of the methods and properties that Method classes define (what a probe would ask about)."""
    names = set()
    for cls in {*METHODS.values(), Method}:
        for klass in cls.__mro__:
            if klass.__module__.startswith("ganlab.methods"):
                names |= {k for k in vars(klass) if not k.startswith("__")}
    return names


def findings(tree: ast.AST, method_names: set[str], attributes: set[str]) -> list[tuple[int, str]]:
    """(line, what) for each comparison or collection literal holding a method name, and each hasattr/getattr
    probe of a method attribute, in ``tree``."""
    def is_name(node) -> bool:
        return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in method_names

    def listed(node) -> bool:
        items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else \
            node.keys if isinstance(node, ast.Dict) else []
        return any(is_name(i) for i in items)

    def holds_name(node) -> bool:
        return is_name(node) or listed(node)

    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(holds_name(n) for n in (node.left, *node.comparators)):
            out.append((node.lineno, "a method name compared"))
        elif listed(node):
            out.append((node.lineno, "a table of method names"))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("hasattr", "getattr")
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and node.args[1].value in attributes):
            out.append((node.lineno, f"{node.func.id}(..., {node.args[1].value!r}) probes a method"))
    return sorted(set(out))


def test_the_check_finds_what_it_looks_for():
    code = ('if cfg.method == "vae": pass\n'
            'FEATURES = ("gan", "cgan")\n'
            'ok = hasattr(m, "run_G")\n'
            'fine = "train with method vae or bigan"\n'
            'also_fine = hasattr(m, "something_else")\n'
            'dist = {"vae": "normal"}\n'
            'ok = "gan" + "s"\n')
    found = findings(ast.parse(code), {"vae", "gan", "cgan", "bigan"}, {"run_G"})
    assert [line for line, _ in found] == [1, 2, 3, 6]


def test_no_method_is_named_outside_its_module():
    names, attributes = set(METHODS), method_attributes()
    assert {"gan", "vae", "cgan"} <= names and {"run_G", "condition_specs", "networks"} <= attributes
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "methods":
            continue
        for line, what in findings(ast.parse(path.read_text(), str(path)), names, attributes):
            bad.append(f"ganlab/{rel}:{line}: {what}")
    assert not bad, "ask the method what it declares instead:\n" + "\n".join(bad)
