"""What every chapter notebook does first: check its parameters, then say what produced its figures.

A chapter's ``parameters`` cell holds literals only (papermill overrides them); the next cell
calls :func:`setup`, which validates everything *before any work* and fails with one line that
names the parameter and its allowed values::

    ctx = chapter.setup(PROFILE, DEVICE, SEEDS, MAX_LR=(MAX_LR, chapter.positive),
                        POLICY=(POLICY, chapter.one_of("one_cycle", "pc_lr")))
    ctx.profile, ctx.device, ctx.seeds        # resolved
    ctx.caption("ResNet-8 w16, Fashion-MNIST 10k")  # provenance line for a figure or table

Glued numbers (myst-nb ``glue``) go through :func:`glue`, which also works outside a notebook
build (papermill, plain Python) and refuses non-finite numbers silently becoming text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from . import __version__
from .experiments import PROFILES, resolve_profile
from .train import device_name


class ParameterError(ValueError):
    """A notebook parameter with a bad value (raised before any work)."""


# --------------------------------------------------------------------------- checkers
# Each checker takes (name, value) and returns the value (possibly normalised) or raises.

def _fail(name: str, value: Any, allowed: str) -> None:
    raise ParameterError(f"{name}={value!r} is not allowed; allowed: {allowed} (or None = the profile's value)")


def positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        _fail(name, value, "a finite number > 0")
    return float(value)


def non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        _fail(name, value, "a finite number >= 0")
    return float(value)


def positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(name, value, "an integer >= 1")
    return value


def fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        _fail(name, value, "a number in [0, 1)")
    return float(value)


def one_of(*allowed: Any) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if value not in allowed:
            _fail(name, value, ", ".join(map(repr, allowed)))
        return value
    return check


def list_of(check: Callable[[str, Any], Any], min_len: int = 1) -> Callable[[str, Any], list]:
    def check_list(name: str, value: Any) -> list:
        if not isinstance(value, (list, tuple)) or len(value) < min_len:
            _fail(name, value, f"a list of at least {min_len} value(s)")
        return [check(f"{name}[{i}]", v) for i, v in enumerate(value)]
    return check_list


def seed(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _fail(name, value, "an integer >= 0")
    return value


_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def device(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _DEVICE.match(value):
        raise ParameterError(f"{name}={value!r} is not allowed; allowed: 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'")
    if value.startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError(f"{name}={value!r} but this machine has no CUDA device; allowed here: 'auto', 'cpu'")
    return value


# --------------------------------------------------------------------------- setup

@dataclass
class Context:
    profile: str
    device: str
    seeds: list
    knobs: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.knobs[name]

    @property
    def hardware(self) -> str:
        return hardware(self.device)

    def caption(self, what: str = "", seeds: list | None = None) -> str:
        """One provenance line: profile, what (dataset/model), seeds, hardware, versions."""
        seeds = self.seeds if seeds is None else seeds
        parts = [f"profile {self.profile}"]
        if what:
            parts.append(what)
        if not seeds:  # a summary of stored runs (the scorecard): their seeds are in the rows
            parts.append("seeds as in each run's chapter")
        else:
            parts.append("seed " + ", ".join(map(str, seeds)) if len(seeds) == 1 else
                         f"seeds {', '.join(map(str, seeds))} (mean ± std)")
        parts.append(self.hardware)
        parts.append(f"superconv {__version__}, torch {torch.__version__.split('+')[0]}")
        return " · ".join(parts)


def setup(PROFILE: str | None, DEVICE: str, SEEDS: list | None, default_seeds: dict | None = None,
          **knobs: tuple) -> Context:
    """Validate a chapter's parameters and resolve profile, device and seeds.

    ``knobs`` map a parameter name to ``(value, checker)``; a value of ``None`` means "take it
    from the profile" and is passed through unchecked. ``default_seeds`` maps profile -> seeds
    used when ``SEEDS`` is None (default: ``[0]`` for smoke, ``[0, 1, 2]`` otherwise).
    """
    if PROFILE is not None and PROFILE not in PROFILES:
        raise ParameterError(f"PROFILE={PROFILE!r} is not allowed; allowed: 'smoke', 'laptop', 'paper' "
                             "(or None = $SUPERCONV_PROFILE, else 'laptop')")
    profile = resolve_profile(PROFILE)
    dev = device("DEVICE", DEVICE)
    if dev == "auto":
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    if SEEDS is None:
        seeds = (default_seeds or {}).get(profile, [0] if profile == "smoke" else [0, 1, 2])
    else:
        seeds = list_of(seed)("SEEDS", SEEDS)
        if len(set(seeds)) != len(seeds):
            raise ParameterError(f"SEEDS={SEEDS!r} has repeated seeds; allowed: distinct integers >= 0")
    checked = {}
    for name, spec in knobs.items():
        if not (isinstance(spec, tuple) and len(spec) == 2 and callable(spec[1])):
            raise TypeError(f"knob {name} must be given as (value, checker)")
        value, check = spec
        checked[name] = None if value is None else check(name, value)
    return Context(profile=profile, device=dev, seeds=list(seeds), knobs=checked)


def hardware(dev: str = "cpu") -> str:
    """E.g. ``"NVIDIA H200 GPU"`` or ``"AMD EPYC (2 logical CPUs, 2 threads)"``."""
    name = device_name(torch.device("cuda" if str(dev).startswith("cuda") and torch.cuda.is_available() else "cpu"))
    return f"{name} GPU" if str(dev).startswith("cuda") and torch.cuda.is_available() else name


def glue(name: str, value: Any, display: bool = False) -> Any:
    """``myst_nb.glue`` for numbers and text shown in the prose; a no-op outside IPython.

    Non-finite floats are refused: a NaN in the prose is a bug to see, not a number to print.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"glue({name!r}) got {value!r}: a chapter must not print a non-finite number")
    try:
        from IPython import get_ipython
        if get_ipython() is None:
            return value
        from myst_nb import glue as _glue
    except ImportError:
        return value
    _glue(name, value, display=display)
    return value


def pct(x: float | None, digits: int = 1) -> str:
    """``89.93 -> '89.9 %'``; ``None -> 'n/a'``."""
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f} %"
