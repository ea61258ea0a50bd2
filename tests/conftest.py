"""Shared test settings."""

import os

import pytest

# The tests (and the notebooks they execute) never reach for the network by themselves:
# a dataset that is not on disk is a clear error, not a download attempt.
os.environ.setdefault("SUPERCONV_OFFLINE", "1")


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
