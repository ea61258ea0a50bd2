"""The hidden cell of every chapter that installs this book's package on Google Colab.

Colab opens a chapter notebook alone, so the repository's address must be written in each
notebook. It is set in one place, ``repository: url`` and ``branch`` in ``_config.yml`` (the same
keys the book's "Open in Colab" button uses), and copied into the cell tagged ``colab-install``
of every ``chapters/*.ipynb`` by this script::

    python tools/colab_cell.py          # rewrite the cells from _config.yml
    python tools/colab_cell.py --check  # exit 1 when a cell differs (tests/test_colab.py checks it)

The package's ``pyproject.toml`` is at the repository's root, so pip needs no ``#subdirectory=``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "_config.yml"
CHAPTERS = ROOT / "chapters"
TAG = "colab-install"


def repository(config: Path = CONFIG) -> tuple[str, str]:
    """``(url, branch)`` from the book's configuration."""
    repo = yaml.safe_load(config.read_text(encoding="utf-8"))["repository"]
    return repo["url"], repo["branch"]


def requirement(url: str, branch: str) -> str:
    """What pip installs: the package from the branch the Colab button opens the chapter from."""
    return f"superconv @ git+{url}@{branch}"


def render(url: str, branch: str) -> str:
    """The cell's source. Colab ships torch, matplotlib, seaborn and pandas, so the plain package
    suffices; the ``book`` extra (jupyter-book, papermill) is for building the book, not reading it."""
    return (
        '# On Google Colab ("Open in Colab" button): install this book\'s package first. Elsewhere: nothing.\n'
        "# Written by tools/colab_cell.py from _config.yml (repository: url, branch): edit those, not this.\n"
        "import importlib.util, subprocess, sys\n"
        'if "google.colab" in sys.modules and importlib.util.find_spec("superconv") is None:\n'
        f'    subprocess.run([sys.executable, "-m", "pip", "install", "-q", {json.dumps(requirement(url, branch))}], check=True)'
    )  # json.dumps: a double-quoted literal, like the rest of the cell (and valid Python)


def install_cell(nb: dict, name: str) -> dict:
    """The one cell tagged ``colab-install`` of a notebook (as JSON)."""
    cells = [c for c in nb["cells"] if TAG in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{name}: {len(cells)} cells tagged {TAG!r}, expected exactly one")
    return cells[0]


def sync(path: Path, source: str, write: bool) -> bool:
    """Whether the notebook's cell differs from ``source``; with ``write``, make it equal.

    Only that cell changes, and the file keeps Jupyter's own layout (indent 1, UTF-8 as is)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cell = install_cell(nb, path.name)
    if "".join(cell["source"]) == source:
        return False
    if write:
        cell["source"] = source.splitlines(keepends=True)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a cell differs")
    args = parser.parse_args(argv)
    source = render(*repository())
    stale = [p.name for p in sorted(CHAPTERS.glob("*.ipynb")) if sync(p, source, write=not args.check)]
    for name in stale:
        print(f"{'differs' if args.check else 'rewrote'}: chapters/{name}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
