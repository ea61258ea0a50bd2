"""Each chapter's Colab cell is the one generated from _config.yml, and on Colab it pip-installs
the package from the repository set there (``tools/colab_cell.py`` writes the cells)."""

import importlib.util
import json
import shutil
import subprocess
import sys
import types

import pytest
from packaging.requirements import Requirement

import colab_cell

CHAPTERS = sorted(colab_cell.CHAPTERS.glob("[0-9]*.ipynb"))
REGENERATE = "regenerate the cells with: python tools/colab_cell.py"
FIND_SPEC = importlib.util.find_spec


def _cell(path) -> str:
    return "".join(colab_cell.install_cell(json.loads(path.read_text(encoding="utf-8")), path.name)["source"])


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_the_cell_is_generated_from_config(path):
    assert _cell(path) == colab_cell.render(*colab_cell.repository()), f"{path.name}: {REGENERATE}"


def _run_cell(source: str, monkeypatch, on_colab: bool, installed: bool) -> list:
    """Execute the cell with Colab faked (or not) and superconv findable (or not); pip is recorded."""
    calls = []
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: FIND_SPEC(name, *a) if installed or name != "superconv" else None)
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append((args, kw)))
    exec(compile(source, "colab-install", "exec"), {})
    return calls


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_on_colab_the_cell_installs_the_configured_repository(path, monkeypatch):
    url, branch = colab_cell.repository()
    source = _cell(path)
    [(args, kw)] = _run_cell(source, monkeypatch, on_colab=True, installed=False)
    assert args[:5] == [sys.executable, "-m", "pip", "install", "-q"] and kw == {"check": True}
    req = Requirement(args[5])
    assert (req.name, req.url, req.extras) == ("superconv", f"git+{url}@{branch}", set())
    assert _run_cell(source, monkeypatch, on_colab=True, installed=True) == []   # a rerun: nothing
    assert _run_cell(source, monkeypatch, on_colab=False, installed=False) == []  # not Colab: nothing


def test_a_new_address_rewrites_only_that_cell_in_jupyters_layout(tmp_path):
    original = CHAPTERS[0]
    copy = tmp_path / original.name
    shutil.copy(original, copy)
    config = tmp_path / "_config.yml"
    config.write_text("repository:\n  url: https://example.org/fork/superconv\n  branch: dev\n")
    fork = colab_cell.render(*colab_cell.repository(config))
    assert colab_cell.sync(copy, fork, write=False) and copy.read_bytes() == original.read_bytes()
    assert colab_cell.sync(copy, fork, write=True)
    before, after = (json.loads(p.read_text(encoding="utf-8")) for p in (original, copy))
    changed = [i for i, (a, b) in enumerate(zip(before["cells"], after["cells"])) if a != b]
    assert len(changed) == 1 and "git+https://example.org/fork/superconv@dev" in _cell(copy)
    assert not colab_cell.sync(copy, fork, write=True)
    assert colab_cell.sync(copy, _cell(original), write=True)
    assert copy.read_bytes() == original.read_bytes()  # indent 1, UTF-8 as is, trailing newline


def test_check_mode_reports_a_stale_cell(tmp_path, monkeypatch, capsys):
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    shutil.copy(CHAPTERS[0], chapters / CHAPTERS[0].name)
    assert colab_cell.main(["--check"]) == 0
    monkeypatch.setattr(colab_cell, "CHAPTERS", chapters)
    monkeypatch.setattr(colab_cell, "repository", lambda: ("https://example.org/other", "main"))
    assert colab_cell.main(["--check"]) == 1
    assert f"differs: chapters/{CHAPTERS[0].name}" in capsys.readouterr().out
    assert (chapters / CHAPTERS[0].name).read_bytes() == CHAPTERS[0].read_bytes()
