"""The book's configuration builds, and an erroring notebook fails the build (not a published traceback)."""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
JB = Path(sys.executable).with_name("jupyter-book")


def _book(tmp_path: Path, code: str) -> Path:
    tmp_path.mkdir()
    for name in ("_config.yml", "references.bib"):
        shutil.copy(ROOT / name, tmp_path / name)
    # the book's own intro.md glues from chapter 11, which this one-chapter book does not have
    (tmp_path / "intro.md").write_text("# A probe book\n\nThe configuration, with one chapter.\n")
    (tmp_path / "chapters").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter"), nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, tmp_path / "chapters" / "probe.ipynb")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapters/probe\n")
    return tmp_path


def _build(book: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(JB), "build", str(book), "-W", "--keep-going"], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.skipif(not JB.exists(), reason="jupyter-book is not installed next to this Python")
def test_book_builds_and_an_erroring_notebook_fails_it(tmp_path):
    good = _build(_book(tmp_path / "good", "print(1 + 1)"))
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-3000:]
    assert (tmp_path / "good" / "_build" / "html" / "chapters" / "probe.html").exists()
    bad = _build(_book(tmp_path / "bad", "raise RuntimeError('boom')"))
    assert bad.returncode != 0
    assert "boom" in bad.stdout + bad.stderr


FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def test_whole_book_builds_at_the_smoke_profile(smoke_book):
    """What CI checks of the book: every page and chapter renders, with -W (warnings are errors)."""
    assert smoke_book.returncode == 0, smoke_book.output
    html = smoke_book.html
    assert (html / "intro.html").exists()
    for nb in (ROOT / "chapters").glob("[0-9]*.ipynb"):
        assert (html / "chapters" / f"{nb.stem}.html").exists(), nb.stem


def test_chapters_are_numbered_across_the_parts(smoke_book):
    """The text says "chapter 6" for 06_less_training_data: the rendered numbers must agree,
    although each part of _toc.yml is its own numbered toctree."""
    import re
    nav = (smoke_book.html / "intro.html").read_text()
    for nb in sorted((ROOT / "chapters").glob("[0-9]*.ipynb")):
        n = int(nb.stem.split("_")[0])
        link = re.search(rf'href="chapters/{nb.stem}\.html">\s*([0-9.]+)\s', nav)
        assert link and link.group(1).rstrip(".") == str(n), (nb.stem, link and link.group(1))
