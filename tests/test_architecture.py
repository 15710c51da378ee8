"""The package's layering (docs/architecture.md): no import circles, and no module imports from a
higher layer. Every import counts, including those inside functions."""

import ast
from pathlib import Path

import pytest

from unibridge.errors import ConfigError

PACKAGE = Path(__file__).resolve().parents[1] / "unibridge"

# lowest first; a module may import from its own group and from lower layers only
LAYERS = [
    ["errors"],
    ["data", "plotting", "registry", "heads", "plugins"],
    ["config", "artifacts", "backbones"],
    ["vocab", "hub"],
    ["embeddings", "adaptation"],
    ["tasks", "testing"],
    ["inference"],
    ["pipeline", "recipes"],
    ["transfer", ""],  # "" is the package itself (unibridge/__init__.py)
    ["cli"],
]
RANK = {group: i for i, groups in enumerate(LAYERS) for group in groups}


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return mods


def _imports(name: str, path: Path, mods: dict) -> set[str]:
    """Modules of the package that ``name`` imports, anywhere in its file."""
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else (node.module or "")
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in mods else base)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m in mods and m != name}


def _group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, mods) for name, path in mods.items()}


def test_every_module_has_a_layer():
    missing = sorted({_group(m) for m in _graph()} - set(RANK))
    assert not missing, f"add {missing} to LAYERS here and to docs/architecture.md"


def test_no_module_imports_from_a_higher_layer():
    upward = [f"{a} -> {b}" for a, bs in _graph().items() for b in bs
              if _group(a) != _group(b) and RANK[_group(b)] >= RANK[_group(a)]]
    assert not upward, "imports against the layer order:\n" + "\n".join(sorted(upward))


def test_no_import_circles():
    graph = _graph()
    index, low, stack, on, circles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not circles, f"import circles: {circles}"


def test_the_checker_sees_a_circle_and_an_upward_import(tmp_path):
    """The checks above could fail: a constructed package with a circle and an upward import."""
    pkg = tmp_path / "unibridge"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("from .data import readers\n")  # errors (layer 0) -> data (1)
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "data" / "readers.py").write_text("def f():\n    from .root import g\n")
    (pkg / "data" / "root.py").write_text("from . import readers\n")
    real = globals()["PACKAGE"]
    globals()["PACKAGE"] = pkg
    try:
        graph = _graph()
        assert graph["unibridge.errors"] == {"unibridge.data.readers"}
        assert graph["unibridge.data.readers"] == {"unibridge.data.root"}
        assert graph["unibridge.data.root"] == {"unibridge.data.readers"}
        with pytest.raises(AssertionError, match="errors -> unibridge.data.readers"):
            test_no_module_imports_from_a_higher_layer()
        with pytest.raises(AssertionError, match="import circles"):
            test_no_import_circles()
    finally:
        globals()["PACKAGE"] = real


def test_every_extension_point_is_one_registry_with_its_own_name_rules():
    """Tasks, weight strategies and embedding initializers share :class:`Registry`; the rules differ
    only by settings (pattern, replace, sorted listing), and a copy isolates toy registrations."""
    from unibridge.embeddings.registry import INITIALIZERS
    from unibridge.inference.strategies import STRATEGIES
    from unibridge.registry import TASKS, Registry

    assert all(isinstance(r, Registry) for r in (TASKS, STRATEGIES, INITIALIZERS))
    assert TASKS.names()[:3] == ("pos", "ner", "nli")  # registration order
    assert list(INITIALIZERS.names()) == sorted(INITIALIZERS.names()) and "script+posn" in INITIALIZERS
    assert "harmony-untuned" in STRATEGIES
    with pytest.raises(ConfigError, match="unknown embedding initializer 'w2v'; known embedding initializers: align, focus, fvt"):
        INITIALIZERS.get("w2v")

    r = Registry("colour", pattern=r"[a-z]+(-[a-z]+)*", replace=True, sort_names=True)
    r.register("red", 1), r.register("dark-blue", 2), r.register("red", 3)  # replaced, not refused
    assert r.items() == [("dark-blue", 2), ("red", 3)] and r.find("green") is None
    for bad in ("Red", "red:x", "", "-red", 7):
        with pytest.raises(ValueError, match="invalid colour name"):
            r.register(bad, 0)
    c = r.copy()
    c.register("green", 4)
    assert "green" in c and "green" not in r and c.names() == ("dark-blue", "green", "red")
    strict = Registry("task")
    strict.register("pos", 1)
    with pytest.raises(ValueError, match="task 'pos' is already registered"):
        strict.register("pos", 2)
