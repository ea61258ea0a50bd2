"""Small I/O helpers, one copy for the whole package: JSON with non-finite floats, atomic writes,
and the global RNG state.

* JSON has no literal for NaN or infinity, and a run that diverged has them; they are stored as
  the strings ``'nan'``, ``'inf'``, ``'-inf'`` (:func:`jsonable`) and turned back into floats by
  :func:`restore_floats` where a reader expects numbers.
* Every file the package writes is written to a temporary name beside it and moved into place
  (``os.replace`` is atomic), so a killed process never leaves half a record or checkpoint.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["jsonable", "restore_float", "restore_floats", "dumps", "read_json", "atomic_write", "atomic_write_bytes",
           "atomic_write_text", "atomic_torch_save", "rng_state", "set_rng_state"]

_NON_FINITE = ("nan", "inf", "-inf")


def jsonable(obj: Any) -> Any:
    """``obj`` with non-finite floats as strings, tuples as lists, NumPy scalars and torch
    devices as plain values and keys as strings: what ``json.dumps`` can write faithfully."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else repr(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, torch.device):
        return str(obj)
    item = getattr(obj, "item", None)  # NumPy and 0-d torch scalars
    if callable(item) and getattr(obj, "shape", None) == ():
        return jsonable(item())
    return obj


def restore_float(v: Any) -> Any:
    """``'nan'`` / ``'inf'`` / ``'-inf'`` back to floats; anything else unchanged."""
    return float(v) if isinstance(v, str) and v in _NON_FINITE else v


def restore_floats(v: Any) -> Any:
    """:func:`restore_float` applied to a value or, recursively, to the items of a list."""
    if isinstance(v, list):
        return [restore_floats(x) for x in v]
    return restore_float(v)


def dumps(obj: Any, indent: int | None = 1) -> str:
    """Strict JSON of ``jsonable(obj)`` (``allow_nan=False``: a NaN that slipped through is a bug)."""
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False)


def read_json(path: Path, what: str = "file") -> Any:
    """The JSON in ``path``; a truncated or hand-broken file is a ValueError that names it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:  # unreadable, truncated or hand-broken: say which file
        raise ValueError(f"{what} {path} cannot be read ({type(e).__name__}: {e}); move it away to recompute it") from e


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def atomic_write(path: Path, write) -> None:
    """``write(tmp)`` to a temporary path beside ``path``, then move it onto ``path``; a failed
    write leaves neither a temp file nor a half-written ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_torch_save(obj: Any, path: Path) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def rng_state(device: torch.device | str | None = None) -> dict:
    """The global torch RNG states: the CPU's, and every CUDA device's (``device=None``) or
    only ``device``'s (a CUDA device). Restore them with :func:`set_rng_state`."""
    states = {"cpu": torch.get_rng_state()}
    if device is None:
        if torch.cuda.is_available():
            states["cuda"] = torch.cuda.get_rng_state_all()
    elif torch.device(device).type == "cuda":
        states["cuda_device"] = torch.cuda.get_rng_state(torch.device(device))
    return states


def set_rng_state(states: dict, device: torch.device | str | None = None) -> None:
    torch.set_rng_state(states["cpu"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    if "cuda_device" in states and device is not None and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(states["cuda_device"], torch.device(device))
