"""Chapter 12, super-convergence today: 1cycle against the schedules people use now.

Since 1cycle, practice has moved to cosine decay, warmup-stable-decay (WSD; Hägele et al. 2024,
arXiv 2405.18392), schedule-free SGD and AdamW (Defazio et al. 2024, arXiv 2405.15682, the
``schedulefree`` package used as it is) and, in the fastest CIFAR-10 trainers, airbench's
1cycle-shaped triangle. This study runs them all on equal terms (:data:`RULES`, printed before
any run):

* **the same net, data, batch and evaluation** (the profile's; BN statistics recomputed before
  every evaluation for every contender: a schedule-free run is evaluated at its averaged weights,
  whose statistics must be recomputed anyway);
* **the same tuning effort**: each contender's peak LR (and, where the profile tunes it, its
  weight decay) is chosen by one rule (:data:`TUNING_RULE`) on a validation holdout of the
  training split, never on the test split: the same grid and run length for every contender of an
  optimizer family, and up to :data:`MAX_EXTEND` runs more for one whose choice lies at a grid end;
* **the same budget ladder** (:data:`CONFIG` ``budgets``, complete schedules of each length) and
  seeds; a schedule-free run needs no end time, so one run per seed at the largest budget,
  evaluated at every budget on the way, gives all its cells (its warmup is fixed in iterations).

What it reports: accuracy at each budget; anytime curves (every evaluation of the largest-budget
runs -- points before a scheduled run's end are runs cut short, which favours schedules that need
no end time); the budget and training time to a target accuracy with seed-bootstrap intervals,
and each contender's speed against the 1cycle of its optimizer family (``superconv.speedup``);
and the verdicts of the literature's claims by :data:`CLAIM_RULE`.

API::

    plan = plan_specs("laptop")                      # every run, checked, nothing trained
    study = run_study("laptop")                      # trains (or loads) tuning and sweep runs
    study.cells["cosine"]                            # {budget: [final test acc per seed]}
    study.tuning["cosine"].lr                        # the chosen peak LR
    study.speed["cosine"]                            # speedup.sweep of cosine against its 1cycle
    study.claims                                     # [{"claim", "verdict", ...}]
    stored("paper")                                  # what the store holds (nothing trained)
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from .. import _checks, experiments, speedup as speedup_lib
from ..results import Store
from ..train import History
from . import base, calibration

# --------------------------------------------------------------------------- the contenders


@dataclass(frozen=True)
class Contender:
    """One schedule with one optimizer. ``family``: which LR (and WD) grid it tunes over."""

    name: str
    label: str
    family: str            # "sgd" or "adamw"
    optimizer: str | None  # the spec's optimizer (None: SGD)
    shape: str             # "1cycle", "cosine", "wsd", "wsd_linear", "triangle", "constant"
    source: str            # where the schedule comes from, in words

    @property
    def schedule_free(self) -> bool:
        return self.shape == "constant"


CONTENDERS: dict = {c.name: c for c in (
    Contender("1cycle", "1cycle (SGD)", "sgd", None, "1cycle", "Smith & Topin 2017: the profile's 1cycle shape"),
    Contender("cosine", "cosine (SGD)", "sgd", None, "cosine", "Loshchilov & Hutter 2016, with a linear warmup"),
    Contender("wsd", "WSD 1−√ (SGD)", "sgd", None, "wsd", "Hägele et al. 2024: (1−sqrt) cooldown over the last 20 %"),
    Contender("wsd_linear", "WSD linear (SGD)", "sgd", None, "wsd_linear",
              "Hägele et al. 2024: linear cooldown over the last 20 %"),
    Contender("triangle", "triangle (SGD)", "sgd", None, "triangle", "airbench (Jordan 2024): 0.2 → 1 at 23 % → 0.07"),
    Contender("sf_sgd", "schedule-free SGD", "sgd", "sgd_schedulefree", "constant",
              "Defazio et al. 2024, the schedulefree package"),
    Contender("1cycle_adamw", "1cycle (AdamW)", "adamw", "adamw", "1cycle", "the 1cycle shape with AdamW (fastai's default)"),
    Contender("cosine_adamw", "cosine (AdamW)", "adamw", "adamw", "cosine", "cosine with a linear warmup, AdamW"),
    Contender("wsd_adamw", "WSD 1−√ (AdamW)", "adamw", "adamw", "wsd", "WSD as in Hägele et al.'s language models"),
    Contender("sf_adamw", "schedule-free AdamW", "adamw", "adamw_schedulefree", "constant",
              "Defazio et al. 2024, the schedulefree package"),
)}

REFERENCE = "1cycle"   # the contender speeds are measured against ...
#: ... or, for an optimizer family with its own 1cycle in the run, that one (a speed then compares
#: schedules, not optimizers)
REFERENCES = {"sgd": "1cycle", "adamw": "1cycle_adamw"}
WARMUP = 0.05          # linear warmup of cosine and WSD (of each run's own length)
WSD_DECAY = 0.2        # WSD's cooldown: the last 20 % (Hägele et al.'s main setting)
MOMENTUM = 0.9         # SGD's momentum, AdamW's beta1, schedule-free's interpolation (1cycle cycles its own)

#: Per profile: the contenders (SCHEDULES = None), seeds, budgets (iterations), the evaluation
#: period of the anytime curves, the tuning budget, the validation images, the tuning seed, the
#: peak-LR grid per family (four values, about x3 apart, from the optimizer's textbook default
#: upwards: SGD 0.1, AdamW 1e-3) and the weight-decay grid per family (its first value is the one
#: the LR stage uses; one value: weight decay is not tuned), schedule-free's warmup (iterations,
#: 5 % of the profile's largest budget, fixed so that neither the tuning nor a cut run depends on
#: the ladder), and what the spec sets besides.
CONFIG: dict = {
    "smoke": dict(schedules=["1cycle", "cosine", "wsd", "triangle", "sf_sgd", "cosine_adamw", "sf_adamw"],
                  seeds=[0, 1], budgets=[6, 12, 24], anytime_every=6, tune_iterations=12, validation=200, tune_seed=0,
                  lrs={"sgd": [0.1, 0.3, 1.0, 3.0], "adamw": [1e-3, 3e-3, 1e-2, 3e-2]},
                  weight_decays={"sgd": [1e-4], "adamw": [1e-2]}, sf_warmup=1, extra={}),
    "laptop": dict(schedules=["1cycle", "cosine", "wsd", "triangle", "sf_sgd", "1cycle_adamw", "cosine_adamw",
                              "sf_adamw"],
                   seeds=[0, 1, 2], budgets=[100, 200, 400], anytime_every=100, tune_iterations=200, validation=2000,
                   tune_seed=0, lrs={"sgd": [0.1, 0.3, 1.0, 3.0], "adamw": [1e-3, 3e-3, 1e-2, 3e-2]},
                   weight_decays={"sgd": [1e-4], "adamw": [1e-2, 1e-1, 1e-3]}, sf_warmup=20, extra={}),
    # ResNet-56 on CIFAR-10 at batch 1000, torch's SGD for every contender (AdamW and schedule-free
    # have no Caffe form), BN recomputed from 10k images, a 5k validation holdout beside 45k images
    "paper": dict(schedules=list(CONTENDERS), seeds=[0, 1, 2], budgets=[2500, 5000, 10_000], anytime_every=1250,
                  tune_iterations=5000, validation=5000, tune_seed=0,
                  lrs={"sgd": [0.1, 0.3, 1.0, 3.0], "adamw": [1e-3, 3e-3, 1e-2, 3e-2]},
                  weight_decays={"sgd": [1e-4, 5e-4, 1e-5], "adamw": [1e-2, 1e-1, 1e-3]}, sf_warmup=500,
                  extra=dict(model="resnet56", sgd="torch", ghost_batch=None, input_norm=None, data_order=None,
                             test_reads=None, train_size=45_000, precise_bn=10_000)),
}

TARGET_MARGIN = 0.5   # points: the target is 1cycle's best seed-mean accuracy less this
TOLERANCE = 0.5       # points: "at least as good" allows this much less
MAX_EXTEND = 2        # LR grid steps added beyond an edge choice (TUNING_RULE)


def config(profile: str | None) -> dict:
    return copy.deepcopy(CONFIG[experiments.resolve_profile(profile)])


def default_schedules(profile: str | None) -> list:
    return list(config(profile)["schedules"])


def check_schedules(name: str, value: Any) -> list | None:
    """SCHEDULES: None (the profile's), one contender's name (a sweep grid point), or a list of
    distinct names of :data:`CONTENDERS`."""
    if value is None:
        return None
    vals = [value] if isinstance(value, str) else value
    if not isinstance(vals, (list, tuple)) or not vals:
        _checks.fail(name, value, "None, a name or a list of names of " + ", ".join(CONTENDERS))
    for v in vals:
        _checks.choice(name, v, tuple(CONTENDERS), "a schedule")
    return _checks.distinct(name, list(vals))


def check_budgets(name: str, value: Any) -> list | None:
    return None if value is None else sorted(_checks.list_of(_checks.positive_int, unique=True)(name, value))


# --------------------------------------------------------------------------- specs

def _schedule(profile: str, c: Contender, lr: float, iterations: int, sf_warmup: int) -> tuple[dict, dict]:
    """(schedule, spec fields) of contender ``c`` at peak ``lr`` over ``iterations``."""
    warm = max(1, round(WARMUP * iterations))
    if c.shape == "1cycle":
        head = experiments.make_spec(profile, "one_cycle")
        sched = {**head["schedule"], **calibration.one_cycle_lrs(lr)}
        sched = experiments.scale_schedule(sched, iterations / head["iterations"])
        return sched, {"momentum": head["momentum"]}
    fields = {"momentum": MOMENTUM}
    if c.shape == "cosine":
        return dict(kind="cosine", max_lr=lr, total_steps=iterations, warmup_steps=warm), fields
    if c.shape in ("wsd", "wsd_linear"):
        return dict(kind="wsd", max_lr=lr, total_steps=iterations, decay_fraction=WSD_DECAY,
                    cooldown="linear" if c.shape == "wsd_linear" else "1-sqrt", warmup_steps=warm), fields
    if c.shape == "triangle":
        return dict(kind="triangle", max_lr=lr, total_steps=iterations), fields
    # schedule-free: a constant LR, its own warmup fixed in iterations (the run has no end time)
    return dict(kind="fixed", lr=lr), {**fields, "optimizer_warmup": sf_warmup}


def spec(profile: str | None, name: str, iterations: int, seed: int, lr: float, weight_decay: float, *,
         validation: int | None = None, eval_every: int | None = None, cfg: dict | None = None) -> dict:
    """The run spec of contender ``name`` at peak ``lr`` and ``weight_decay`` for ``iterations``
    (evaluated once at the end unless ``eval_every``), on the validation holdout when
    ``validation`` is set."""
    profile = experiments.resolve_profile(profile)
    cfg = cfg or config(profile)
    c = CONTENDERS[_checks.choice("schedule", name, tuple(CONTENDERS))]
    sched, fields = _schedule(profile, c, lr, iterations, cfg["sf_warmup"])
    extra = {k: v for k, v in cfg["extra"].items()}
    cleared = [k for k, v in extra.items() if v is None]  # the profile's own value, switched off
    out = experiments.make_spec(profile, None, schedule=sched, iterations=iterations, seed=seed,
                                weight_decay=weight_decay, optimizer=c.optimizer, eval_every=eval_every or iterations,
                                validation=validation, **fields, **{k: v for k, v in extra.items() if v is not None})
    for k in cleared:
        out.pop(k, None)
    experiments.build_schedule(out["schedule"])  # validates
    return out


def tuning_specs(profile: str | None, name: str, lr: float | None = None, cfg: dict | None = None) -> list:
    """Every tuning run contender ``name`` can ask for: the LR stage over its grid at the first
    weight decay, and (``lr``: the chosen LR, None: each grid LR) the weight-decay stage."""
    cfg = cfg or config(profile)
    c = CONTENDERS[name]
    lrs, wds = cfg["lrs"][c.family], cfg["weight_decays"][c.family]
    mk = lambda lr_, wd: spec(profile, name, cfg["tune_iterations"], cfg["tune_seed"], lr_, wd,  # noqa: E731
                              validation=cfg["validation"], cfg=cfg)
    out = [mk(x, wds[0]) for x in lrs]
    for x in ([lr] if lr is not None else lrs):
        out += [mk(x, wd) for wd in wds[1:]]
    return out


def sweep_specs(profile: str | None, name: str, lr: float, weight_decay: float, seeds: Sequence[int],
                cfg: dict | None = None) -> dict:
    """``{budget: [spec per seed]}`` of the sweep; a schedule-free contender trains only its
    largest budget (its smaller cells are that run's evaluations on the way)."""
    cfg = cfg or config(profile)
    budgets, top = cfg["budgets"], max(cfg["budgets"])
    trained = [top] if CONTENDERS[name].schedule_free else budgets
    return {b: [spec(profile, name, b, s, lr, weight_decay, eval_every=cfg["anytime_every"] if b == top else None,
                     cfg=cfg) for s in seeds] for b in trained}


def resolve(profile: str | None, schedules: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
            budgets: Sequence[int] | None = None) -> tuple[str, dict]:
    """(profile, config) with the notebook's SCHEDULES / SEEDS / BUDGETS applied, checked: the
    anytime evaluations must land on every budget (a schedule-free cell is one of them)."""
    profile = experiments.resolve_profile(profile)
    cfg = config(profile)
    if schedules is not None:
        cfg["schedules"] = check_schedules("SCHEDULES", schedules)
    if seeds is not None:
        cfg["seeds"] = experiments.check_seeds(seeds, "SEEDS")
    if budgets is not None:
        cfg["budgets"] = check_budgets("BUDGETS", budgets)
    every = cfg["anytime_every"]
    off = [b for b in cfg["budgets"] if b % every]
    if off:
        _checks.fail("BUDGETS", cfg["budgets"], f"multiples of {every:,} (the anytime evaluation period)",
                     why=f"has {off[0]}, where no evaluation of a schedule-free run would fall")
    return profile, cfg


def plan_specs(profile: str | None, schedules=None, seeds=None, budgets=None) -> dict:
    """Every run the chapter can ask for, built and checked (nothing trained):
    ``{name: {"tuning": [...], "extensions": [...], "sweep": {budget: [...]}}}`` (the sweep at
    each grid LR's first WD; the extensions: the LRs beyond both grid ends the tuning rule may add)."""
    profile, cfg = resolve(profile, schedules, seeds, budgets)
    out = {}
    for name in cfg["schedules"]:
        c = CONTENDERS[name]
        lr, wd = cfg["lrs"][c.family][0], cfg["weight_decays"][c.family][0]
        beyond = []
        for up, x in ((True, max(cfg["lrs"][c.family])), (False, min(cfg["lrs"][c.family]))):
            for _ in range(MAX_EXTEND):
                x = _next_lr(x, up)
                beyond.append(x)
        out[name] = {"tuning": tuning_specs(profile, name, cfg=cfg),
                     "extensions": [spec(profile, name, cfg["tune_iterations"], cfg["tune_seed"], x, wd,
                                         validation=cfg["validation"], cfg=cfg) for x in beyond],
                     "sweep": sweep_specs(profile, name, lr, wd, cfg["seeds"], cfg)}
    return out


# --------------------------------------------------------------------------- tuning

def _grid_text(values: Sequence[float]) -> str:
    return ", ".join(f"{v:g}" for v in values)


TUNING_RULE = (
    "each contender, by its final accuracy on a validation holdout of the training split (never the test split), "
    "one seed, complete schedules of the tuning budget: first its peak LR from its family's grid (SGD "
    f"{_grid_text(CONFIG['laptop']['lrs']['sgd'])}; AdamW {_grid_text(CONFIG['laptop']['lrs']['adamw'])}: four "
    "values on the 1-3-10 ladder from each optimizer's textbook default upwards) at the family's first weight decay. "
    "A choice at either end of the grid adds the next value of the ladder beyond it, up to "
    f"{MAX_EXTEND} times (so a contender whose best lies outside the grid costs up to {MAX_EXTEND} runs more); a "
    "choice still at an end is announced. Then, where the profile has more than one, its weight decay from the "
    "family's grid at that LR. Every contender of a family gets the same grid and the same run length. A diverged "
    "run is never chosen; a tie goes to the value run first")


def _next_lr(lr: float, up: bool) -> float:
    """The neighbour of ``lr`` on the 1-3-10 ladder (0.1, 0.3, 1, 3, 10, ...)."""
    three = abs(math.log10(lr) % 1 - math.log10(3)) < 0.05  # mantissa 3 (else 1)
    factor = (10 / 3 if three else 3) if up else (1 / 3 if three else 0.3)
    return float(f"{lr * factor:.3g}")


@dataclass
class Tuning:
    """One contender's choice: ``lr``, ``weight_decay`` (None: every run diverged), the runs
    (rows for the chapter's table), where the choice sits in the grid, and the iterations spent."""

    name: str
    lr: float | None
    weight_decay: float | None
    rows: list
    at_edge: str           # "top" or "bottom": the choice is still at that end of the grid; "" inside
    iterations: int
    seconds: float = 0.0
    note: str = ""
    extended: list = field(default_factory=list)  # the LRs added beyond the grid


def _best(cands: list) -> tuple:
    best = (None, None)
    for value, h in cands:
        acc = None if h.diverged else h.final_test_acc
        if acc is not None and math.isfinite(acc) and (best[1] is None or acc > best[1]):
            best = (value, acc)
    return best


def tune(profile: str, name: str, cfg: dict, get: Callable[[dict], Optional[History]]) -> Optional[Tuning]:
    """:data:`TUNING_RULE` for one contender, ``get(spec)`` training or loading each run (None:
    missing, and then the result is None)."""
    c = CONTENDERS[name]
    lrs, wds = cfg["lrs"][c.family], cfg["weight_decays"][c.family]
    rows, spent, secs = [], 0, 0.0

    def runs(pairs):
        nonlocal spent, secs
        out = []
        for lr, wd in pairs:
            s = spec(profile, name, cfg["tune_iterations"], cfg["tune_seed"], lr, wd, validation=cfg["validation"],
                     cfg=cfg)
            h = get(s)
            if h is None:
                return None
            spent += s["iterations"]
            secs += h.wall_time
            acc = None if h.diverged else h.final_test_acc
            rows.append(dict(schedule=c.label, lr=lr, weight_decay=wd, validation_acc=acc, diverged=bool(h.diverged)))
            out.append(((lr, wd), h))
        return out

    stage = runs([(lr, wds[0]) for lr in lrs])
    if stage is None:
        return None
    best, _acc = _best(stage)
    if best is None:
        return Tuning(name, None, None, rows, "", spent, secs, "every LR of the grid diverged")
    grid = list(lrs)
    for _ in range(MAX_EXTEND):  # an edge choice: one ladder step beyond it
        lr = best[0]
        if lr not in (min(grid), max(grid)):
            break
        new = _next_lr(lr, up=lr == max(grid))
        more = runs([(new, wds[0])])
        if more is None:
            return None
        grid.append(new)
        stage += more
        best, _acc = _best(stage)
    lr = best[0]
    stage2 = runs([(lr, wd) for wd in wds[1:]])
    if stage2 is None:
        return None
    (_, wd), _ = _best([c_ for c_ in stage if c_[0][0] == lr] + stage2)
    for r in rows:
        r["chosen"] = r["lr"] == lr and r["weight_decay"] == wd
    edge = "top" if lr == max(grid) else "bottom" if lr == min(grid) else ""
    note = (f"{lr:g} is the {edge} of its grid after {len(grid) - len(lrs)} extension(s): a "
            f"{'larger' if edge == 'top' else 'smaller'} LR might do better") if edge else ""
    return Tuning(name, lr, wd, rows, edge, spent, secs, note, extended=grid[len(lrs):])


# --------------------------------------------------------------------------- the study

SPEED_RULE = (
    "the reference is 1cycle with the contender's own optimizer where that 1cycle runs (else 1cycle with SGD, and "
    "the speed then compares optimizers too); "
    f"target = the reference's best seed-mean final test accuracy over the budgets less {TARGET_MARGIN:g} points; each "
    "contender's budget to the target is read off its seed-mean budget → accuracy curve (log-interpolated between "
    "budgets; a diverged run counts as 0 %), with a "
    f"{speedup_lib.LEVEL:.0%} seed-resampling interval; its speed = the reference's budget / its budget, "
    "with the interval of that ratio (superconv.speedup, the measure of chapter 3). Faster than 1cycle if the "
    "ratio's interval lies above 1, slower if it lies below 1 or the contender never reaches the target, else no "
    "difference shown. Training time to the target = budget × the contender's measured seconds per iteration "
    "(training only, from its largest-budget runs)")

CLAIM_RULE = (
    f"'A is at least as good as B', per budget, d = A's seed-mean final test accuracy − B's and se = the standard "
    f"error of d from both seed spreads: reproduced if d − 2·se ≥ −{TOLERANCE:g} points at every budget (A is no "
    f"worse than the tolerance, by two standard errors); not reproduced if at some budget d + 2·se < −{TOLERANCE:g} "
    "(A is worse by more than the tolerance, by two standard errors); otherwise inconclusive. Two standard errors "
    "are a convention, not a 95 % bound: with 3 seeds a t-interval is about 1.4 times wider. 'The best of today's "
    "schedules' is, at each budget, the other contender with the same optimizer family and the highest seed-mean, "
    "picked after the runs (which favours it). With one seed in a cell there is no standard error and the claim is "
    "inconclusive. A claim whose contenders did not run is not run")

#: The claims the chapter judges: (id, A, B, who claims it, the claim in words). B "*": the best
#: other contender at each budget.
CLAIMS = (
    ("today.wsd_vs_cosine", "wsd", "cosine", "Hägele et al. 2024",
     "WSD with a (1−sqrt) cooldown matches cosine (here with SGD)"),
    ("today.wsd_cooldown", "wsd", "wsd_linear", "Hägele et al. 2024", "the (1−sqrt) cooldown is at least as good as linear"),
    ("today.sf_sgd", "sf_sgd", "cosine", "Defazio et al. 2024", "schedule-free SGD matches or beats cosine-scheduled SGD"),
    ("today.sf_adamw", "sf_adamw", "cosine_adamw", "Defazio et al. 2024",
     "schedule-free AdamW matches or beats cosine-scheduled AdamW"),
    ("today.triangle", "triangle", "1cycle", "this book, of airbench's triangle (Jordan 2024)",
     "the short triangle of the fastest CIFAR-10 trainers does as well as Smith's 1cycle"),
    ("today.one_cycle_best", "1cycle", "*", "this book's question",
     "1cycle is still at least as good as the best of today's SGD schedules at every budget"),
    ("today.one_cycle_best_adamw", "1cycle_adamw", "*", "this book's question",
     "1cycle with AdamW is at least as good as the best of today's AdamW schedules at every budget"),
)

RULES = {"where each contender's settings come from": TUNING_RULE, "time to the target and speed against 1cycle":
         SPEED_RULE, "the literature's claims": CLAIM_RULE}


@dataclass
class Study:
    profile: str
    config: dict
    tuning: dict                         # name -> Tuning
    sweep_specs: dict                    # name -> {budget: [spec]}
    histories: dict                      # name -> {budget: [History]}
    cells: dict                          # name -> {budget: [final test acc per seed]}
    anytime: dict                        # name -> [(iteration, mean acc, std, n)]
    speed: dict = field(default_factory=dict)    # name -> speedup.sweep against its reference (None: none)
    to_target: dict = field(default_factory=dict)  # name -> speedup.time_to_target of its reference's target
    reference: dict = field(default_factory=dict)  # name -> the 1cycle it is measured against
    targets: dict = field(default_factory=dict)    # reference name -> its target accuracy
    claims: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def names(self) -> list:
        return [n for n in self.config["schedules"] if n in self.cells]


def cells_of(name: str, hists: dict, budgets: Sequence[int]) -> dict:
    """``{budget: [test accuracy per seed]}``: each run's final accuracy; for a schedule-free
    contender, its largest-budget runs' evaluations at each budget (None where one is missing)."""
    if not CONTENDERS[name].schedule_free:
        return {b: [None if h.diverged else h.final_test_acc for h in hs] for b, hs in hists.items()}
    top = hists[max(hists)]
    return {b: [_acc_at(h, b) for h in top] for b in budgets}


def _acc_at(h: History, it: int) -> float | None:
    if h.diverged and h.diverged_at is not None and it >= h.diverged_at:
        return None  # the evaluation that found the divergence still recorded an accuracy
    for i, a in zip(h.eval_iters, h.test_acc):
        if i == it:
            return a
    return None  # not evaluated there (diverged before): counts as 0 %


def anytime_curve(hs: list) -> list:
    """``[(iteration, mean, std, n)]`` over the seeds' evaluations of the largest-budget runs; an
    evaluation a run did not reach (it diverged before) counts as 0 %, as in the cells."""
    iters = sorted({i for h in hs for i in h.eval_iters})
    return [(i, *cell_stats([_acc_at(h, i) for h in hs])) for i in iters]


def seconds_per_iteration(hists: dict) -> float | None:
    """Training seconds per iteration (evaluations excluded), mean over the largest-budget runs:
    every contender measured on runs of the same length."""
    runs = list(hists[max(hists)]) if hists else []
    if not runs or any(h.eval_time is None for h in runs):
        return None
    return sum(h.train_time / max(h.iterations, 1) for h in runs) / len(runs)


def cell_stats(vals: list) -> tuple:
    """(mean, std, n) of one cell's final accuracies, a diverged run (None or not finite) as 0 %."""
    clean = [0.0 if v is None or not math.isfinite(v) else float(v) for v in vals]
    return experiments.mean_std(clean)


def judge(a: dict, b: dict) -> dict:
    """:data:`CLAIM_RULE` on two contenders' cells (``b`` may hold, per budget, the best other)."""
    rows = []
    for bud in sorted(set(a) & set(b)):
        ma, sa, na = cell_stats(a[bud])
        mb, sb, nb = cell_stats(b[bud])
        d = ma - mb
        se = math.sqrt((sa ** 2 / na if na > 1 else 0) + (sb ** 2 / nb if nb > 1 else 0))
        rows.append(dict(budget=bud, a=ma, b=mb, d=d, se=se, n=min(na, nb)))
    if not rows:
        return dict(verdict="not run", rows=rows)
    if any(r["n"] < 2 for r in rows):  # one seed: no standard error, so no verdict beyond the noise
        return dict(verdict="inconclusive", rows=rows, worst=min(rows, key=lambda r: r["d"]))
    if any(r["d"] + 2 * r["se"] < -TOLERANCE for r in rows):
        verdict = "not reproduced"
        deciding = min(rows, key=lambda r: r["d"] + 2 * r["se"])
    else:
        verdict = "reproduced" if all(r["d"] - 2 * r["se"] >= -TOLERANCE for r in rows) else "inconclusive"
        deciding = min(rows, key=lambda r: r["d"] - 2 * r["se"])
    return dict(verdict=verdict, rows=rows, worst=deciding)


def _best_other(cells: dict, name: str) -> tuple[dict, dict]:
    """Per budget, the cells of the best other contender of ``name``'s optimizer family (by
    seed-mean) and its name."""
    out, who = {}, {}
    family = CONTENDERS[name].family
    for bud in cells[name]:
        others = [(n, c[bud]) for n, c in cells.items()
                  if n != name and CONTENDERS[n].family == family and bud in c]
        if others:
            n, v = max(others, key=lambda t: cell_stats(t[1])[0])
            out[bud], who[bud] = v, n
    return out, who


def judge_claims(cells: dict) -> list:
    out = []
    for cid, a, b, who, text in CLAIMS:
        row = dict(id=cid, a=a, b=b, source=who, claim=text)
        other, names = (_best_other(cells, a) if a in cells else ({}, {})) if b == "*" else (cells.get(b), {})
        res = judge(cells[a], other) if a in cells and other else dict(verdict="not run")
        if res["verdict"] == "not run":  # a contender missing, or no budget in common
            out.append({**row, "verdict": "not run", "ours": "—"})
            continue
        w = res["worst"]
        vs = CONTENDERS[names[w["budget"]]].label if names else CONTENDERS[b].label
        ours = (f"deciding budget {w['budget']:,}: {CONTENDERS[a].label} {w['a']:.2f} % vs {vs} {w['b']:.2f} % "
                f"(d = {w['d']:+.2f}, se {w['se']:.2f} points)")
        out.append({**row, "verdict": res["verdict"], "ours": ours, "rows": res["rows"], "best_other": names})
    return out


def speed_word(sp: dict | None) -> str:
    """:data:`SPEED_RULE`'s word for one contender's ``speedup.sweep`` against 1cycle."""
    if sp is None:
        return "—"
    iv, bound = sp["interval"], sp.get("bound")
    if sp["factor"] is None:
        return "slower (target not reached)"
    if iv["low"] is None or bound == "none":
        return "no difference shown"
    if iv["low"] > 1 and bound != "at most":
        return "faster"
    if 0 < iv["high"] < 1 and bound != "at least":
        return "slower"
    if iv["high"] == 0:
        return "slower (target not reached)"
    return "no difference shown"


def _assemble(profile: str, cfg: dict, tuning: dict, spec_map: dict, hist_map: dict) -> Study:
    budgets = cfg["budgets"]
    cells = {n: cells_of(n, hist_map[n], budgets) for n in hist_map}
    top = max(budgets)
    anytime = {n: anytime_curve(hs.get(top, [])) for n, hs in hist_map.items()}
    st = Study(profile, cfg, tuning, spec_map, hist_map, cells, anytime)
    for n, c in cells.items():
        own = REFERENCES[CONTENDERS[n].family]
        ref = own if own in cells else REFERENCE if REFERENCE in cells else None
        if ref is None:
            continue
        st.reference[n] = ref
        if ref not in st.targets:
            st.targets[ref] = max(a for _, a in speedup_lib.curve(cells[ref])) - TARGET_MARGIN
        st.speed[n] = speedup_lib.sweep(c, cells[ref], margin=TARGET_MARGIN) if n != ref else None
        tt = speedup_lib.time_to_target(c, st.targets[ref])
        spi = seconds_per_iteration(hist_map[n])
        tt["seconds_per_iteration"] = spi
        tt["seconds"] = tt["budget"] * spi if tt["budget"] and spi else None
        st.to_target[n] = tt
    st.claims = judge_claims(cells)
    if hist_map:
        st.notes.append(base.hardware(hist_map))
    return st


def run_study(profile: str | None, device: str = "auto", schedules=None, seeds=None, budgets=None,
              store: Store | None = None, progress: bool = False) -> Study:
    """Tune and sweep every contender (trained, or loaded from the store); all checked first."""
    plan_specs(profile, schedules, seeds, budgets)  # every spec built and checked before any work
    profile, cfg = resolve(profile, schedules, seeds, budgets)
    store = store or Store()
    run = lambda s: experiments.run(s, profile, device=device, store=store, progress=progress)  # noqa: E731
    tuning, spec_map, hist_map = {}, {}, {}
    for name in cfg["schedules"]:
        t = tune(profile, name, cfg, run)
        tuning[name] = t
        if t.lr is None:
            continue  # nothing to sweep: said in the tuning table
        spec_map[name] = sweep_specs(profile, name, t.lr, t.weight_decay, cfg["seeds"], cfg)
        hist_map[name] = {b: [run(s) for s in ss] for b, ss in spec_map[name].items()}
    return _assemble(profile, cfg, tuning, spec_map, hist_map)


def stored(profile: str = "paper", store: Store | None = None, schedules=None, seeds=None,
           budgets=None) -> Study | None:
    """The study from the store alone (nothing trained): the contenders whose tuning and sweep
    runs are all stored; None if none is."""
    profile, cfg = resolve(profile, schedules, seeds, budgets)
    store = store or Store()
    tuning, spec_map, hist_map = {}, {}, {}
    for name in cfg["schedules"]:
        t = tune(profile, name, cfg, lambda s: store.get(s, profile))
        if t is None or t.lr is None:
            continue
        specs = sweep_specs(profile, name, t.lr, t.weight_decay, cfg["seeds"], cfg)
        hists = {b: [store.get(s, profile) for s in ss] for b, ss in specs.items()}
        if any(h is None for hs in hists.values() for h in hs):
            continue
        tuning[name], spec_map[name], hist_map[name] = t, specs, hists
    if not hist_map:
        return None
    return _assemble(profile, cfg, tuning, spec_map, hist_map)


# --------------------------------------------------------------------------- tables and words

def tuning_rows(study: Study) -> list:
    return [{"schedule": r["schedule"], "peak LR": f"{r['lr']:g}", "weight decay": f"{r['weight_decay']:g}",
             "validation acc. %": "diverged" if r["diverged"] else f"{r['validation_acc']:.2f}",
             "chosen": "✓" if r.get("chosen") else ""} for t in study.tuning.values() for r in t.rows]


def accuracy_rows(study: Study) -> list:
    """One row per contender: its settings and the seed-mean ± std accuracy at each budget."""
    rows = []
    for n in study.names:
        t = study.tuning[n]
        row = {"schedule": CONTENDERS[n].label, "peak LR": f"{t.lr:g}", "WD": f"{t.weight_decay:g}"}
        for b in study.config["budgets"]:
            m, s, k = cell_stats(study.cells[n][b])
            row[f"{b:,} it"] = f"{m:.2f} ± {s:.2f}" if k > 1 else f"{m:.2f}"
        rows.append(row)
    return rows


def _budget_text(v: float | None) -> str:
    return "not reached" if v is None or math.isinf(v) else f"{v:,.0f}"


def target_rows(study: Study) -> list:
    """Budget and training time to the target, with intervals, and the speed against 1cycle."""
    rows = []
    for n in study.names:
        tt, sp = study.to_target.get(n), study.speed.get(n)
        if tt is None:
            continue
        iv = (f"{_budget_text(tt['low'])} – {_budget_text(tt['high'])}" if tt["low"] is not None else "one seed")
        floor = " (at its smallest budget)" if tt["at_floor"] else ""
        spi = tt["seconds_per_iteration"]
        ratio = "—" if sp is None else ("not reached" if sp["factor"] is None else
                                        f"{sp['factor']:.2f}× ({_factor(sp['interval']['low'])} – "
                                        f"{_factor(sp['interval']['high'])})")
        ref = study.reference[n]
        rows.append({"schedule": CONTENDERS[n].label, "against": CONTENDERS[ref].label,
                     "target %": f"{study.targets[ref]:.2f}",
                     "iterations to target": _budget_text(tt["budget"]) + floor,
                     "95 % interval": iv, "ms / iteration": f"{1000 * spi:.0f}" if spi else "—",
                     "training s to target": f"{tt['seconds']:.1f}" if tt["seconds"] else "—",
                     "speed": ratio, "verdict": "reference" if n == ref else speed_word(sp)})
    return rows


def _factor(v: float | None) -> str:
    """A ratio bound; 0: in that tail the contender never reached the target."""
    return "—" if v is None else "never" if v == 0 else f"{v:.2f}×"


def claim_rows(study: Study) -> list:
    return [{"claim": c["claim"], "who": c["source"], "ours": c["ours"], "verdict": c["verdict"]}
            for c in study.claims]


def cost(study: Study) -> dict:
    """What the chapter's runs cost: wall seconds of the tuning and the sweep runs, summed."""
    tune_s = sum(t.seconds for t in study.tuning.values())
    sweep_s = sum(h.wall_time for hs in study.histories.values() for h in base.histories(hs))
    tune_it = sum(t.iterations for t in study.tuning.values())
    sweep_it = sum(s["iterations"] for sp in study.sweep_specs.values() for ss in sp.values() for s in ss)
    return dict(tuning_iterations=tune_it, sweep_iterations=sweep_it, sweep_seconds=sweep_s, tuning_seconds=tune_s)


def result_markdown(study: Study) -> str:
    """The box under the chapter's question: each claim's verdict, then, per reference, who
    reaches its target faster or slower."""
    lines = [f"- **{c['claim'][0].upper() + c['claim'][1:]}** ({c['source']}): {c['verdict']}" for c in study.claims]
    for ref in study.targets:
        mine = [n for n, r in study.reference.items() if r == ref and n != ref]
        faster = [CONTENDERS[n].label for n in mine if speed_word(study.speed[n]) == "faster"]
        slower = [CONTENDERS[n].label for n in mine if speed_word(study.speed[n]).startswith("slower")]
        if mine:
            lines.append(f"- **Faster than {CONTENDERS[ref].label}** to its best accuracy less {TARGET_MARGIN:g} "
                         "points: " + (", ".join(faster) or "none") + "; **slower**: " + (", ".join(slower) or "none"))
    return "\n".join(lines)


GPUS = 4  # the paper command's workers: one per GPU (edit --gpus to the machine's count)


def command(profile: str = "paper", gpus: int = GPUS) -> str:
    """The one command that computes the chapter at ``profile`` on ``gpus`` GPUs: a sweep point
    per contender (each tunes and sweeps its own runs, into one results store); the chapter then
    reads them from the store (:func:`stored`)."""
    names = ",".join(default_schedules(profile))
    return (f"python -m superconv sweep 12 --profile {profile} --device cuda --grid schedules={names} "
            f"--executor local --gpus {gpus} --out runs/")


CHAPTER = base.Chapter("chapters/12_schedules_today.ipynb", seeds={p: CONFIG[p]["seeds"] for p in CONFIG},
                       knobs=dict(SCHEDULES=check_schedules, BUDGETS=check_budgets),
                       validate=lambda profile, v: base.check_plan(
                           lambda: plan_specs(profile, v["SCHEDULES"], None, v["BUDGETS"])), modern=False)
default_seeds = CHAPTER.default_seeds

__all__ = ["Contender", "CONTENDERS", "REFERENCE", "REFERENCES", "GPUS", "CONFIG", "cell_stats", "TUNING_RULE",
           "SPEED_RULE", "CLAIM_RULE", "CLAIMS",
           "RULES", "TARGET_MARGIN", "TOLERANCE", "Tuning", "Study", "config", "default_schedules",
           "check_schedules", "check_budgets", "spec", "tuning_specs", "sweep_specs", "resolve", "plan_specs", "tune",
           "cells_of", "anytime_curve", "judge", "judge_claims", "speed_word", "run_study", "stored", "tuning_rows",
           "accuracy_rows", "target_rows", "claim_rows", "cost", "result_markdown", "command", "CHAPTER", "default_seeds"]
