"""What a study says about a claim of the papers: a :class:`Finding` with a verdict, and the rules
several studies share to reach one.

Each study module (``superconv.studies.*``) judges the claims its chapter tests from stored results
only; :mod:`superconv.scorecard` collects the findings. A claim whose runs are not in the store is
:func:`not_run`, and its finding says how to compute them: :func:`command`, the papermill command
of the chapter (the one builder of papermill command lines, :func:`papermill_command`, which the
command line uses too).
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .experiments import resolve_profile

__all__ = ["VERDICTS", "JUDGED", "Finding", "mean_text", "not_run", "from_conditions", "excess_verdict",
           "COMPARED",
           "papermill_command", "command"]

VERDICTS = ("reproduced", "partly reproduced", "not reproduced", "inconclusive", "not run", "no paper number",
            "not testable at this budget")

#: The verdicts that compare our number with the paper's (the rest say why there is no comparison).
JUDGED = VERDICTS[:3]

#: The verdicts of a comparison that was made: :data:`JUDGED` and "inconclusive" (the rule ran
#: but the difference is within the noise it states, so it cannot decide).
COMPARED = JUDGED + ("inconclusive",)


@dataclass(frozen=True)
class Finding:
    """Our result for one claim at one profile.

    ``ours``: our number(s) as text, e.g. ``"88.4 ± 0.3 % vs 89.2 % (n = 3 / 1)"``;
    ``verdict``: one of :data:`VERDICTS`; ``rule``: the rule that computed it, in words;
    ``detail``: what differs from the paper's setup (dataset, model, budget), or how to run it;
    ``experiment``: the plain-English name of the runs the verdict reads -- claims judged from the
    same runs share it, so the scorecard counts that experiment once ("" : a claim of its own);
    ``section``: the chapter section that states the verdict (the chapter labels it
    ``(chNN-<section>)=``, ``glance.label``); ``runs``: the store
    keys of the runs it reads (``studies.base.evidence``; findings with equal ``runs`` judge one
    experiment, whatever their chapters call it); ``seeds``: their seeds.
    """

    claim_id: str
    profile: str
    ours: str
    verdict: str
    rule: str
    detail: str = ""
    experiment: str = ""
    section: str = "paper-vs-ours"
    runs: tuple = ()
    seeds: tuple = ()

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r} is not a verdict; allowed: {', '.join(VERDICTS)}")


def mean_text(mean: float, std: float, n: int, digits: int = 2, unit: str = "") -> str:
    """``"88.47 ± 0.30 % (n=3)"``; one run has no spread to show: ``"88.47 % (n=1)"``."""
    if n == 1:
        return f"{mean:.{digits}f}{unit} (n=1)"
    return f"{mean:.{digits}f} ± {std:.{digits}f}{unit} (n={n})"


def not_run(claim_id: str, profile: str, rule: str, command: str, experiment: str = "",
            section: str = "paper-vs-ours", runs: tuple = ()) -> Finding:
    """The finding for a claim whose runs are not in the store: says how to run them (``runs``:
    the settings it will read, so it counts as the same experiment before and after they run)."""
    return Finding(claim_id, profile, "—", "not run", rule, f"run: {command}", experiment, section, runs)


# --------------------------------------------------------------------------- shared rules

def from_conditions(*holds: bool) -> str:
    """A rule made of conditions: "reproduced" if all hold, "partly reproduced" if some do,
    "not reproduced" if none does."""
    n = sum(map(bool, holds))
    return "reproduced" if n == len(holds) else "partly reproduced" if n else "not reproduced"


def excess_verdict(excess: float, threshold: float) -> str:
    """A trend rule: "reproduced" if ``excess`` > ``threshold``; "inconclusive" if it points the
    claimed way but not beyond the noise ``threshold`` (the rule cannot decide); else (or
    non-finite) "not reproduced"."""
    if math.isfinite(excess) and excess > threshold:
        return "reproduced"
    return "inconclusive" if math.isfinite(excess) and excess > 0 else "not reproduced"



# --------------------------------------------------------------------------- commands

def _papermill_reads_as_string(text: str) -> bool:
    """papermill's ``-p`` reads True/False/None, ints and floats as such, anything else as a string."""
    try:
        float(text)
        return False
    except ValueError:
        return text not in ("True", "False", "None")


def papermill_command(notebook: str | Path, params: dict | None = None, output: str | Path = "out.ipynb",
                      cwd: str | Path | None = None, env: dict | None = None) -> str:
    """The shell line that executes ``notebook`` with ``params`` through papermill:
    ``[NAME=VALUE ...] papermill NOTEBOOK OUTPUT -p NAME VALUE ... [--cwd DIR]``.

    A value papermill's ``-p`` would read back unchanged goes with ``-p``, anything else (a list,
    a string that looks like a number) as YAML with ``-y``; everything is shell-quoted."""
    flags = []
    for k, v in (params or {}).items():
        if v is None or isinstance(v, (bool, int, float)) or (isinstance(v, str) and _papermill_reads_as_string(v)):
            flags.append(f"-p {k} {shlex.quote(str(v))}")
        else:
            flags.append(f"-y {shlex.quote(json.dumps({k: v}))}")
    words = [f"{k}={shlex.quote(str(v))}" for k, v in (env or {}).items()]
    words += ["papermill", shlex.quote(str(notebook)), shlex.quote(str(output)), *flags]
    if cwd is not None:
        words += ["--cwd", shlex.quote(str(cwd))]
    return " ".join(words)


def command(notebook: str, profile: str | None, **params: Any) -> str:
    """The papermill command that computes a chapter's results at ``profile`` (None:
    ``$SUPERCONV_PROFILE``, else laptop): ``PROFILE``, ``DEVICE cuda`` at the paper profile (a
    GPU), then ``params``, e.g. ``papermill chapters/03_one_cycle.ipynb out.ipynb -p PROFILE
    paper -p DEVICE cuda``."""
    profile = resolve_profile(profile)
    device = {"DEVICE": "cuda"} if profile == "paper" else {}
    return papermill_command(notebook, {"PROFILE": profile, **device, **params})
