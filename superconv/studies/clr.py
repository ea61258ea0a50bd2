"""Chapter 1 study: cyclical learning rates (CLR paper, Smith, arXiv 1506.01186; FACTS §1).

The chapter's question: does cycling the LR between two bounds train as well as a fixed LR in
fewer iterations? (CLR paper Table 1: triangular2 reaches the fixed-LR accuracy, 81.4 %, in 25k
instead of 70k iterations on CIFAR-10.)

The runs, per profile (:data:`CONFIGS`): a *fixed* LR for ``fixed_iterations``, and each CLR
policy (``triangular``, ``triangular2``, optionally ``exp_range``) for ``cycles`` whole cycles of
``2 * step_size`` iterations -- the CLR runs stop at the end of a cycle, as the paper advises.
All of them use the profile's base data/model (``experiments.make_spec``), SGD with momentum 0.9
(the CLR paper's solver), and the fixed LR at the lower CLR bound (the CLR paper's Table 3
convention). Everything goes through ``experiments.run``, so each spec trains once per store.

API::

    cfg = config("laptop", max_lr=0.3)                  # the resolved knobs of a profile
    st = run("laptop", seeds=[0, 1, 2], device="cpu")   # trains (or loads) every run -> Study
    st.final("triangular2")                             # (mean, std, n) final test accuracy %
    st.reach("triangular2")                             # when CLR reaches the fixed-LR accuracy
    st.verdict("triangular2", paper_reached=True)       # 'reproduced' / 'partly' / 'not ...'
    st.summary()                                        # one plain dict per policy
    load("paper", [0, 1, 2])                            # stored results only (None if absent)
    torch_max_rel_diff(schedules.clr(...), 1000)        # our CLR vs torch's CyclicLR

The paper profile cannot use the CLR paper's Caffe ``cifar10_full`` net (not in this package);
it uses the profile's CIFAR-10 ResNet-56 at batch 1000 with the CLR paper's budgets converted
by *epochs* (batch 100 there): 70k -> 7,000 iterations (140 epochs) for the fixed LR, 25k ->
2,400 iterations (48 epochs, 6 whole cycles of stepsize 200 = the paper's 4 epochs) for CLR.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch

from .. import _checks, chapter, data, experiments, paper, schedules, verdicts
from ..results import Store
from ..train import History
from ..verdicts import Finding
from . import base, seed_mean

#: every policy this study can run; ``fixed`` is the baseline and always runs
POLICIES = ("fixed", "triangular", "triangular2", "exp_range")
CLR_POLICIES = ("triangular", "triangular2", "exp_range")
DEFAULT_POLICIES = ("triangular", "triangular2")

#: the CLR paper's CIFAR-10 triangular2 stepsize (first stage) and exp/exp_range gamma (FACTS §1)
PAPER_STEP_SIZE = 2000
PAPER_GAMMA = 0.99994
MOMENTUM = 0.9  # the CLR paper's solver (CLR_BASELINE_SOLVER)

def _check_bounds(profile: str, values: dict) -> None:
    """BASE_LR below MAX_LR, either of them taken from the profile when None."""
    lo = values["BASE_LR"] if values["BASE_LR"] is not None else CONFIGS[profile]["base_lr"]
    hi = values["MAX_LR"] if values["MAX_LR"] is not None else CONFIGS[profile]["max_lr"]
    if lo >= hi:
        raise chapter.ParameterError(f"BASE_LR={lo!r} with MAX_LR={hi!r} is not allowed; allowed: "
                                     "BASE_LR < MAX_LR (None = the profile's value)")


#: The chapter: its seeds when the notebook's SEEDS is None (every policy) and its parameters.
CHAPTER = base.Chapter(
    "chapters/01_cyclical_learning_rates.ipynb", seeds={"smoke": [0], "laptop": [0, 1, 2], "paper": [0, 1, 2]},
    knobs=dict(POLICIES=chapter.list_of(chapter.one_of(*CLR_POLICIES)), BASE_LR=chapter.positive,
               MAX_LR=chapter.positive, FIXED_LR=chapter.positive, STEP_SIZE=chapter.positive_int,
               CYCLES=chapter.positive_int, FIXED_ITERATIONS=chapter.positive_int),
    validate=_check_bounds)
default_seeds, command = CHAPTER.default_seeds, CHAPTER.command

# Per-profile knobs. Iterations per epoch: smoke 500/50 = 10, laptop 10,000/128 = 78,
# paper 50,000/1,000 = 50. ``eval_every`` divides ``step_size`` so that the evaluations hit
# both the LR peaks (odd multiples of step_size) and the cycle ends (even multiples).
CONFIGS: dict = {
    "smoke": dict(base_lr=0.05, max_lr=0.5, fixed_lr=None, step_size=3, cycles=3,
                  fixed_iterations=36, eval_every=3, fixed_eval_every=9),
    # 3 cycles of stepsize 100 (1.3 epochs) = 600 iterations vs 1,200 at the fixed LR
    "laptop": dict(base_lr=0.05, max_lr=0.5, fixed_lr=None, step_size=100, cycles=3,
                   fixed_iterations=1200, eval_every=100, fixed_eval_every=200),
    # the CLR paper's own CIFAR-10 runs (FACTS §1): Caffe's cifar10_full at batch 100, bounds
    # 0.001-0.006 (the range test's CIFAR-10 example and Table 3's), stepsize 2,000, 6 cycles
    # = 24k iterations (Table 1: 25k), against the baseline 0.001 divided by 10 at 60k and 65k
    "paper": dict(base_lr=paper.get("clr.range_test.cifar10.lr").value.start,
                  max_lr=paper.get("clr.range_test.cifar10.lr").value.stop, fixed_lr=None,
                  step_size=PAPER_STEP_SIZE, cycles=6,
                  fixed_iterations=70_000, eval_every=1000, fixed_eval_every=1000,
                  fixed_milestones=[60_000, 65_000]),
}
#: The paper profile's net and solver, the CLR paper's (``paper.CLR_BASELINE_SOLVER``), in place of
#: the profile's ResNet; a net without BatchNorm, tested 100 x 100 = 10,000 images (each once).
PAPER_NET = dict(model="cifar10_full", model_kwargs={}, batch_size=100, flip=False,  # the prototxt: no mirror
                 weight_decay=float(paper.CLR_BASELINE_SOLVER["weight_decay"]))
PAPER_DROPPED = ("ghost_batch", "test_reads")
KNOBS = ("base_lr", "max_lr", "fixed_lr", "step_size", "cycles", "fixed_iterations",
         "eval_every", "fixed_eval_every")


# --------------------------------------------------------------------------- configs

def config(profile: str | None, **overrides) -> dict:
    """The study's knobs for ``profile``; an override of ``None`` keeps the profile's value.

    Derived entries: ``fixed_lr`` (default: ``base_lr``), ``clr_iterations`` (``cycles * 2 *
    step_size``), ``gamma`` (exp_range decay per iteration: the paper's 0.99994 rescaled so that
    it decays as much per *cycle* as in the paper, ``0.99994 ** (2000 / step_size)``).
    """
    profile = experiments.resolve_profile(profile)
    unknown = set(overrides) - set(KNOBS)
    if unknown:
        raise ValueError(f"unknown knob(s) {sorted(unknown)}; allowed: {', '.join(KNOBS)}")
    cfg = dict(CONFIGS[profile])
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    for k in ("step_size", "cycles", "fixed_iterations", "eval_every", "fixed_eval_every"):
        _checks.positive_int(k, cfg[k])  # checked, not converted: the value goes into run specs as given
    for k in ("base_lr", "max_lr"):
        _checks.positive(k, cfg[k])
    if cfg["base_lr"] >= cfg["max_lr"]:
        raise ValueError(f"base_lr={cfg['base_lr']!r} must be < max_lr={cfg['max_lr']!r}")
    if cfg["fixed_lr"] is None:
        cfg["fixed_lr"] = cfg["base_lr"]
    if cfg["step_size"] % cfg["eval_every"] and overrides.get("eval_every") is None:
        # keep evaluating at the LR peaks and the cycle ends when only the stepsize changed
        cfg["eval_every"] = cfg["step_size"] // 2 if cfg["step_size"] % 2 == 0 else cfg["step_size"]
    cfg["clr_iterations"] = cfg["cycles"] * 2 * cfg["step_size"]
    cfg["gamma"] = PAPER_GAMMA ** (PAPER_STEP_SIZE / cfg["step_size"])
    cfg["profile"] = profile
    return cfg


def check_policies(policies: Iterable[str] | None) -> tuple:
    """The CLR policies to train (``fixed`` is implied); ``None`` -> :data:`DEFAULT_POLICIES`."""
    if policies is None:
        return DEFAULT_POLICIES
    if isinstance(policies, str):
        policies = [policies]
    out = []
    for i, p in enumerate(policies):
        if _checks.choice(f"policies[{i}]", p, CLR_POLICIES) not in out:
            out.append(p)
    if not out:
        _checks.fail("policies", policies, "a list of " + ", ".join(map(repr, CLR_POLICIES)), why="is empty")
    return tuple(out)


def schedule_spec(policy: str, cfg: dict, total_steps: int | None = None) -> dict:
    """The schedule of ``policy`` as an ``experiments`` schedule dict."""
    if _checks.choice("policy", policy, POLICIES) == "fixed":
        if cfg.get("fixed_milestones"):  # the CLR paper's baseline: /10 at each milestone
            return {"kind": "piecewise_constant", "base_lr": cfg["fixed_lr"],
                    "milestones": list(cfg["fixed_milestones"])}
        return {"kind": "fixed", "lr": cfg["fixed_lr"]}
    s = {"kind": "clr", "base_lr": cfg["base_lr"], "max_lr": cfg["max_lr"],
         "step_size": cfg["step_size"], "mode": policy,
         "total_steps": total_steps or cfg["clr_iterations"]}
    if policy == "exp_range":
        s["gamma"] = cfg["gamma"]
    return s


def schedule(policy: str, cfg: dict, total_steps: int | None = None) -> schedules.Schedule:
    """The ``superconv.schedules`` object of ``policy`` (for plots and checks)."""
    return experiments.build_schedule(schedule_spec(policy, cfg, total_steps))


def spec(policy: str, cfg: dict, seed: int) -> dict:
    """The full run spec of one (policy, seed) on the profile's base data and model."""
    fixed = policy == "fixed"
    net = PAPER_NET if cfg["profile"] == "paper" else {}
    s = experiments.make_spec(
        cfg["profile"], schedule=schedule_spec(policy, cfg),
        iterations=cfg["fixed_iterations"] if fixed else cfg["clr_iterations"],
        eval_every=cfg["fixed_eval_every"] if fixed else cfg["eval_every"],
        momentum=MOMENTUM, seed=seed, **net)
    return {k: v for k, v in s.items() if not (net and k in PAPER_DROPPED)}


def specs(profile: str | None, seeds: Sequence[int], policies: Iterable[str] | None = None,
          **knobs) -> dict:
    """``{policy: [spec per seed]}`` for ``fixed`` and each CLR policy."""
    cfg = config(profile, **knobs)
    return {p: [spec(p, cfg, s) for s in seeds] for p in ("fixed",) + check_policies(policies)}


def setup_text(cfg: dict) -> str:
    """The runs' data and model in words, for captions: ``"Fashion-MNIST (10,000 train images,
    full test split), resnet8 width 16, batch 128, SGD momentum 0.9, WD 0.0001"``."""
    s = spec("fixed", cfg, 0)
    dataset = data.title(s["dataset"])
    train = "all train images" if s["train_size"] is None else f"{s['train_size']:,} train images"
    test = "full test split" if s["test_size"] is None else f"{s['test_size']:,} test images"
    width = s["model_kwargs"].get("width")
    model = s["model"] + (f" width {width}" if width else "")
    return (f"{dataset} ({train}, {test}), {model}, batch {s['batch_size']}, SGD momentum {MOMENTUM:g}, "
            f"WD {s['weight_decay']:g}")


def iterations_per_epoch(cfg: dict) -> float:
    s = spec("fixed", cfg, 0)
    return experiments.train_images(s) / s["batch_size"]


# --------------------------------------------------------------------------- summaries

def mean_history(histories: Sequence[History]) -> History:
    """The seed-mean curve over every evaluation any seed reached (``seed_mean.mean_history``
    with ``over="any"``): a seed that diverged early leaves the later points to the others."""
    return seed_mean.mean_history(histories, over="any")


@dataclass
class Study:
    """The chapter's runs: ``histories[policy]`` is one History per seed (``seeds`` order)."""

    profile: str
    config: dict
    seeds: list
    policies: tuple                       # the CLR policies (fixed is always there too)
    specs: dict = field(default_factory=dict)
    histories: dict = field(default_factory=dict)

    def schedule(self, policy: str) -> schedules.Schedule:
        return schedule(policy, self.config)

    def iterations(self, policy: str) -> int:
        return self.config["fixed_iterations"] if policy == "fixed" else self.config["clr_iterations"]

    def final(self, policy: str) -> tuple:
        """(mean, std, n) of the final test accuracy (%) over the seeds that did not diverge."""
        return experiments.mean_std(None if h.diverged else h.final_test_acc
                                    for h in self.histories[policy])

    def diverged(self, policy: str) -> int:
        return sum(bool(h.diverged) for h in self.histories[policy])

    def mean_history(self, policy: str) -> History:
        return mean_history(self.histories[policy])

    def reach(self, policy: str) -> dict:
        """When ``policy`` reaches the fixed-LR run's final accuracy.

        ``experiments.time_to_accuracy`` on the seed-mean curves (keys as there: ``target_acc``,
        ``fast_iterations`` -- None if never --, ``iteration_ratio``, ...), plus per-seed pairs
        (CLR seed s vs fixed seed s): ``seed_iterations`` (None where not reached) and
        ``seeds_reached``/``n_seeds``.
        """
        fixed = self.mean_history("fixed")
        clr_mean = self.mean_history(policy)
        out = experiments.time_to_accuracy(clr_mean, fixed)
        if clr_mean.diverged or fixed.diverged:
            out.update(fast_iterations=None, iteration_ratio=None, fast_seconds=None, time_ratio=None)
        per_seed = []
        for h_clr, h_fix in zip(self.histories[policy], self.histories["fixed"]):
            if h_clr.diverged or h_fix.diverged:
                per_seed.append(None)
            else:
                per_seed.append(experiments.time_to_accuracy(h_clr, h_fix)["fast_iterations"])
        out["seed_iterations"] = per_seed
        out["seeds_reached"] = sum(i is not None for i in per_seed)
        out["n_seeds"] = len(per_seed)
        return out

    def outcome(self, policy: str) -> str:
        """``"yes"`` (the seed-mean curve reaches the fixed-LR mean final accuracy), ``"partly"``
        (only some seeds reach their own fixed-LR run's), or ``"no"``."""
        r = self.reach(policy)
        if r["fast_iterations"] is not None:
            return "yes"
        return "partly" if r["seeds_reached"] else "no"

    def verdict(self, policy: str, paper_reached: bool) -> str:
        """'reproduced' when our outcome is the paper's, 'partly reproduced' for a partial
        outcome, 'not reproduced' otherwise ('not reproduced (CLR did better here)' when CLR
        reached the fixed-LR accuracy but the paper's did not)."""
        ours = self.outcome(policy)
        if ours == "partly":
            return "partly reproduced"
        if (ours == "yes") == bool(paper_reached):
            return "reproduced"
        return "not reproduced (CLR did better here)" if ours == "yes" else "not reproduced"

    def cycle_phase_accuracy(self, policy: str) -> dict:
        """Mean test accuracy (%, over seeds and cycles) at the LR peaks (``it`` an odd multiple
        of step_size) and at the cycle ends (even multiples, LR back at base_lr); None where the
        evaluation grid has no such point."""
        ss = self.config["step_size"]
        m = self.mean_history(policy)
        peaks = [a for it, a in zip(m.eval_iters, m.test_acc) if it % ss == 0 and (it // ss) % 2 == 1]
        ends = [a for it, a in zip(m.eval_iters, m.test_acc) if it % ss == 0 and (it // ss) % 2 == 0]
        return {"peak": float(np.mean(peaks)) if peaks else None,
                "end": float(np.mean(ends)) if ends else None,
                "n_peaks": len(peaks), "n_ends": len(ends)}

    def summary(self) -> list:
        """One plain dict per policy: iterations, final mean/std/n, diverged seeds, and (CLR
        policies) the iteration at which the seed-mean curve reaches the fixed-LR accuracy."""
        rows = []
        for p in ("fixed",) + tuple(self.policies):
            mean, sd, n = self.final(p)
            row = dict(policy=p, iterations=self.iterations(p), final_mean=mean, final_std=sd,
                       n=n, diverged=self.diverged(p), reached_at=None, iteration_ratio=None,
                       seeds_reached=None)
            if p != "fixed":
                r = self.reach(p)
                row.update(reached_at=r["fast_iterations"], iteration_ratio=r["iteration_ratio"],
                           seeds_reached=f"{r['seeds_reached']} of {r['n_seeds']}")
            rows.append(row)
        return rows


# --------------------------------------------------------------------------- running

def run(profile: str | None, seeds: Sequence[int] | None = None, device="auto", store: Store | None = None,
        progress: bool = False, policies: Iterable[str] | None = None, **knobs) -> Study:
    """Train (or load from the results store) every run of the study and return a :class:`Study`.

    ``seeds``: None is the chapter's (:data:`CHAPTER`); ``knobs``: overrides of :data:`CONFIGS`
    (``None`` = the profile's value). Everything is validated before the first run starts.
    """
    cfg = config(profile, **knobs)
    pols = check_policies(policies)
    seeds = CHAPTER.seeds_or_default(cfg["profile"], seeds)
    all_specs = {p: [spec(p, cfg, s) for s in seeds] for p in ("fixed",) + pols}
    for ss in all_specs.values():  # validate every schedule before any work
        experiments.build_schedule(ss[0]["schedule"])
    st = Study(profile=cfg["profile"], config=cfg, seeds=seeds, policies=pols, specs=all_specs)
    for p, ss in all_specs.items():
        st.histories[p] = [experiments.run(s, cfg["profile"], device=device, store=store,
                                           progress=progress) for s in ss]
    return st


def load(profile: str | None, seeds: Sequence[int] | None = None, store: Store | None = None,
         policies: Iterable[str] | None = None, **knobs) -> Study | None:
    """The study from stored results only (no training), for showing e.g. paper-profile runs
    made elsewhere.

    Of ``seeds`` (None: the chapter's) keeps those whose fixed-LR run is stored, and the CLR
    policies (``policies``, default: all of :data:`CLR_POLICIES`) stored for every kept seed.
    ``None`` when nothing is stored.
    """
    cfg = config(profile, **knobs)
    seeds = CHAPTER.seeds_or_default(cfg["profile"], seeds)
    candidates = CLR_POLICIES if policies is None else check_policies(policies)
    store = store or Store()

    def get(p, s):
        return store.get(spec(p, cfg, s), cfg["profile"])

    fixed = {s: get("fixed", s) for s in seeds}
    kept = [s for s in seeds if fixed[s] is not None]
    if not kept:
        return None
    histories = {"fixed": [fixed[s] for s in kept]}
    for p in candidates:
        hs = [get(p, s) for s in kept]
        if all(h is not None for h in hs):
            histories[p] = hs
    pols = tuple(p for p in candidates if p in histories)
    if not pols:
        return None
    return Study(profile=cfg["profile"], config=cfg, seeds=kept, policies=pols,
                 specs={p: [spec(p, cfg, s) for s in kept] for p in histories}, histories=histories)


def torch_max_rel_diff(sched: schedules.CLR, iterations: int) -> float:
    """Largest relative difference between ``sched.lr(it)`` and the LR that
    ``torch.optim.lr_scheduler.CyclicLR`` (same bounds, steps, mode, gamma) gives the optimizer
    for batches ``0 .. iterations-1`` (the schedule's ``total_steps`` is ignored: CyclicLR
    has none). (exp_range with ``exp_range_shrinks='both'`` has no
    torch counterpart.)"""
    if not isinstance(sched, schedules.CLR) or sched.exp_range_shrinks != "amplitude":
        raise ValueError("torch_max_rel_diff needs a schedules.clr(...) with exp_range_shrinks='amplitude'")
    sched = dataclasses.replace(sched, total_steps=None)  # CyclicLR cycles forever; ours would hold
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=sched.base_lr, momentum=0.9)
    ref = torch.optim.lr_scheduler.CyclicLR(
        opt, base_lr=sched.base_lr, max_lr=sched.max_lr, step_size_up=sched.step_size,
        step_size_down=sched.step_size_down, mode=sched.mode, gamma=sched.gamma,
        cycle_momentum=False)
    worst = 0.0
    for it in range(iterations):
        theirs = opt.param_groups[0]["lr"]
        ours = sched.lr(it)
        worst = max(worst, abs(ours - theirs) / max(abs(theirs), 1e-300))
        opt.step()
        ref.step()
    return worst


def paper_budgets() -> dict:
    """The CLR paper's CIFAR-10 budgets (FACTS §1), which the paper profile runs as they are."""
    return {"fixed_iterations": int(paper.CLR_BASELINE_SOLVER["max_iter"]),
            "clr_iterations_paper": int(paper.get("clr.table1.cifar10.triangular2").context["iterations"]),
            "step_size": PAPER_STEP_SIZE, "epoch_iterations": 50_000 // PAPER_NET["batch_size"]}


__all__ = ["POLICIES", "CLR_POLICIES", "DEFAULT_POLICIES", "CONFIGS", "KNOBS", "MOMENTUM", "CHAPTER",
           "default_seeds", "command",
           "PAPER_STEP_SIZE", "PAPER_GAMMA", "config", "check_policies", "schedule_spec", "schedule",
           "spec", "specs", "setup_text", "iterations_per_epoch", "mean_history", "Study", "run", "load", "torch_max_rel_diff",
           "paper_budgets"]


# --------------------------------------------------------------------------- scorecard

#: claim id -> (our CLR policy, the paper's CLR fact, the paper's fixed-LR fact it is compared with)
CLAIM_POLICIES = {
    "clr.table1.cifar10.triangular2": ("triangular2", "clr.table1.cifar10.triangular2", "clr.table1.cifar10.fixed"),
    "clr.table1.cifar10.fixed": ("triangular2", "clr.table1.cifar10.triangular2", "clr.table1.cifar10.fixed"),
    "clr.table1.cifar10.exp_range": ("exp_range", "clr.table1.cifar10.exp_range", "clr.table1.cifar10.fixed"),
    "clr.table3.nesterov.triangular.25k": ("triangular", "clr.table3.nesterov.triangular.25k",
                                           "clr.table3.nesterov.fixed.70k"),
    "clr.table3.nesterov.fixed.70k": ("triangular", "clr.table3.nesterov.triangular.25k",
                                      "clr.table3.nesterov.fixed.70k"),
}
FINDING_RULE = ("the paper's outcome is whether its CLR run reached the fixed-LR accuracy in fewer iterations; "
                "reproduced if ours (seed-mean curves, fixed LR at the lower CLR bound) has the same outcome, "
                "partly if only some seeds reach it, not reproduced otherwise")


def findings(profile: str = "laptop", store: Store | None = None) -> list:
    """Scorecard findings for the CLR-table claims chapter 1 tests (:data:`CLAIM_POLICIES`),
    from stored results only (the chapter's default seeds)."""
    profile = experiments.resolve_profile(profile)
    st = load(profile, store=store, policies=CLR_POLICIES)
    out = []
    for cid, (policy, k_clr, k_fixed) in CLAIM_POLICIES.items():
        name = f"{policy} CLR vs a fixed LR"
        if st is None or policy not in st.histories:
            out.append(CHAPTER.not_run(cid, profile, FINDING_RULE, experiment=name))
            continue
        reached = paper.get(k_clr).value >= paper.get(k_fixed).value
        r = st.reach(policy)
        (fm, fs, fn), (cm, cs, cn) = st.final("fixed"), st.final(policy)
        ours = (f"{policy} {verdicts.mean_text(cm, cs, cn, unit=' %')} in {st.iterations(policy):,} it vs fixed "
                f"{verdicts.mean_text(fm, fs, fn, unit=' %')} in {st.iterations('fixed'):,} it; ")
        ours += (f"reached the fixed-LR accuracy at iteration {r['fast_iterations']:,}"
                 if r["fast_iterations"] is not None else
                 f"{r['seeds_reached']} of {r['n_seeds']} seeds reached the fixed-LR accuracy")
        word = st.verdict(policy, reached)
        word = "not reproduced" if word.startswith("not reproduced") else word
        out.append(Finding(cid, profile, ours, word, FINDING_RULE, setup_text(st.config), name,
                           **base.evidence(st.specs[policy], st.specs["fixed"])))
    return out


__all__ += ["findings", "FINDING_RULE", "CLAIM_POLICIES"]


#: The chapter's verdict rules as data: printed before the chapter trains, quoted by the scorecard.
RULES = {"CLR vs a fixed LR (each of the CLR paper's comparisons)": FINDING_RULE}

__all__ += ["RULES"]
