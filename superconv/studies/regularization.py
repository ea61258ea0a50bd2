"""Chapter 4, the regularization balance: with a large LR, must other regularizers shrink?

The question (Super-Convergence §4-5; Smith, arXiv 1803.09820 §4.4/§5; FACTS §2-4): large
learning rates regularize, so the total regularization has to stay balanced -- with
super-convergence the other regularizers (weight decay, small batches, dropout) should be
*reduced*. The paper's evidence: the authors' ResNet-56 CLR logs (WD 1e-3 diverged, 1e-4 best,
1e-5 / 1e-6 worse), and the 1cycle runs of DenseNet (WD 1e-6) and ImageNet (WD 3e-6), far below
the usual 1e-4.

Two experiments:

1. **Weight-decay sweep** under 1cycle and under PC-LR (:func:`run_weight_decay_sweep`): test
   accuracy and generalization gap (train − test accuracy) per WD, mean ± std over seeds; the
   optimum WD of each policy; :func:`compare_optima` says whether the optimum moves lower under
   1cycle (the verdict rule below).
2. **Batch size** under 1cycle at a fixed number of epochs, LR schedule unchanged
   (:func:`run_batch_sweep`): a smaller batch means more gradient noise per unit of LR, i.e.
   more regularization.

Budget (laptop profile). The profile's PC-LR headline run is 6,400 iterations (≈ 5–8 min on
a 2-core CPU): far too long to sweep. At the ``smoke`` and ``laptop`` profiles both policies
therefore run at the *same, reduced* iteration budget, :data:`CONFIG`'s ``iterations`` (laptop:
320 = 0.4 of the 1cycle headline run of 800; PC-LR's milestones are scaled by the same factor that
maps 6,400 to 320). At the ``paper`` profile the sweep uses the full headline runs (10k CLR vs 80k
PC-LR, the authors' setting), so its WD 1e-4 runs are exactly chapter 3's and are shared.

The *WD dose*. A weight that only felt weight decay would shrink by ``Π(1 − lr_t·wd) ≈
exp(−wd·Σ_t lr_t)``: the dimensionless ``wd × summed LR`` (:func:`summed_lr`) says how much a WD
acts over a whole run. It lets a short laptop run be set beside the authors' 10k-iteration runs.

Verdict rule (:func:`compare_optima`). The optimum WD of a policy is the WD with the highest
mean test accuracy among those where no seed diverged. With ``w1`` the 1cycle optimum and
``w2`` the PC-LR optimum, and *noise* of a comparison = the larger of the two cells' seed std
and the test set's sampling std ``100·√(p(1−p)/n)``:

* **reproduced** -- ``w1 < w2``, 1cycle prefers ``w1`` over ``w2`` and PC-LR prefers ``w2``
  over ``w1``, each by more than the noise (a diverged cell counts as infinitely worse);
* **same optimum** -- ``w1 == w2`` (allowed by the paper's "smaller or equal", but no shift);
* **within noise** -- the optima differ but a margin does not exceed the noise;
* **not reproduced** -- ``w1 > w2`` with both margins above the noise.

API::

    cfg = config("laptop")                       # grids, iterations, evaluations per run
    sweep = run_weight_decay_sweep("laptop", seeds=[0, 1])
    sweep["summary"]                             # one dict per (policy, WD): mean/std/gap/status
    sweep["optimum"]["one_cycle"]                # {"weight_decay", "acc_mean", "at_edge", ...}
    sweep["comparison"]["verdict"]               # the rule above, and a sentence
    batch = run_batch_sweep("laptop", seeds=[0, 1])
    stored("paper")                              # paper-profile results in the store, or None
    sweep_field("laptop", "one_cycle", "crop_pad", [0, 2, 4], seeds=[0])   # exercises
"""

from __future__ import annotations

import copy
import math
from typing import Any, Iterable, Sequence

from .. import _checks, chapter, data, experiments, models
from ..results import Store
from ..train import History
from ..verdicts import Finding, from_conditions
from . import base

POLICIES = ("one_cycle", "pc_lr")
LABELS = {"one_cycle": "1cycle", "pc_lr": "PC-LR"}

#: Per profile: the WD grid, the iterations of each policy in the sweep (None: the profile's
#: full headline run), the batch sizes of experiment 2, and evaluations on the test split per
#: run (None: the profile's default, ``experiments.EVALS_PER_RUN``).
CONFIG: dict = {
    "smoke": dict(weight_decays=[1e-2, 1e-3, 1e-4], iterations={"one_cycle": 20, "pc_lr": 20},
                  batch_sizes=[25, 50, 100], evals=2),
    # 1e-2 .. 1e-4: in a 320-iteration 1cycle run (summed LR 147) this spans WD x summed LR
    # 1.5 .. 0.015, the doses of the authors' 1e-4 .. 1e-6 at 10k iterations; below, WD barely acts
    "laptop": dict(weight_decays=[1e-2, 3e-3, 1e-3, 3e-4, 1e-4], iterations={"one_cycle": 320, "pc_lr": 320},
                   batch_sizes=[64, 128, 256], evals=2),
    # the authors' log sweep (FACTS §2) at the headline lengths; batch sizes of their Fig. 5 runs
    "paper": dict(weight_decays=[1e-3, 1e-4, 1e-5, 1e-6], iterations={"one_cycle": None, "pc_lr": None},
                  batch_sizes=[256, 512, 1000, 1536], evals=None),
}

#: The chapter, with its seeds when the notebook's SEEDS is None. Laptop: 2 seeds x 5 WDs x 2
#: policies x 320 it (≈ 20 runs x 17 s at ~3,000 img/s) + 4 batch-size runs (≈ 75 s) keep the
#: chapter near 7 minutes on a 2-core CPU.
#: Paper: one seed, as the authors' own logs (PC-LR is 80k iterations per WD).
CHAPTER = base.Chapter(
    "chapters/04_regularization_balance.ipynb", seeds={"smoke": [0], "laptop": [0, 1], "paper": [0]},
    knobs=dict(WEIGHT_DECAYS=chapter.list_of(chapter.positive), ITERATIONS=chapter.positive_int,
               MAX_LR=chapter.positive, CROP_PAD=chapter.one_of(0, 1, 2, 3, 4),
               BATCH_SIZES=chapter.list_of(chapter.positive_int)),
    validate=lambda profile, v: validate_knobs(
        profile, weight_decays=v["WEIGHT_DECAYS"], iterations=v["ITERATIONS"], max_lr=v["MAX_LR"],
        crop_pad=v["CROP_PAD"], batch_sizes=v["BATCH_SIZES"]))
default_seeds, command = CHAPTER.default_seeds, CHAPTER.command


# --------------------------------------------------------------------------- configs

def config(profile: str | None) -> dict:
    """A copy of :data:`CONFIG` for ``profile`` (None: ``$SUPERCONV_PROFILE``, else laptop)."""
    return copy.deepcopy(CONFIG[experiments.resolve_profile(profile)])


def _check_positive(name: str, values: Iterable, integer: bool = False) -> list:
    """``values`` as a list if they are distinct and each > 0 (``integer``: integers >= 1), at
    least one; the values are kept as given (they go into run specs)."""
    values = list(values)
    _checks.list_of(_checks.positive_int if integer else _checks.positive, unique=True)(name, values)
    return values


def sweep_spec(profile: str | None, policy: str, weight_decay: float | None = None, seed: int = 0, *,
               iterations: int | None = None, max_lr: float | None = None,
               crop_pad: int | None = None) -> dict:
    """The spec of one sweep run: the profile's ``policy`` run, shortened to the sweep's
    iterations with :func:`experiments.scale_schedule`, at ``weight_decay`` (None: the profile's).

    ``max_lr`` replaces the peak LR of the 1cycle/CLR schedule (PC-LR has none: ignored);
    ``iterations`` overrides :data:`CONFIG`'s. At the full length, with no other change, the
    spec is exactly ``experiments.make_spec(profile, policy, seed=seed)`` (shared with chapter 3).
    """
    profile = experiments.resolve_profile(profile)
    _checks.choice("policy", policy, POLICIES)
    cfg = CONFIG[profile]
    base = experiments.make_spec(profile, policy)
    n = iterations if iterations is not None else cfg["iterations"][policy]
    n = base["iterations"] if n is None else n
    _checks.positive_int("iterations", n)
    overrides: dict = dict(weight_decay=weight_decay, seed=seed, crop_pad=crop_pad)
    if n != base["iterations"]:
        overrides["iterations"] = n
        overrides["schedule"] = experiments.scale_schedule(base["schedule"], n / base["iterations"])
    if max_lr is not None and policy == "one_cycle" and max_lr != base["schedule"].get("max_lr"):
        sched = dict(overrides.get("schedule", base["schedule"]))
        if "max_lr" not in sched:
            raise ValueError(f"the {profile} profile's {policy} schedule has no max_lr to change")
        if max_lr <= sched.get("base_lr", 0):
            raise ValueError(f"max_lr={max_lr} must exceed the schedule's base_lr={sched.get('base_lr')}")
        sched["max_lr"] = float(max_lr)
        overrides["schedule"] = sched
    if cfg["evals"] is not None:
        overrides["eval_every"] = max(1, n // cfg["evals"])
    return experiments.make_spec(profile, policy, **overrides)


def batch_spec(profile: str | None, batch_size: int, seed: int = 0, *, weight_decay: float | None = None,
               iterations: int | None = None, max_lr: float | None = None,
               crop_pad: int | None = None) -> dict:
    """A 1cycle run at ``batch_size`` over the same number of *epochs* as the sweep's 1cycle run
    at the profile's batch: iterations x (profile batch / batch_size), the schedule stretched
    alike, the LR values unchanged (no linear scaling). At the profile's batch it *is* the
    sweep's 1cycle run (shared)."""
    ref = sweep_spec(profile, "one_cycle", weight_decay, seed, iterations=iterations, max_lr=max_lr,
                     crop_pad=crop_pad)
    _checks.positive_int("batch_size", batch_size)
    if batch_size == ref["batch_size"]:
        return ref
    profile = experiments.resolve_profile(profile)
    n = max(1, round(ref["iterations"] * ref["batch_size"] / batch_size))
    spec = copy.deepcopy(ref)
    spec["batch_size"] = batch_size
    spec["iterations"] = n
    spec["schedule"] = experiments.scale_schedule(ref["schedule"], n / ref["iterations"])
    evals = CONFIG[profile]["evals"] or experiments.EVALS_PER_RUN[profile]
    spec["eval_every"] = max(1, n // evals)
    return spec


def summed_lr(spec: dict) -> float:
    """Σ lr_t over the run's iterations: ``wd × summed_lr`` is the run's dimensionless WD dose."""
    sched = experiments.build_schedule(spec["schedule"])
    return float(sum(sched.lr(it) for it in range(spec["iterations"])))


epochs = experiments.epochs              # passes over the training set of a spec
n_test_images = experiments.test_images  # test images a spec's accuracy is measured on


def sampling_std(acc: float | None, n: int) -> float:
    """Binomial std (points) of an accuracy ``acc`` % measured on ``n`` images."""
    if acc is None or not math.isfinite(acc) or n < 1:
        return 0.0
    p = min(max(acc / 100.0, 0.0), 1.0)
    return 100.0 * math.sqrt(p * (1.0 - p) / n)


def fmt_wd(wd: float) -> str:
    """``1e-4 -> '1e-4'``, ``3e-3 -> '3e-3'``, ``2.5e-4 -> '2.5e-4'`` (WD values as the paper prints them)."""
    mant, exp = f"{wd:e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}"


def model_data_text(spec: dict) -> str:
    """``"ResNet-8 w16, Fashion-MNIST 10,000 train / 10,000 test images"``."""
    width = spec["model_kwargs"].get("width")
    model = models.label(spec["model"]) + (f" w{width}" if width else "")
    train = f"{experiments.train_images(spec):,}"
    return (f"{model}, {data.title(spec['dataset'])} {train} train / "
            f"{n_test_images(spec):,} test images")


def setup_text(sweep: dict) -> str:
    """A caption fragment for the sweep's runs: model, data, batch, iterations (and epochs)."""
    one, pc = sweep["specs"]["one_cycle"], sweep["specs"]["pc_lr"]
    if one["iterations"] == pc["iterations"]:
        its = f"{one['iterations']:,} iterations per run ({epochs(one):.1f} epochs), both policies"
    else:
        its = f"1cycle {one['iterations']:,} / PC-LR {pc['iterations']:,} iterations per run"
    aug = "flips" + (f" + pad-and-crop {one['crop_pad']}" if one["crop_pad"] else "")
    return f"{model_data_text(one)}, batch {one['batch_size']}, {its}, {aug}"


# --------------------------------------------------------------------------- running

def _row(history: History | None, spec: dict, **labels) -> dict:
    """One run as a flat dict (accuracies in %, None where a run diverged or is missing)."""
    if history is None:
        return dict(labels, missing=True, diverged=False, test_acc=None, best_acc=None, train_acc=None,
                    gap=None, diverged_at=None, iterations=spec["iterations"], wall_time=None)
    div = bool(history.diverged)
    return dict(labels, missing=False, diverged=div,
                test_acc=None if div else history.final_test_acc,
                best_acc=history.best_test_acc,  # best evaluation (before diverging, if it did)
                train_acc=None if div else history.train_acc,
                gap=None if div else history.generalization_gap,
                diverged_at=history.diverged_at, iterations=history.iterations,
                wall_time=history.wall_time)


def _run_or_load(spec: dict, profile: str, device, store: Store, progress: bool, train: bool) -> History | None:
    if train:
        return experiments.run(spec, profile, device=device, store=store, progress=progress)
    return store.get(spec, profile)


def summarize(rows: Sequence[dict], keys: Sequence[str]) -> list:
    """One dict per distinct ``keys`` combination (in first-seen order): n, n_diverged,
    n_missing, acc_mean/acc_std (finite runs only; NaN if none), gap_mean/gap_std,
    train_mean, best_before_divergence, status ("ok" / "diverged" / "k/n diverged" / "missing")."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, rs in groups.items():
        present = [r for r in rs if not r["missing"]]
        ndiv = sum(r["diverged"] for r in present)
        acc_m, acc_s, _ = experiments.mean_std(r["test_acc"] for r in present)
        gap_m, gap_s, _ = experiments.mean_std(r["gap"] for r in present)
        tr_m, _, _ = experiments.mean_std(r["train_acc"] for r in present)
        best = [r["best_acc"] for r in present if r["diverged"] and r["best_acc"] is not None]
        if not present:
            status = "missing"
        elif ndiv == 0:
            status = "ok"
        elif ndiv == len(present):
            status = "diverged"
        else:
            status = f"{ndiv}/{len(present)} diverged"
        out.append(dict(zip(keys, key), n=len(rs), n_diverged=ndiv, n_missing=len(rs) - len(present),
                        acc_mean=acc_m, acc_std=acc_s, gap_mean=gap_m, gap_std=gap_s, train_mean=tr_m,
                        best_before_divergence=max(best) if best else None, status=status))
    return out


def optimum(summary: Sequence[dict], policy: str, key: str = "weight_decay") -> dict | None:
    """The cell of ``policy`` with the highest mean test accuracy among those where every run
    finished without diverging (None: no such cell). ``at_edge``: it is the smallest or largest
    ``key`` of the grid, so the true optimum may lie beyond it."""
    cells = [c for c in summary if c["policy"] == policy]
    ok = [c for c in cells if c["status"] == "ok" and math.isfinite(c["acc_mean"])]
    if not ok:
        return None
    best = max(ok, key=lambda c: c["acc_mean"])
    grid = sorted(c[key] for c in cells)
    return dict(best, at_edge=len(grid) > 1 and best[key] in (grid[0], grid[-1]))


def _cell(summary: Sequence[dict], policy: str, value: float, key: str = "weight_decay") -> dict | None:
    return next((c for c in summary if c["policy"] == policy and c[key] == value), None)


def _margin(summary, policy: str, better: float, worse: float, n_test: int,
            key: str = "weight_decay") -> tuple[float, float]:
    """(acc(better) − acc(worse), noise) under ``policy``; a diverged ``worse`` gives +inf."""
    a, b = _cell(summary, policy, better, key), _cell(summary, policy, worse, key)
    if a is None or b is None or not math.isfinite(a["acc_mean"]):
        return math.nan, math.nan
    noise_a = max(a["acc_std"], sampling_std(a["acc_mean"], n_test))
    if b["status"] != "ok" or not math.isfinite(b["acc_mean"]):
        return math.inf, noise_a
    noise = max(noise_a, b["acc_std"], sampling_std(b["acc_mean"], n_test))
    return a["acc_mean"] - b["acc_mean"], noise


def compare_optima(summary: Sequence[dict], n_test: int, key: str = "weight_decay", name: str = "WD") -> dict:
    """The chapter's verdict on "the optimum WD moves lower under 1cycle" (rule: module doc).

    Returns w_one_cycle, w_pc_lr (None if a policy has no finished cell), margin_one_cycle
    (1cycle: acc(w1) − acc(w2)), margin_pc_lr (PC-LR: acc(w2) − acc(w1)), the noise of each,
    at_edge flags, ``verdict`` (a short label) and ``sentence`` (for the prose). ``key`` /
    ``name``: the same rule for another swept regularizer (e.g. :func:`sweep_field`'s "value").
    """
    fmt = fmt_wd if key == "weight_decay" else (lambda v: f"{v:g}")
    o1, o2 = optimum(summary, "one_cycle", key), optimum(summary, "pc_lr", key)
    out: dict = dict(w_one_cycle=o1 and o1[key], w_pc_lr=o2 and o2[key],
                     margin_one_cycle=math.nan, margin_pc_lr=math.nan, noise_one_cycle=math.nan,
                     noise_pc_lr=math.nan, edge_one_cycle=bool(o1 and o1["at_edge"]),
                     edge_pc_lr=bool(o2 and o2["at_edge"]))
    if o1 is None or o2 is None:
        missing = " and ".join(LABELS[p] for p, o in (("one_cycle", o1), ("pc_lr", o2)) if o is None)
        out.update(verdict="no verdict",
                   sentence=f"No verdict: every {name} diverged (or is missing) under {missing}.")
        return out
    w1, w2 = o1[key], o2[key]
    if w1 == w2:
        out.update(margin_one_cycle=0.0, margin_pc_lr=0.0, verdict="same optimum",
                   sentence=f"Both policies peak at the same {name}, {fmt(w1)}: the optimum does not move "
                            "on our setup (the paper's claim allows \"smaller or equal\", but we see no shift).")
        return out
    m1, n1 = _margin(summary, "one_cycle", w1, w2, n_test, key)
    m2, n2 = _margin(summary, "pc_lr", w2, w1, n_test, key)
    out.update(margin_one_cycle=m1, margin_pc_lr=m2, noise_one_cycle=n1, noise_pc_lr=n2)
    resolved = m1 > n1 and m2 > n2
    lower = w1 < w2

    def pts(m: float) -> str:
        return "diverged there" if math.isinf(m) else f"{m:.1f} points"

    a, b = fmt(w1), fmt(w2)
    detail = (f"1cycle peaks at {name} {a}, PC-LR at {b}; 1cycle prefers {a} over {b} by "
              f"{pts(m1)} (noise {n1:.1f}), PC-LR prefers {b} over {a} by {pts(m2)} (noise {n2:.1f})")
    if resolved and lower:
        out.update(verdict="reproduced", sentence=f"Reproduced: the optimum {name} is lower under 1cycle. {detail}.")
    elif resolved:
        out.update(verdict="not reproduced",
                   sentence=f"Not reproduced: the optimum {name} is higher under 1cycle. {detail}.")
    else:
        way = "the paper's direction" if lower else "the opposite direction"
        out.update(verdict="within noise",
                   sentence=f"Within noise: the optima differ in {way}, but not by more than the "
                            f"seed-to-seed and test-sampling noise. {detail}.")
    return out


def run_weight_decay_sweep(profile: str | None, seeds: Sequence[int] | None = None, device="auto", *,
                           weight_decays: Sequence[float] | None = None, iterations: int | None = None,
                           max_lr: float | None = None, crop_pad: int | None = None,
                           store: Store | None = None, progress: bool = False, train: bool = True) -> dict:
    """Experiment 1: every (policy, WD, seed) run, trained once (or loaded from the store).

    ``train=False`` only loads what the store holds (``complete`` says whether all was there).
    ``iterations`` sets both policies' length (None: :data:`CONFIG`). Returns plain data:
    ``rows`` (one per run), ``summary`` (per policy and WD), ``optimum`` (per policy),
    ``comparison`` (:func:`compare_optima`), and ``summed_lr`` / ``iterations`` / ``specs``
    (one spec per policy, seed 0 at the profile's WD) to describe the runs.
    """
    profile = experiments.resolve_profile(profile)
    cfg = CONFIG[profile]
    seeds = CHAPTER.seeds_or_default(profile, seeds)
    wds = _check_positive("weight_decays", cfg["weight_decays"] if weight_decays is None else weight_decays)
    wds = sorted(wds, reverse=True)
    store = store or Store()
    rows = []
    for policy in POLICIES:
        for wd in wds:
            for s in seeds:
                spec = sweep_spec(profile, policy, wd, s, iterations=iterations, max_lr=max_lr, crop_pad=crop_pad)
                h = _run_or_load(spec, profile, device, store, progress, train)
                rows.append(_row(h, spec, policy=policy, weight_decay=wd, seed=s))
    ref = {p: sweep_spec(profile, p, None, seeds[0], iterations=iterations, max_lr=max_lr, crop_pad=crop_pad)
           for p in POLICIES}
    summary = summarize(rows, ("policy", "weight_decay"))
    sl = {p: summed_lr(ref[p]) for p in POLICIES}
    for c in summary:
        c["dose"] = c["weight_decay"] * sl[c["policy"]]
    n_test = n_test_images(ref["one_cycle"])
    return dict(profile=profile, seeds=seeds, weight_decays=wds, rows=rows, summary=summary,
                optimum={p: optimum(summary, p) for p in POLICIES},
                comparison=compare_optima(summary, n_test), n_test=n_test,
                summed_lr=sl, iterations={p: ref[p]["iterations"] for p in POLICIES},
                epochs={p: epochs(ref[p]) for p in POLICIES}, specs=ref,
                complete=not any(r["missing"] for r in rows),
                wall_time=sum(r["wall_time"] or 0.0 for r in rows))


def run_batch_sweep(profile: str | None, seeds: Sequence[int] | None = None, device="auto", *,
                    batch_sizes: Sequence[int] | None = None, weight_decay: float | None = None,
                    iterations: int | None = None, max_lr: float | None = None, crop_pad: int | None = None,
                    store: Store | None = None, progress: bool = False, train: bool = True) -> dict:
    """Experiment 2: 1cycle at each batch size, same epochs, same LR schedule (:func:`batch_spec`).

    Returns ``rows``, ``summary`` (per batch size, with ``iterations`` and ``epochs``),
    ``best`` (the batch size with the highest mean accuracy among finished cells, or None),
    ``gap_trend`` (+1 if the mean gap rises with batch size at every step, −1 if it falls at
    every step, 0 otherwise), ``gap_change`` (largest batch's gap − smallest batch's; NaN if
    one diverged) and ``gap_noise`` (larger of their seed stds and the test sampling std),
    ``complete``, ``epochs``.
    """
    profile = experiments.resolve_profile(profile)
    cfg = CONFIG[profile]
    seeds = CHAPTER.seeds_or_default(profile, seeds)
    sizes = sorted(_check_positive("batch_sizes", cfg["batch_sizes"] if batch_sizes is None else batch_sizes,
                                   integer=True))
    store = store or Store()
    rows, its = [], {}
    for b in sizes:
        for s in seeds:
            spec = batch_spec(profile, b, s, weight_decay=weight_decay, iterations=iterations, max_lr=max_lr,
                              crop_pad=crop_pad)
            if spec["train_size"] is not None and b > spec["train_size"]:
                raise ValueError(f"batch_sizes has {b}, larger than the {spec['train_size']} training images")
            its[b] = spec["iterations"]
            h = _run_or_load(spec, profile, device, store, progress, train)
            rows.append(_row(h, spec, policy="one_cycle", batch_size=b, seed=s))
    summary = summarize(rows, ("batch_size",))
    ref = batch_spec(profile, sizes[0], seeds[0], weight_decay=weight_decay, iterations=iterations,
                     max_lr=max_lr, crop_pad=crop_pad)
    for c in summary:
        c["iterations"] = its[c["batch_size"]]
        c["epochs"] = epochs(dict(ref, iterations=its[c["batch_size"]], batch_size=c["batch_size"]))
    ok = [c for c in summary if c["status"] == "ok" and math.isfinite(c["acc_mean"])]
    best = max(ok, key=lambda c: c["acc_mean"])["batch_size"] if ok else None
    gaps = [c["gap_mean"] for c in summary]
    trend = 0
    if len(gaps) > 1 and all(math.isfinite(g) for g in gaps):
        steps = [b - a for a, b in zip(gaps, gaps[1:])]
        trend = 1 if all(d > 0 for d in steps) else -1 if all(d < 0 for d in steps) else 0
    first, last = summary[0], summary[-1]
    gap_change = last["gap_mean"] - first["gap_mean"]
    n_test = n_test_images(ref)
    gap_noise = max([v for v in (first["gap_std"], last["gap_std"]) if math.isfinite(v)]
                    + [sampling_std(first["acc_mean"], n_test), sampling_std(last["acc_mean"], n_test)])
    return dict(profile=profile, seeds=seeds, batch_sizes=sizes, rows=rows, summary=summary, best=best,
                gap_trend=trend, gap_change=gap_change, gap_noise=gap_noise,
                weight_decay=ref["weight_decay"], epochs=summary[0]["epochs"],
                n_test=n_test_images(ref), complete=not any(r["missing"] for r in rows),
                wall_time=sum(r["wall_time"] or 0.0 for r in rows))


def stored(profile: str = "paper", seeds: Sequence[int] | None = None, store: Store | None = None) -> dict | None:
    """Both experiments at ``profile`` if *every* run is already in the store (nothing is
    trained); None otherwise. ``{"weight_decay": ..., "batch": ...}``."""
    wd = run_weight_decay_sweep(profile, seeds, store=store, train=False)
    bs = run_batch_sweep(profile, seeds, store=store, train=False)
    if not (wd["complete"] and bs["complete"]):
        return None
    return {"weight_decay": wd, "batch": bs}


def sweep_field(profile: str | None, policy: str, field: str, values: Sequence[Any],
                seeds: Sequence[int] | None = None, device="auto", *, weight_decay: float | None = None,
                iterations: int | None = None, store: Store | None = None, progress: bool = False) -> dict:
    """A sweep over any spec field (``crop_pad``, ``flip``, ``train_size``, ...) for one policy,
    from the sweep's run at ``weight_decay``: rows and a summary keyed by ``value`` (exercises)."""
    profile = experiments.resolve_profile(profile)
    _checks.choice("policy", policy, POLICIES)
    if field not in experiments.SPEC_DEFAULTS or field in ("schedule", "iterations", "seed"):
        allowed = sorted(set(experiments.SPEC_DEFAULTS) - {"schedule", "iterations", "seed"})
        raise ValueError(f"field={field!r} cannot be swept here; allowed: {', '.join(allowed)}")
    values = list(values)
    if not values:
        raise ValueError("values=[]: at least one value is needed")
    seeds = CHAPTER.seeds_or_default(profile, seeds)
    store = store or Store()
    rows = []
    for v in values:
        for s in seeds:
            spec = sweep_spec(profile, policy, weight_decay, s, iterations=iterations)
            spec[field] = copy.deepcopy(v)
            h = experiments.run(spec, profile, device=device, store=store, progress=progress)
            rows.append(_row(h, spec, policy=policy, value=v, seed=s))
    return dict(profile=profile, field=field, rows=rows, summary=summarize(rows, ("policy", "value")))


# --------------------------------------------------------------------------- paper vs ours

#: The paper's facts behind each row of the chapter's comparison (keys of ``superconv.paper``).
CLAIM_KEYS: dict = {
    "diverges": ("sc.logs.wd.1e-3", "sc.logs.wd.1e-3.max"),
    "less_wd_hurts": ("sc.logs.wd.1e-4", "sc.logs.wd.1e-5", "sc.logs.wd.1e-6"),
    "optimum_lower": ("onecycle.table.cifar10_densenet.0.1-4/22", "imagenet.solver.weight_decay"),
    "batch": ("sc.batch_size.total_batches", "onecycle.batch_study.recommended_batch"),
}


def paper_summed_lr() -> float:
    """Σ lr of the authors' CLR headline run (0.1 -> 3 -> 0.1 over 10k iterations; FACTS §2 [D])."""
    return summed_lr(experiments.make_spec("paper", "one_cycle"))


def claim_rows(sweep: dict, batch: dict) -> list:
    """The chapter's four comparisons as ``{"id", "claim", "short", "ours", "verdict"}`` dicts.

    Rules: *diverges* -- reproduced if some WD diverged under 1cycle where PC-LR did not,
    partly if 1cycle diverged only where PC-LR did too, else not reproduced; *less_wd_hurts* --
    reproduced if 1cycle's optimum is above the grid's smallest WD by more than the noise;
    *optimum_lower* -- :func:`compare_optima`; *batch* -- reproduced if the generalization gap
    rises with batch size at every step and by more than the noise overall (smaller batches
    regularize more), not reproduced if it falls so, else within noise.
    """
    summ, wds, n_test = sweep["summary"], sweep["weight_decays"], sweep["n_test"]
    rows = []

    div = {p: [c["weight_decay"] for c in summ if c["policy"] == p and c["n_diverged"] > 0] for p in POLICIES}
    only = [w for w in div["one_cycle"] if w not in div["pc_lr"]]
    top = max(wds)
    dose_top = top * sweep["summed_lr"]["one_cycle"]
    paper_dose = 1e-3 * paper_summed_lr()
    names = lambda ws: ", ".join(fmt_wd(w) for w in ws)  # noqa: E731
    if only:
        ours, verdict = f"1cycle diverged at WD {names(only)}; PC-LR did not", "reproduced"
    elif div["one_cycle"]:
        ours, verdict = f"both policies diverged at WD {names(div['one_cycle'])}", "partly reproduced"
    else:
        ours = (f"no 1cycle run diverged up to WD {fmt_wd(top)} (WD × summed LR = {dose_top:.2g}, vs "
                f"{paper_dose:.3g} for the paper's diverged 1e-3)")
        verdict = "not reproduced"
    if div["pc_lr"] and not div["one_cycle"]:
        ours += f"; PC-LR diverged at WD {names(div['pc_lr'])}"
    rows.append(dict(id="diverges", claim="Too much WD with a large LR diverges", short="divergence at a large WD",
                     ours=ours, verdict=verdict))

    o = sweep["optimum"]["one_cycle"]
    smallest = min(wds)
    if o is None:
        ours, verdict = "every 1cycle WD diverged", "no verdict"
    elif o["weight_decay"] == smallest:
        ours = f"1cycle is best at the grid's smallest WD, {fmt_wd(smallest)} ({o['acc_mean']:.1f} %)"
        verdict = "not reproduced"
    else:
        m, noise = _margin(summ, "one_cycle", o["weight_decay"], smallest, n_test)
        drop = "diverged" if math.isinf(m) else f"is {m:.1f} points lower (noise {noise:.1f})"
        ours = f"1cycle best at WD {fmt_wd(o['weight_decay'])} ({o['acc_mean']:.1f} %); WD {fmt_wd(smallest)} {drop}"
        verdict = "reproduced" if m > noise else "within noise"
    rows.append(dict(id="less_wd_hurts", claim="Under 1cycle/CLR, less WD than the optimum hurts",
                     short="less WD hurts under 1cycle", ours=ours, verdict=verdict))

    cmp_ = sweep["comparison"]
    if cmp_["w_one_cycle"] is None or cmp_["w_pc_lr"] is None:
        ours = "no finished optimum"
    else:
        edges = [LABELS[p] for p in POLICIES if cmp_[f"edge_{p}"]]
        ours = f"optimum WD: 1cycle {fmt_wd(cmp_['w_one_cycle'])}, PC-LR {fmt_wd(cmp_['w_pc_lr'])}"
        if edges:
            ours += f" ({' and '.join(edges)} at the edge of the grid)"
    rows.append(dict(id="optimum_lower", claim="With super-convergence the optimum WD is lower",
                     short="a lower optimum WD under 1cycle", ours=ours, verdict=cmp_["verdict"]))

    gaps = " / ".join("diverged" if not math.isfinite(c["gap_mean"]) else f"{c['gap_mean']:.1f}"
                      for c in batch["summary"])
    sizes = " / ".join(str(c["batch_size"]) for c in batch["summary"])
    ours = f"gap {gaps} points at batch {sizes}"
    if batch["best"] is not None:
        ours += f"; best test accuracy at batch {batch['best']}"
    change, noise = batch["gap_change"], batch["gap_noise"]
    if not math.isfinite(change):
        verdict = "no verdict"
    elif batch["gap_trend"] == 1 and change > noise:
        verdict = "reproduced"
    elif batch["gap_trend"] == -1 and -change > noise:
        verdict = "not reproduced"
    else:
        verdict = "within noise"
    rows.append(dict(id="batch", claim="Smaller batches regularize more (so large LRs pair with larger batches)",
                     short="smaller batches regularize more", ours=ours, verdict=verdict))
    return rows


def validate_knobs(profile: str | None, *, weight_decays=None, iterations=None, max_lr=None, crop_pad=None,
                   batch_sizes=None) -> None:
    """Build every spec the notebook's knobs imply (cheap, no data) and turn any ``ValueError``
    into one ``chapter.ParameterError`` that names the notebook parameter."""
    profile = experiments.resolve_profile(profile)
    cfg = CONFIG[profile]
    checks = [
        ("WEIGHT_DECAYS", weight_decays, lambda: _check_positive("weight_decays", weight_decays)),
        ("ITERATIONS", iterations, lambda: [sweep_spec(profile, p, iterations=iterations) for p in POLICIES]),
        ("MAX_LR", max_lr, lambda: sweep_spec(profile, "one_cycle", max_lr=max_lr)),
        ("BATCH_SIZES", batch_sizes, lambda: _check_batches(profile, batch_sizes, iterations)),
        ("CROP_PAD", crop_pad, lambda: sweep_spec(profile, "one_cycle", crop_pad=crop_pad)),
    ]
    for name, value, check in checks:
        if value is None:
            continue
        try:
            check()
        except ValueError as e:
            raise chapter.ParameterError(f"{name}={value!r} is not allowed: {e}{chapter.PROFILE_DEFAULT}") from None
    if batch_sizes is None:  # the profile's batch sizes with the given ITERATIONS
        try:
            _check_batches(profile, cfg["batch_sizes"], iterations)
        except ValueError as e:
            raise chapter.ParameterError(f"ITERATIONS={iterations!r} is not allowed with the profile's batch sizes: "
                                         f"{e}{chapter.PROFILE_DEFAULT}") from None


def _check_batches(profile: str, sizes, iterations) -> None:
    sizes = _check_positive("batch_sizes", sizes, integer=True)
    for b in sizes:
        spec = batch_spec(profile, b, 0, iterations=iterations)
        if spec["train_size"] is not None and b > spec["train_size"]:
            raise ValueError(f"batch size {b} is larger than the {spec['train_size']} training images")


__all__ = ["CONFIG", "CHAPTER", "POLICIES", "LABELS", "config", "default_seeds", "command", "sweep_spec", "batch_spec",
           "summed_lr", "epochs", "n_test_images", "sampling_std", "summarize", "optimum", "compare_optima",
           "run_weight_decay_sweep", "run_batch_sweep", "stored", "sweep_field", "validate_knobs",
           "fmt_wd", "setup_text", "model_data_text", "claim_rows", "paper_summed_lr", "CLAIM_KEYS"]


# --------------------------------------------------------------------------- scorecard

FINDING_RULE = ("the chapter's three weight-decay comparisons (too much WD diverges under 1cycle; less WD than "
                "the optimum hurts; the optimum WD is lower under 1cycle): reproduced if all three are, "
                "partly if one or two are, not reproduced if none")


EXPERIMENT = "weight decay and batch size under 1cycle and PC-LR"


def findings(profile: str = "laptop", store: Store | None = None) -> list:
    """Scorecard finding for ``sc.regularization`` from stored results only."""
    profile = experiments.resolve_profile(profile)
    both = stored(profile, store=store)
    if both is None:
        return [CHAPTER.not_run("sc.regularization", profile, FINDING_RULE, experiment=EXPERIMENT)]
    rows = [r for r in claim_rows(both["weight_decay"], both["batch"]) if r["id"] != "batch"]
    word = from_conditions(*(r["verdict"] == "reproduced" for r in rows))
    ours = "; ".join(f"{r['short']}: {r['verdict']} ({r['ours']})" for r in rows)
    return [Finding("sc.regularization", profile, ours, word, FINDING_RULE, setup_text(both["weight_decay"]),
                    EXPERIMENT, seeds=tuple(CHAPTER.default_seeds(profile)))]


__all__ += ["findings", "FINDING_RULE"]


#: The chapter's verdict rules as data: printed before the chapter trains, quoted by the scorecard.
RULES = {"the weight-decay balance": FINDING_RULE}

__all__ += ["RULES"]
