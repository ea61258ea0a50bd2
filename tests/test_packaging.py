"""The package as a normal install gets it (``pip install git+...``, as every chapter's Colab cell
runs, builds this wheel): every module and data file of the tree, importable from the install."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "superconv"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]

# Run in a fresh ``python -I`` (no PYTHONPATH, user site or cwd on sys.path), with only the
# install's folder in front of the environment's site-packages. The editable install's finder
# is dropped: it would serve a module the wheel lacks from the checkout.
CHILD = r"""
import importlib, json, pkgutil, sys
target, load_facts = sys.argv[1], sys.argv[2] == "1"
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path.insert(0, target)
import superconv
def fail(name):
    raise ImportError(f"cannot import {name}")
modules = {"superconv": superconv.__file__}
for info in pkgutil.walk_packages(superconv.__path__, "superconv.", onerror=fail):
    modules[info.name] = importlib.import_module(info.name).__file__
facts = len(importlib.import_module("superconv.paper").facts()) if load_facts else None
print(json.dumps({"modules": modules, "facts": facts}))
"""


def _tree() -> tuple[set, set]:
    """The package's Python files and facts data files, as paths relative to the repository."""
    py = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    toml = {p.relative_to(ROOT).as_posix() for p in PACKAGE.glob("facts/*.toml")}
    return py, toml


def _module(path: str) -> str:
    parts = path[:-len(".py")].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_wheel_holds_and_installs_the_whole_package(tmp_path):
    src = tmp_path / "src"  # a copy, so the build's own build/ and egg-info stay out of the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(PACKAGE, src / "superconv", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    subprocess.run(PIP + ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), str(src)],
                   check=True, timeout=300)
    [wheel] = wheels.glob("superconv-*.whl")

    py, toml = _tree()
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [line for line in zf.read(metadata).decode().splitlines() if line.startswith("Requires-Dist: tomli")]
    assert not (py | toml) - names, f"missing from the wheel: {sorted((py | toml) - names)}"
    assert requires and 'python_version < "3.11"' in requires[0], requires  # tomllib is stdlib from 3.11

    subprocess.run(PIP + ["install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
                   check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run([sys.executable, "-I", "-c", CHILD, str(target), "1" if toml else "0"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.splitlines()[-1])
    assert set(got["modules"]) == {_module(p) for p in py}
    outside = {name: f for name, f in got["modules"].items() if not Path(f).is_relative_to(target)}
    assert not outside, f"imported from outside the install: {outside}"
    if toml:
        assert got["facts"] > 0, "the installed package loads no facts"
