"""The book page "Using superconv in your own code" (chapters/using_superconv.ipynb): executed at
its smoke size, every promise it prints holds (exact resume, a refused foreign state, the model
restored after the range test), and it is in the book's table of contents."""

import os
import re
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "chapters" / "using_superconv.ipynb"
FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def test_the_page_is_in_the_book_and_committed_clean():
    assert "file: chapters/using_superconv" in (ROOT / "_toc.yml").read_text()
    nb = nbformat.read(PAGE, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(not c.outputs and c.execution_count is None for c in code)
    text = "\n".join(c.source for c in nb.cells)
    for shown in ("to_scheduler", "AdamW", "param_groups", "load_state_dict", "lr_range_test(model, train_loader",
                  "auto_one_cycle(", "est.observe("):
        assert shown in text, shown


@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")
def test_the_page_runs_and_keeps_its_promises(tmp_path):
    import papermill as pm
    t0 = time.perf_counter()
    out = tmp_path / PAGE.name
    pm.execute_notebook(str(PAGE), str(out), parameters={"PROFILE": "smoke"}, cwd=str(PAGE.parent),
                        kernel_name="python3", progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stdout")
    assert "weights identical to the uninterrupted run: True" in printed
    assert "a CLR scheduler refuses the 1cycle state: state_dict was saved by another schedule" in printed
    assert "model restored: True" in printed
    assert re.search(r"step 1: conv LR (\d\.\d+), head LR (\d\.\d+)", printed)
    conv, head = map(float, re.search(r"step 1: conv LR (\d\.\d+), head LR (\d\.\d+)", printed).groups())
    assert head == pytest.approx(10 * conv, rel=5e-3)  # the groups keep their 1 : 10 ratio (4 printed decimals)
    assert re.search(r"\d+ estimates between steps \d+ and \d+", printed)
    figures = [o["data"]["text/html"] for c in nb.cells for o in c.get("outputs", [])
               if "sc-figure" in o.get("data", {}).get("text/html", "")]
    assert len(figures) == 4 and all("data:image/png;base64," in f and "<b>Figure" in f for f in figures)
    assert time.perf_counter() - t0 < 90
