"""Where chapter 3's hyperparameters come from: the method applied, on a validation set.

Chapter 3 compares 1cycle with PC-LR. A comparison of two policies is only as fair as the effort
spent on each one's settings, and those settings must not be fitted to the test split. So at the
smoke and laptop profiles nothing that chapter 3 trains with is typed in; it is computed here,
before the budget sweep, by one rule (:data:`RULE`, printed before any run):

1. **1cycle's bounds** come from the book's own LR range test (chapter 2's ``main`` test over its
   seeds, evaluated on a holdout of the training set): the plateau rule of ``superconv.bounds``
   on the smoothed seed-mean curve -- ``max_lr`` where the accuracy reaches the plateau,
   ``min_lr = max_lr / 10`` -- rounded to :data:`DIGITS` significant digits.
2. **PC-LR's base LR** is chosen from a grid (:data:`CONFIG` ``pc_lrs``) at the profile's weight
   decay, by the final accuracy on a **validation set**: ``validation`` class-balanced images of
   the training split *outside* the training subset (``experiments`` spec field ``validation``),
   disjoint from the training images and from the test split.
3. **Weight decay**, for each policy at its LR, from the same grid (``weight_decays``, reaching
   below the usual 1e-4), by the same validation accuracy.

Every tuning run is a complete schedule of ``iterations`` (the same budget for both policies),
seed ``seed``, evaluated like the sweep (precise BN). A diverged run is never chosen; a tie goes
to the earlier grid value. Effort: each policy makes one LR choice and one WD choice over the
same WD grid; :attr:`Calibration.effort` counts the iterations each spent (1cycle's LR choice
costs the range test, PC-LR's its LR grid). Where the rule cannot choose (the range test never
learned, every candidate diverged) the profile's value is kept and :attr:`Calibration.sources`
says so -- announced, never silent.

At the ``paper`` profile the settings are the authors' (paper facts §2), as issue 15 asks: nothing
is tuned, :attr:`Calibration.chosen` is empty and the sources name the paper.

API::

    cal = run("laptop")              # trains (or loads) the tuning runs; the range test via chapter 2
    cal.chosen                       # {"one_cycle": {"schedule": {...}, "weight_decay": w}, "pc_lr": ...}
    cal.sources["pc_lr"]["base_lr"]  # where a number came from, in words
    load("laptop")                   # the same from the store only, or None
    budget_spec("laptop", "pc_lr", 800, seed=1, tuned=cal.chosen)   # a sweep run with the choices
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

from .. import bounds as bounds_lib, experiments
from ..results import Store
from ..train import History
from . import range_tests

POLICIES = ("one_cycle", "pc_lr")
LABELS = {"one_cycle": "1cycle", "pc_lr": "PC-LR"}

#: Per profile: the range test's seeds (chapter 2's defaults), the tuning budget (iterations, both
#: policies: a budget both sweeps of chapter 3 contain), the validation images, the tuning seed,
#: and the grids. None: nothing is tuned (the authors' settings).
CONFIG: dict = {
    "smoke": dict(range_seeds=[0], iterations=25, validation=500, seed=0,
                  pc_lrs=[0.1, 0.35], weight_decays=[1e-5, 1e-4]),
    "laptop": dict(range_seeds=[0, 1, 2], iterations=400, validation=2000, seed=0,
                   pc_lrs=[0.1, 0.35, 1.0], weight_decays=[1e-5, 3e-5, 1e-4, 3e-4]),
    "paper": None,
}

DIGITS = 3  # significant digits of the range test's bounds (an evaluation LR such as 0.975975...)

RULE = (
    "1cycle's bounds: the plateau rule on chapter 2's range test (its smoothed seed-mean accuracy on a "
    f"holdout of the training set): max_lr = the first LR within {bounds_lib.TOLERANCE:g} points of the curve's "
    f"peak, min_lr = max_lr / {bounds_lib.RATIO:g}, rounded to {DIGITS} significant digits; the plateau must start "
    f"in the lower {bounds_lib.REACH:.0%} of the ramp, else max_lr is announced as a lower bound. Then, by the final "
    "accuracy on a validation set of training-split images outside the training subset (never the test split), "
    "one seed, complete schedules of the same length for both policies: PC-LR's base LR from its grid at the "
    "profile's weight decay, then each policy's weight decay from one shared grid at its LR. A diverged run is "
    "never chosen; a tie goes to the earlier grid value; where nothing can be chosen the profile's value is kept "
    "and the chapter says so. The budget sweep trains every budget with the chosen values")


def config(profile: str | None) -> Optional[dict]:
    """A copy of :data:`CONFIG` for ``profile`` (None: the authors' settings, nothing tuned)."""
    return copy.deepcopy(CONFIG[experiments.resolve_profile(profile)])


def round_lr(x: float, digits: int = DIGITS) -> float:
    return float(f"{x:.{digits}g}")


def one_cycle_lrs(max_lr: float, ratio: float = bounds_lib.RATIO) -> dict:
    """1cycle's schedule bounds from a peak: ``max_lr`` and ``max_lr / ratio``, each rounded."""
    return {"max_lr": round_lr(max_lr), "base_lr": round_lr(max_lr / ratio)}


def budget_spec(profile: str | None, policy: str, iterations: int, seed: int = 0, tuned: dict | None = None,
                **extra) -> dict:
    """``experiments.budget_spec`` with the choices ``tuned[policy]`` (schedule fields and weight
    decay) applied before the schedule is stretched to ``iterations``; ``tuned`` None or without
    the policy: the profile's own values."""
    t = (tuned or {}).get(policy) or {}
    if t:
        base = experiments.make_spec(profile, policy)
        sched = {**base["schedule"], **t.get("schedule", {})}
        extra.setdefault("schedule", experiments.scale_schedule(sched, iterations / base["iterations"]))
        if t.get("weight_decay") is not None:
            extra.setdefault("weight_decay", t["weight_decay"])
    return experiments.budget_spec(profile, policy, iterations, seed, **extra)


def _tuning_spec(profile: str, cfg: dict, policy: str, schedule: dict, weight_decay: float) -> dict:
    tuned = {policy: {"schedule": schedule, "weight_decay": weight_decay}}
    return budget_spec(profile, policy, cfg["iterations"], cfg["seed"], tuned, validation=cfg["validation"])


def candidate_specs(profile: str | None, max_lr: float | None = None) -> list:
    """Every tuning run the grids can ask for at ``profile`` (1cycle with peak ``max_lr``, None:
    the profile's; [] at the paper profile), e.g. to check them all before any work."""
    profile = experiments.resolve_profile(profile)
    cfg = config(profile)
    if cfg is None:
        return []
    top = experiments.make_spec(profile, "one_cycle")["schedule"]["max_lr"] if max_lr is None else max_lr
    oc = one_cycle_lrs(top)
    return ([_tuning_spec(profile, cfg, "one_cycle", oc, wd) for wd in cfg["weight_decays"]]
            + [_tuning_spec(profile, cfg, "pc_lr", {"base_lr": lr}, wd) for lr in cfg["pc_lrs"]
               for wd in cfg["weight_decays"]])


def _pick(candidates: list) -> tuple:
    """(value, accuracy) of the best ``(value, History)``: highest final validation accuracy among
    the runs that did not diverge, the first on ties; (None, None) if every run diverged."""
    best = (None, None)
    for value, h in candidates:
        acc = None if h.diverged else h.final_test_acc
        if acc is not None and math.isfinite(acc) and (best[1] is None or acc > best[1]):
            best = (value, acc)
    return best


@dataclass
class Calibration:
    """What :func:`run` / :func:`load` return."""

    profile: str
    config: Optional[dict]
    bounds: Optional[bounds_lib.Bounds]      # the plateau rule's result (None: nothing tuned)
    chosen: dict                             # policy -> {"schedule": {...}, "weight_decay": w}
    sources: dict                            # policy -> {parameter: where its value came from}
    rows: list = field(default_factory=list)  # one per tuning run (the chapter's table)
    effort: dict = field(default_factory=dict)  # policy -> {"runs", "iterations"}
    noise: float = math.nan                  # sampling std (points) of the best validation accuracy
    histories: list = field(default_factory=list)

    def describe(self, policy: str) -> str:
        return "; ".join(f"{k} {v}" for k, v in self.sources[policy].items())


def _authors(profile: str) -> Calibration:
    src = {}
    for p in POLICIES:
        spec = experiments.make_spec(profile, p)
        s = spec["schedule"]
        lr = ({"base_lr": s["base_lr"], "max_lr": s["max_lr"]} if "max_lr" in s else {"base_lr": s["base_lr"]})
        src[p] = {**{k: f"{v:g} (the authors', paper facts §2)" for k, v in lr.items()},
                  "weight_decay": f"{spec['weight_decay']:g} (the authors', paper facts §2)"}
    return Calibration(profile=profile, config=None, bounds=None, chosen={}, sources=src)


def _calibrate(profile: str, cfg: dict, range_study, get: Callable[[dict], Optional[History]]) -> Optional[Calibration]:
    """The rule of :data:`RULE`, with ``get(spec)`` training or loading each run (None: missing,
    and then the whole result is None)."""
    profile_wd = experiments.make_spec(profile, "pc_lr")["weight_decay"]
    b = range_tests.plateau_bounds(range_study)
    oc_sched = experiments.make_spec(profile, "one_cycle")["schedule"]
    sources = {p: {} for p in POLICIES}
    rng = range_study.specs["main"]
    test_text = (f"chapter 2's range test ({len(range_study.seeds['main'])} seed(s), linear 0 → {rng['lr_max']:g} "
                 f"over {rng['iterations']:,} iterations)")
    if b.max_lr is None:
        oc_lr = {"base_lr": oc_sched["base_lr"], "max_lr": oc_sched["max_lr"]}
        why = f"the profile's value, kept: {b.describe()}"
        sources["one_cycle"].update(max_lr=f"{oc_lr['max_lr']:g} ({why})", base_lr=f"{oc_lr['base_lr']:g} ({why})")
    else:
        oc_lr = one_cycle_lrs(b.max_lr, b.ratio)
        caveat = "" if b.usable else " -- only a lower bound: the ramp was too short"
        sources["one_cycle"].update(max_lr=f"{oc_lr['max_lr']:g} (plateau rule on {test_text}{caveat})",
                                    base_lr=f"{oc_lr['base_lr']:g} (max_lr / {b.ratio:g})")
    runs = {}  # (policy, lr, wd) -> (row, History): a run both stages ask for is fetched, listed and counted once

    def train(policy: str, stage: str, schedule: dict, wd: float) -> Optional[History]:
        key = (LABELS[policy], schedule.get("max_lr", schedule.get("base_lr")), wd)
        if key in runs:
            return runs[key][1]
        spec = _tuning_spec(profile, cfg, policy, schedule, wd)
        h = get(spec)
        if h is not None:
            runs[key] = (dict(policy=key[0], stage=stage, lr=key[1], weight_decay=wd,
                              validation_acc=None if h.diverged else h.final_test_acc, diverged=bool(h.diverged),
                              chosen=False, spec=spec), h)
        return h

    # PC-LR's base LR, at the profile's weight decay
    cands = []
    for lr in cfg["pc_lrs"]:
        h = train("pc_lr", "LR", {"base_lr": lr}, profile_wd)
        if h is None:
            return None
        cands.append((lr, h))
    pc_lr, acc = _pick(cands)
    grid = ", ".join(f"{x:g}" for x in cfg["pc_lrs"])
    if pc_lr is None:
        pc_lr = experiments.make_spec(profile, "pc_lr")["schedule"]["base_lr"]
        sources["pc_lr"]["base_lr"] = f"{pc_lr:g} (the profile's value, kept: every run of the grid {grid} diverged)"
    else:
        sources["pc_lr"]["base_lr"] = f"{pc_lr:g} (best of {grid} on the validation set: {acc:.2f} %)"
    lrs = {"one_cycle": oc_lr, "pc_lr": {"base_lr": pc_lr}}
    # each policy's weight decay at its LR (PC-LR's run at the profile's WD is the LR stage's)
    chosen, best_acc = {}, []
    wgrid = ", ".join(f"{x:g}" for x in cfg["weight_decays"])
    for p in POLICIES:
        cands = []
        for wd in cfg["weight_decays"]:
            h = train(p, "WD", lrs[p], wd)
            if h is None:
                return None
            cands.append((wd, h))
        wd, acc = _pick(cands)
        if wd is None:
            wd = profile_wd
            sources[p]["weight_decay"] = f"{wd:g} (the profile's value, kept: every run of the grid {wgrid} diverged)"
        else:
            sources[p]["weight_decay"] = f"{wd:g} (best of {wgrid} on the validation set: {acc:.2f} %)"
            best_acc.append(acc)
        chosen[p] = {"schedule": dict(lrs[p]), "weight_decay": wd}
    unique = [r for r, _ in runs.values()]
    for r in unique:
        p = "one_cycle" if r["policy"] == LABELS["one_cycle"] else "pc_lr"
        r["chosen"] = (r["lr"] == (chosen[p]["schedule"].get("max_lr", chosen[p]["schedule"]["base_lr"]))
                       and r["weight_decay"] == chosen[p]["weight_decay"])
    n = cfg["iterations"]
    effort = {p: {"runs": sum(r["policy"] == LABELS[p] for r in unique)} for p in POLICIES}
    for p in POLICIES:
        effort[p]["iterations"] = effort[p]["runs"] * n
    effort["one_cycle"]["range_test_iterations"] = len(range_study.seeds["main"]) * rng["iterations"]
    p_best = max(best_acc) / 100 if best_acc else math.nan
    noise = 100 * math.sqrt(p_best * (1 - p_best) / cfg["validation"]) if best_acc else math.nan
    return Calibration(profile=profile, config=cfg, bounds=b, chosen=chosen, sources=sources, rows=unique,
                       effort=effort, noise=noise, histories=[h for _, h in runs.values()])


def run(profile: str | None, device: str = "auto", store: Store | None = None, progress: bool = False) -> Calibration:
    """Train (or load) the range test and the tuning runs, and choose (:data:`RULE`)."""
    profile = experiments.resolve_profile(profile)
    cfg = config(profile)
    if cfg is None:
        return _authors(profile)
    store = store or Store()
    study = range_tests.run_study(profile, seeds=cfg["range_seeds"], device=device, store=store, tests=("main",))
    return _calibrate(profile, cfg, study,
                      lambda spec: experiments.run(spec, profile, device=device, store=store, progress=progress))


def load(profile: str | None, store: Store | None = None) -> Optional[Calibration]:
    """:func:`run`'s result from the store alone (nothing is trained), or None if a run is missing."""
    profile = experiments.resolve_profile(profile)
    cfg = config(profile)
    if cfg is None:
        return _authors(profile)
    store = store or Store()
    study = range_tests.load_main(profile, cfg["range_seeds"], store)
    if study is None:
        return None
    return _calibrate(profile, cfg, study, lambda spec: store.get(spec, profile))


def table_rows(cal: Calibration) -> list:
    """The tuning runs for the chapter's table (validation accuracy, which one was chosen)."""
    return [{"policy": r["policy"], "stage": r["stage"], "LR (peak for 1cycle)": f"{r['lr']:g}",
             "weight decay": f"{r['weight_decay']:g}",
             "validation acc. %": "diverged" if r["diverged"] else f"{r['validation_acc']:.2f}",
             "chosen": "✓" if r["chosen"] else ""} for r in cal.rows]


__all__ = ["POLICIES", "CONFIG", "DIGITS", "RULE", "config", "round_lr", "one_cycle_lrs", "budget_spec", "candidate_specs",
           "Calibration", "run", "load",
           "table_rows"]
