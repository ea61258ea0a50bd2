"""The README's example runs as written (on real Fashion-MNIST)."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not os.path.exists("/usr/share/datasets/fashion-mnist"), reason="needs dataset-fashion-mnist")
def test_readme_example_runs():
    text = (ROOT / "README.md").read_text()
    code = re.search(r"<!-- readme-example -->\n```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})


def test_readme_loader_example_runs():
    """The DataLoader example needs no dataset: it runs everywhere."""
    text = (ROOT / "README.md").read_text()
    code = re.search(r"<!-- readme-example-loader -->\n```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
