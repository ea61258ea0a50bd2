"""The package's import structure: one way down, no cycles, every ``superconv`` import at module top.

Read from the source with ``ast`` (nothing is imported), so a cycle that a function-level import
hides today is still found. Each import is resolved to the ``superconv`` module it loads
(``from . import x`` to the submodule ``x`` where there is one, else to the package).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "superconv"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: Third-party modules a function may import lazily: optional dependencies (the book's extras,
#: Slurm, the notebook front end, image files) that the package must not need in order to import.
LAZY_THIRD_PARTY = {
    "pandas",     # tables, only for notebooks
    "seaborn",    # the book's figure theme
    "matplotlib", # Schedule.plot: figures are the book's extra, not a core dependency
    "IPython",    # display and glue, only inside a notebook
    "myst_nb",    # glue, only inside a book build
    "papermill",  # executing notebooks (the book's extra), not needed to import the CLI
    "submitit",   # Slurm sweeps only
    "PIL",        # image files: synthetic ImageNet folders and JPEG decoding
    "tqdm",       # progress bars: tqdm.auto warns on import in a kernel without ipywidgets
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_main_guard(node: ast.AST) -> bool:
    """``if __name__ == "__main__":`` -- runs only when the file is the script (module ``__main__``)."""
    t = getattr(node, "test", None)
    return (isinstance(node, ast.If) and isinstance(t, ast.Compare) and isinstance(t.left, ast.Name)
            and t.left.id == "__name__" and len(t.comparators) == 1
            and isinstance(t.comparators[0], ast.Constant) and t.comparators[0].value == "__main__")


def imports(path: Path, name: str, known: set[str]) -> list[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` for every import in ``path``.

    Imports under a ``__main__`` guard are left out: they run in the script, not in the module."""
    out: list[tuple[str, int, bool]] = []
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, in_function: bool) -> None:
        if _is_main_guard(node):
            return
        if isinstance(node, ast.Import):
            out.extend((alias.name, node.lineno, in_function) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.append((sub if sub in known else target, node.lineno, in_function))
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(path.read_text(), str(path)), False)
    return out


def _own(target: str, known: set[str]) -> str | None:
    """The longest known ``superconv`` module that ``target`` names (None: not ours)."""
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in known:
            return ".".join(parts[:i])
    return None


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for target, _, _ in imports(path, m, known):
            own = _own(target, known)
            if own is not None and own != m:
                edges[m].add(own)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return [_cycle_in(set(c), edges) for c in components]


def _cycle_in(component: set[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first), ending where it starts."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges[v] & component):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle in component {sorted(component)}")


def test_the_import_resolver_sees_relative_and_package_imports(tmp_path):
    known = {"superconv", "superconv.a", "superconv.studies", "superconv.studies.b"}
    src = tmp_path / "b.py"
    src.write_text("from .. import a, __version__\nfrom . import b\nfrom ..a import f\nimport superconv.a.x\n"
                   "def g():\n    from superconv import a\n"
                   "if __name__ == '__main__':\n    from superconv.studies.b import main\n")
    got = imports(src, "superconv.studies.b", known)
    assert got == [("superconv.a", 1, False), ("superconv", 1, False), ("superconv.studies.b", 2, False),
                   ("superconv.a", 3, False), ("superconv.a.x", 4, False), ("superconv.a", 6, True)]
    assert _own("superconv.a.x", known) == "superconv.a" and _own("numpy", known) is None
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_superconv_modules():
    found = cycles(graph())
    for c in found:
        print("import cycle: " + " -> ".join(c))
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_superconv_modules_are_imported_at_module_top():
    mods = modules()
    known = set(mods)
    lazy = [f"{mods[m].relative_to(ROOT.parent)}:{line} imports {target}"
            for m in mods for target, line, in_function in imports(mods[m], m, known)
            if in_function and _own(target, known) is not None]
    for line in lazy:
        print("function-level import: " + line)
    assert not lazy, "function-level imports of superconv modules:\n" + "\n".join(lazy)


def test_only_optional_third_party_modules_are_imported_lazily():
    mods = modules()
    known = set(mods)
    lazy = [f"{mods[m].relative_to(ROOT.parent)}:{line} imports {target}"
            for m in mods for target, line, in_function in imports(mods[m], m, known)
            if in_function and _own(target, known) is None and target.split(".")[0] not in LAZY_THIRD_PARTY]
    for line in lazy:
        print("function-level import: " + line)
    assert not lazy, ("function-level imports of modules that belong at the top (or in LAZY_THIRD_PARTY, "
                      "with the reason):\n" + "\n".join(lazy))


def test_package_docstring_lists_every_module():
    """``superconv/__init__.py``'s docstring is the map of the package: every module is on it."""
    doc = ast.get_docstring(ast.parse((ROOT / "__init__.py").read_text()))
    names = {m.split(".")[-1] for m in modules() if m.count(".") == 1} - {"__main__", "studies"}
    names |= {"studies/", "facts/*.toml"}  # the subpackage and the data folder
    missing = sorted(n for n in names if f"``{n}``" not in doc)
    assert not missing, f"superconv/__init__.py's docstring does not name: {', '.join(missing)}"


#: The package's layers, bottom first (README's table, top first). A module imports only modules of
#: its own layer or below; within a layer, the cycle test above keeps the order one way.
LAYERS = (
    ("helpers", {"superconv", "_checks", "_io", "_pages", "fingerprint"}),
    ("facts", {"paper", "fact_sheet", "conventions", "paper_setup"}),
    ("data, nets and the method", {"data", "imagefolder", "models", "fillers", "caffe_resnet", "cifar10_full", "ghost_bn", "schedules",
                                   "optim", "hessian", "devices", "distributed", "history", "speedup", "potential",
                                   "bounds"}),
    ("training", {"evaluation", "fit_config", "checkpoint", "callbacks", "train", "range_test", "range_loop", "auto_one_cycle"}),
    ("the store", {"results"}),
    ("experiments", {"experiments", "launch"}),
    ("chapter tools", {"verdicts", "chapter", "plots"}),
    ("chapters", {"studies"}),
    ("scorecard", {"scorecard", "glance"}),
    ("command line", {"cli", "sweep", "__main__"}),
)


def layer(module: str) -> int:
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else parts[0]
    for i, (_, names) in enumerate(LAYERS):
        if name in names:
            return i
    raise AssertionError(f"{module} is in no layer of LAYERS: add it where it belongs")


def test_imports_run_down_the_layers():
    upward = [f"{m} ({LAYERS[layer(m)][0]}) imports {t} ({LAYERS[layer(t)][0]})"
              for m, targets in graph().items() for t in targets if layer(t) > layer(m)]
    assert not upward, "imports up the layers:\n" + "\n".join(upward)
