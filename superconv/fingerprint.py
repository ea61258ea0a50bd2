"""The code fingerprint: a hash of the modules that compute results, part of every result's key.

A stored result is reused only if the code that computed it is the code that runs now: the
results store hashes :func:`code_fingerprint` into every key, so a change of behaviour anywhere
in :data:`COMPUTING_MODULES` makes every run and memo look for a new record (the old ones stay
on disk, unused). What is hashed is each module's syntax tree with its docstrings removed:
comments, blank lines, line breaks and docstrings do not change a fingerprint; a changed
constant, name or statement does. The tree is written out field by field, leaving out empty
fields, so that Python versions that add (empty) fields to the AST give the same fingerprint.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from pathlib import Path
from typing import Mapping

__all__ = ["COMPUTING_MODULES", "PACKAGE_DIR", "fingerprint", "read_sources", "code_fingerprint"]

#: The modules of the package whose code decides what a run or a memo computes: the training
#: loop and its parts, the process-group helpers, data, models, schedules, the optimizer, the
#: range test, the Hessian tools, the run specs and the helpers they share; and the studies that
#: train or compute themselves (their own ``fit`` calls, or ``Store.memo`` computations) rather
#: than through ``experiments.run``.
COMPUTING_MODULES = (
    "_checks", "_io", "bounds", "caffe_resnet", "callbacks", "checkpoint", "cifar10_full", "conventions", "data",
    "devices", "distributed", "evaluation", "experiments", "fillers", "fit_config", "ghost_bn", "hessian", "history",
    "imagefolder", "models", "optim", "potential", "range_loop", "range_test", "schedules", "train",
    "studies.hessian_free", "studies.imagenet", "studies.range_tests",
)

PACKAGE_DIR = Path(__file__).resolve().parent

_DOCSTRING_HOLDERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, _DOCSTRING_HOLDERS) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                node.body = node.body[1:]
    return tree


def _empty_text(node) -> bool:
    # Python 3.12.1 puts an empty Constant('') into some f-string format specs; others do not
    return isinstance(node, ast.Constant) and node.value == ""


def _plain(node):
    """The tree as nested lists: node type and its non-empty fields (positions are not fields)."""
    if isinstance(node, ast.JoinedStr):
        return ["JoinedStr", {"values": [_plain(v) for v in node.values if not _empty_text(v)]}]
    if isinstance(node, ast.AST):
        return [type(node).__name__,
                {name: _plain(value) for name, value in ast.iter_fields(node) if value is not None and value != []}]
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return repr(node)


def fingerprint(sources: Mapping[str, str]) -> str:
    """16 hex digits of sha256 over ``{module name: source text}``'s syntax trees, docstrings removed."""
    trees = {name: _plain(_strip_docstrings(ast.parse(text))) for name, text in sorted(sources.items())}
    return hashlib.sha256(json.dumps(trees, separators=(",", ":")).encode()).hexdigest()[:16]


def read_sources(names=COMPUTING_MODULES, folder: Path = PACKAGE_DIR) -> dict[str, str]:
    """``{name: text of folder/name.py}`` (a dotted name is a file in a subpackage)."""
    return {name: (Path(folder) / f"{name.replace('.', '/')}.py").read_text(encoding="utf-8") for name in names}


@functools.lru_cache(maxsize=None)
def code_fingerprint() -> str:
    """The fingerprint of this package's :data:`COMPUTING_MODULES` (computed once per process)."""
    return fingerprint(read_sources())
