"""The training device and its numeric precision: which device ``"auto"`` means, whether bf16
autocast pays off there, and a human name of the device for provenance."""

from __future__ import annotations

import os
import platform

import torch

from ._checks import choice

PRECISIONS = ("auto", "bf16", "fp32")
#: ``SUPERCONV_AUTO_PRECISION=fp32`` makes ``"auto"`` mean fp32 on every device, as on a machine
#: without bf16: to run anything (the test suite, a chapter) without bf16 autocast, e.g. to find
#: results that hold on one CPU's bf16 numerics only. Unset (or empty): what the device supports.
AUTO_ENV = "SUPERCONV_AUTO_PRECISION"

__all__ = ["PRECISIONS", "AUTO_ENV", "resolve_device", "bf16_supported", "resolve_precision", "autocast", "device_name"]


def resolve_device(device) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def bf16_supported(device: torch.device) -> bool:
    """bf16 autocast pays off on CUDA GPUs with bf16 and CPUs with AVX512-BF16/AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"bf16"`` or ``"fp32"``: ``precision`` itself, or for ``"auto"`` what ``device`` supports
    (fp32 everywhere under ``SUPERCONV_AUTO_PRECISION=fp32``)."""
    choice("precision", precision, PRECISIONS)
    if precision == "auto":
        forced = os.environ.get(AUTO_ENV, "")
        if forced not in ("", "fp32"):
            choice(AUTO_ENV, forced, ("fp32",))
        return "bf16" if not forced and bf16_supported(device) else "fp32"
    return precision


def autocast(device: torch.device, precision: str):
    """bf16 autocast on ``device`` for a resolved ``precision`` of ``"bf16"``; a no-op for fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def device_name(dev: torch.device) -> str:
    """A human name of the training device, for provenance (GPU model, or CPU model and threads)."""
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    name = ""
    try:
        with open("/proc/cpuinfo") as f:
            name = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    cpus, threads = os.cpu_count(), torch.get_num_threads()
    return (f"{name or platform.machine()} ({cpus} logical CPU{'s' if cpus != 1 else ''}, "
            f"{threads} thread{'s' if threads != 1 else ''})")
