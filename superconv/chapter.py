"""What every chapter notebook does first: check its parameters, then say what produced its figures.

A chapter's ``parameters`` cell holds literals only (papermill overrides them); the next cell
runs :func:`setup` through its study's ``CHAPTER.setup(globals())`` (``superconv.studies.base``),
which names each parameter's checker once, for the notebook and the CLI alike. It validates
everything *before any work* and fails with one line that names the parameter and its allowed
values::

    ctx = chapter.setup(PROFILE, DEVICE, SEEDS, MAX_LR=(MAX_LR, chapter.positive),
                        POLICY=(POLICY, chapter.one_of("one_cycle", "pc_lr")))
    ctx.profile, ctx.device, ctx.seeds        # resolved
    ctx.caption("ResNet-8 w16, Fashion-MNIST 10k")  # provenance line for a figure or table

Glued numbers (myst-nb ``glue``) go through :func:`glue`, which also works outside a notebook
build (papermill, plain Python) and refuses non-finite numbers silently becoming text.
"""

from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from . import __version__, _checks, conventions
from ._checks import ParameterError
from .experiments import MODERN_ENV, PROFILES, modern_settings, resolve_profile
from .train import device_name

__all__ = ["ParameterError", "PROFILE_DEFAULT", "positive", "non_negative", "positive_int", "non_negative_int",
           "fraction", "one_of", "list_of", "seed", "seed_list", "profile", "device_syntax", "device", "modern_list", "Context",
           "setup", "hardware", "glue", "glue_markdown", "pct"]


# --------------------------------------------------------------------------- checkers
# Each checker takes (name, value) and returns the value (possibly normalised) or raises. They are
# superconv._checks' checkers whose messages add that a knob left None takes the profile's value.

#: What a knob's message adds after the allowed values.
PROFILE_DEFAULT = " (or None = the profile's value)"


def _knob(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """``check``, with :data:`PROFILE_DEFAULT` at the end of its message (once: a list's items
    may be knobs themselves)."""
    @functools.wraps(check)
    def knob(name: str, value: Any) -> Any:
        try:
            return check(name, value)
        except ParameterError as e:
            text, hint = str(e), ""
            if _checks.TEXT_HINT in text:  # the hint on a list given as text stays last
                text, hint = text.split(_checks.TEXT_HINT, 1)
                hint = _checks.TEXT_HINT + hint
            if not text.endswith(PROFILE_DEFAULT):
                text += PROFILE_DEFAULT
            raise ParameterError(text + hint) from None
    return knob


@_knob
def positive(name: str, value: Any) -> float:
    return _checks.positive(name, value)


@_knob
def non_negative(name: str, value: Any) -> float:
    return _checks.non_negative(name, value)


@_knob
def positive_int(name: str, value: Any) -> int:
    return _checks.positive_int(name, value)


@_knob
def fraction(name: str, value: Any) -> float:
    return _checks.fraction(name, value)


@_knob
def non_negative_int(name: str, value: Any) -> int:
    return _checks.integer(name, value, minimum=0)


seed = non_negative_int  # any integer >= 0 seeds a run


def one_of(*allowed: Any) -> Callable[[str, Any], Any]:
    return _knob(lambda name, value: _checks.choice(name, value, allowed))


def list_of(check: Callable[[str, Any], Any], min_len: int = 1, unique: bool = False) -> Callable[[str, Any], list]:
    return _knob(_checks.list_of(check, min_len, unique))


#: SEEDS and every other seed list: distinct integers >= 0, at least one.
seed_list = list_of(seed, unique=True)


def profile(name: str, value: Any) -> str | None:
    """A profile name, or None (then ``$SUPERCONV_PROFILE``, else ``'laptop'``)."""
    if value is not None and not (isinstance(value, str) and value in PROFILES):
        _checks.fail(name, value, f"{', '.join(map(repr, PROFILES))} (or None = $SUPERCONV_PROFILE, else 'laptop')")
    return value


_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def device_syntax(name: str, value: Any) -> str:
    """A device name, whether or not this machine has it (for jobs that run elsewhere)."""
    if not isinstance(value, str) or not _DEVICE.match(value):
        _checks.fail(name, value, "'auto', 'cpu', 'cuda', 'cuda:N', 'mps'")
    return value


def device(name: str, value: Any) -> str:
    """A device name this machine can use."""
    device_syntax(name, value)
    if value.startswith("cuda") and not torch.cuda.is_available():
        _checks.fail(name, value, "'auto', 'cpu'", why="but this machine has no CUDA device")
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

    def caption(self, what: str = "", seeds: list | None = None, trained: bool = True) -> str:
        """One provenance line: profile, what (dataset/model), seeds, hardware, versions.
        ``trained=False`` (a figure of schedules or of the paper's numbers): no seeds and no
        hardware, which would say something about runs the figure does not show."""
        seeds = self.seeds if seeds is None else seeds
        parts = [f"profile {self.profile}"]
        if what:
            parts.append(what)
        if not trained:
            return " · ".join(parts + [f"superconv {__version__}"])
        if not seeds:  # a summary of stored runs (the scorecard): their seeds are in the rows
            parts.append("seeds as in each run's chapter")
        else:
            parts.append("seed " + ", ".join(map(str, seeds)) if len(seeds) == 1 else
                         f"seeds {', '.join(map(str, seeds))} (mean ± std)")
        parts.append(self.hardware)
        parts.append(f"superconv {__version__}, torch {torch.__version__.split('+')[0]}")
        return " · ".join(parts)


def modern_list(name: str, value: Any) -> list | None:
    """MODERN: None, or a list of distinct names of ``conventions.SWITCHES`` (the paper-profile
    settings to run in PyTorch's convention instead of the authors')."""
    if value is None:
        return None
    allowed = f"None (= $SUPERCONV_MODERN) or a list of {', '.join(map(repr, conventions.SWITCHES))}"
    if not isinstance(value, (list, tuple)) or len(set(map(str, value))) != len(value) or \
            not all(isinstance(v, str) and v in conventions.SWITCHES for v in value):
        _checks.fail(name, value, allowed)
    return list(value)


def setup(PROFILE: str | None, DEVICE: str, SEEDS: list | None, default_seeds: dict | None = None,
          modern: list | None = None, apply: bool = True, **knobs: tuple) -> Context:
    """Validate a chapter's parameters and resolve profile, device and seeds.

    ``knobs`` map a parameter name to ``(value, checker)``; a value of ``None`` means "take it
    from the profile" and is passed through unchecked. ``default_seeds`` maps profile -> seeds
    used when ``SEEDS`` is None: a study's ``CHAPTER.seed_table()``, the one table its findings
    read too (None: no seeds, for a chapter that trains nothing, such as the scorecard).
    ``modern``: the chapter's MODERN parameter (:func:`modern_list`); a list sets ``$SUPERCONV_MODERN``
    for the runs of this process (the paper profile only: below it the laptop and smoke
    profiles already run PyTorch's conventions); None leaves the variable as it is.
    ``apply=False``: check only, leave the environment as it is (the CLI's check before launch).
    """
    resolved = resolve_profile(profile("PROFILE", PROFILE))
    names = modern_list("MODERN", modern)
    if names and resolved != "paper":
        _checks.fail("MODERN", modern, "None or [] below the paper profile",
                     why=f"switches the authors' settings, which the {resolved} profile does not use")
    dev = device("DEVICE", DEVICE)
    if dev == "auto":
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    if SEEDS is None:
        seeds = [] if default_seeds is None else default_seeds[resolved]
    else:
        seeds = seed_list("SEEDS", SEEDS)
    checked = {}
    for name, spec in knobs.items():
        if not (isinstance(spec, tuple) and len(spec) == 2 and callable(spec[1])):
            raise TypeError(f"knob {name} must be given as (value, checker)")
        value, check = spec
        checked[name] = None if value is None else check(name, value)
    if names is not None and apply:
        os.environ[MODERN_ENV] = ",".join(names)
    modern_settings()  # a bad $SUPERCONV_MODERN fails here, before any work
    return Context(profile=resolved, device=dev, seeds=list(seeds), knobs=checked)


def hardware(dev: str = "cpu") -> str:
    """E.g. ``"NVIDIA H200 GPU"`` or ``"AMD EPYC (2 logical CPUs, 2 threads)"``."""
    name = device_name(torch.device("cuda" if str(dev).startswith("cuda") and torch.cuda.is_available() else "cpu"))
    return f"{name} GPU" if str(dev).startswith("cuda") and torch.cuda.is_available() else name


#: Markdown that ``{glue:text}`` would show literally: `code`, **bold**, *emphasis*.
_MARKDOWN = re.compile(r"`[^`]+`|\*\*[^*\s][^*]*\*\*|(?<![\w*])\*[A-Za-z][^*\n]*\*(?![\w*])")


def glue(name: str, value: Any, display: bool = False) -> Any:
    """``myst_nb.glue`` for numbers and text shown in the prose; a no-op outside IPython.

    Non-finite floats are refused: a NaN in the prose is a bug to see, not a number to print.
    So is Markdown in glued text: ``{glue:text}`` inserts plain text, so `code` or **bold**
    would reach the reader with its backticks and asterisks.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"glue({name!r}) got {value!r}: a chapter must not print a non-finite number")
    if isinstance(value, str) and (m := _MARKDOWN.search(value)):
        raise ValueError(f"glue({name!r}) got Markdown ({m.group(0)!r}) in text that is shown as plain text; "
                         "write it without backticks and asterisks")
    try:
        from IPython import get_ipython
        if get_ipython() is None:
            return value
        from myst_nb import glue as _glue
    except ImportError:
        return value
    _glue(name, value, display=display)
    return value


def glue_markdown(name: str, text: str) -> str:
    """Glue Markdown for ``{glue:md}`` (a chapter's result box): it renders, unlike
    :func:`glue`'s plain text. A no-op outside IPython."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"glue_markdown({name!r}) needs non-empty Markdown text")
    try:
        from IPython import get_ipython
        if get_ipython() is None:
            return text
        from IPython.display import Markdown
        from myst_nb import glue as _glue
    except ImportError:
        return text
    _glue(name, Markdown(text), display=False)
    return text


def pct(x: float | None, digits: int = 1) -> str:
    """``89.93 -> '89.9 %'``; ``None -> 'n/a'``."""
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f} %"


def rules_markdown(rules: dict) -> str:
    """The verdict rules a chapter fixes before it trains, as Markdown: one bullet per entry of a
    study's ``RULES`` (``{what it judges: rule}``). Every chapter shows this in a cell above its
    first training cell (``tests/test_rules_first.py``)."""
    if not rules:
        raise ValueError("a chapter needs at least one verdict rule")
    lines = ["**Verdict rules, fixed before any run** (the scorecard quotes them):", ""]
    lines += [f"* *{what}*: {rule.rstrip('.')}." for what, rule in rules.items()]
    return "\n".join(lines)
