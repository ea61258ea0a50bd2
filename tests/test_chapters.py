"""Every chapter notebook: committed clean, parameters first, runs end to end at the smoke profile."""

import os
import re
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9]*.ipynb"))
SMOKE_BUDGET_S = 30  # per chapter, on a 2-core CPU (the budget), plus kernel start-up
FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

pytestmark = pytest.mark.skipif(not CHAPTERS, reason="no chapters yet")


def _ids(paths):
    return [p.stem for p in paths]


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_notebook_is_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "papermill needs a python3 kernelspec"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in code), "strip outputs before committing"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    assert code[0] is params[0], "the parameters cell is the first code cell"
    for line in params[0].source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert re.match(r"^[A-Z_][A-Z0-9_]* = [^#]+#\s*\S", line), f"one literal and a comment per line: {line!r}"
    names = re.findall(r"^([A-Z_][A-Z0-9_]*) =", params[0].source, re.M)
    assert {"PROFILE", "DEVICE", "SEEDS"} <= set(names)


def _glued(nb) -> dict:
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            meta = o.get("metadata", {}).get("scrapbook")
            if meta:
                data = o.get("data", {})
                out[meta["name"]] = data.get(meta.get("mime_prefix", "") + "text/plain")
    return out


@pytest.mark.skipif(not os.path.exists(FMNIST), reason="needs dataset-fashion-mnist")
@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_runs_at_smoke_profile(path, tmp_path, smoke_store):
    import papermill as pm
    out = tmp_path / path.name
    t0 = time.perf_counter()
    pm.execute_notebook(str(path), str(out), parameters={"PROFILE": "smoke"}, cwd=str(path.parent),
                        kernel_name="python3", progress_bar=False, log_output=False)
    elapsed = time.perf_counter() - t0
    nb = nbformat.read(out, as_version=4)
    glued = _glued(nb)
    assert glued, "a chapter glues its numbers into the prose"
    for name, text in glued.items():
        assert text is not None, name
        assert not re.search(r"\bnan\b|\binf\b", str(text), re.I), f"glued {name} = {text}"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert elapsed < SMOKE_BUDGET_S + 20, f"smoke run took {elapsed:.0f} s"


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_bad_profile_fails_fast_with_a_clear_message(path, tmp_path):
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError
    with pytest.raises(PapermillExecutionError) as info:
        pm.execute_notebook(str(path), str(tmp_path / path.name), parameters={"PROFILE": "huge"},
                            cwd=str(path.parent), kernel_name="python3", progress_bar=False)
    assert "PROFILE='huge'" in str(info.value) and "'smoke', 'laptop', 'paper'" in str(info.value)


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_installs_itself_on_colab(path):
    """"Open in Colab -> Run all" works: right after the parameters, a cell (hidden in the book)
    installs superconv from the repository named in _config.yml, only on Colab."""
    import yaml
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    cell = code[1]
    assert {"remove-cell", "colab-install"} <= set(cell.metadata.get("tags", [])), "second code cell: Colab install"
    assert '"google.colab" in sys.modules' in cell.source and f"git+{url}" in cell.source
    ns = {}
    exec(compile(cell.source, str(path), "exec"), ns)  # off Colab it must do nothing (and not fail)
