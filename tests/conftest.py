"""Shared test settings, and the smoke-profile book built once per session."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
JB = Path(sys.executable).with_name("jupyter-book")
FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

# The tests (and the notebooks they execute) never reach for the network by themselves:
# a dataset that is not on disk is a clear error, not a download attempt.
os.environ.setdefault("SUPERCONV_OFFLINE", "1")


@pytest.fixture
def one_thread():
    """One intra-op torch thread for the test, restored after it. Tiny nets are as fast on one, and
    on a busy 2-core machine two threads per process can be 20-50x slower (OpenMP threads spinning
    against other processes); torchrun also gives each rank one. Modules with only tiny nets use it
    for every test: ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _cpu_unless_asked(monkeypatch):
    """Unit tests train on the CPU, where runs are bit-for-bit repeatable (the tests check that).

    On a GPU machine ``fit(device=None/"auto")`` would pick CUDA, whose kernels are not
    bit-deterministic; set ``SUPERCONV_TEST_DEVICE=auto`` to run the suite's training on CUDA
    anyway (the exact-repeatability tests then compare non-deterministic kernels and may fail).
    """
    if os.environ.get("SUPERCONV_TEST_DEVICE", "cpu") != "cpu":
        return
    from superconv import train
    real = train.resolve_device
    monkeypatch.setattr(train, "resolve_device", lambda d: real("cpu") if d in (None, "auto") else real(d))


@pytest.fixture(scope="session")
def smoke_store(tmp_path_factory):
    """One results store for the whole session, so chapters share runs as in a book build
    (the papermill smoke runs of tests/test_chapters.py and the smoke book build)."""
    store = tmp_path_factory.mktemp("results")
    old = os.environ.get("SUPERCONV_RESULTS")
    os.environ["SUPERCONV_RESULTS"] = str(store)
    yield store
    if old is None:
        os.environ.pop("SUPERCONV_RESULTS", None)
    else:
        os.environ["SUPERCONV_RESULTS"] = old


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory, smoke_store):
    """The whole book built once per session at the smoke profile with ``-W --keep-going``
    (warnings are errors), shared by the build test and the browser check.

    ``$SUPERCONV_BOOK_HTML`` points at an already built ``_build/html`` instead (no build)."""
    given = os.environ.get("SUPERCONV_BOOK_HTML")
    if given:
        return SimpleNamespace(returncode=0, output="", html=Path(given))
    if not JB.exists():
        pytest.skip("jupyter-book is not installed next to this Python")
    if not Path(FMNIST).exists():
        pytest.skip("the smoke book needs dataset-fashion-mnist")
    tmp = tmp_path_factory.mktemp("smoke_book")
    book = tmp / "book"
    book.mkdir()
    for path in ROOT.glob("*"):
        if path.is_file() and (path.suffix in (".yml", ".bib") or (path.suffix == ".md" and path.name != "README.md")):
            shutil.copy(path, book / path.name)
    shutil.copytree(ROOT / "chapters", book / "chapters", ignore=shutil.ignore_patterns("*.ipynb_checkpoints"))
    shutil.copytree(ROOT / "_static", book / "_static")  # the book's own CSS
    env = dict(os.environ, SUPERCONV_PROFILE="smoke", SUPERCONV_RESULTS=str(smoke_store))
    done = subprocess.run([str(JB), "build", str(book), "-W", "--keep-going"], capture_output=True,
                          text=True, timeout=1800, env=env)
    return SimpleNamespace(returncode=done.returncode, output=done.stdout[-4000:] + done.stderr[-4000:],
                           html=book / "_build" / "html")
