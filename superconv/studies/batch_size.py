"""Chapter 8, batch size: super-convergence at several total batch sizes (Super-Convergence Fig. 5).

The question (Super-Convergence Fig. 5a/b; FACTS §2, §3): how do the final test accuracy and the
*generalization gap* (train accuracy − test accuracy) of a super-convergence run change with the
total batch size? The authors trained their CLR headline solver (ResNet-56, CIFAR-10, one cycle
0.1 -> 3 -> 0.1 over 10k iterations) at total batch 256 / 512 / 1000 / 1536 [D]; the numbers of
their figure were **not found** (``paper.not_found()``: ``sc.batch_size.fig5``), so this study
reports its own and a descriptive trend, and the scorecard verdict is "no paper number".

What is held fixed (``hold``):

* ``"iterations"`` (default, the authors' design): every batch size runs the profile's ladder
  1cycle run unchanged -- same iterations, same LR schedule *in iterations* -- and only the batch
  changes. Their run script keeps the headline CLR solver and changes only the per-GPU batch
  (32 / 64 / 125 / 192 on 8 GPUs). A batch of ``b`` therefore trains ``iterations · b / N``
  epochs: larger batches also see more data.
* ``"epochs"``: iterations × batch held constant (the profile batch's epochs); the schedule is
  stretched in time so it is the same function of the *epoch* at every batch size (as chapter 4's
  batch experiment).

``lr_scaling`` optionally scales the LR values with the batch (``"linear"``: × b / b0,
``"sqrt"``: × √(b / b0), b0 = the profile's batch); the default ``"none"`` keeps them (as the
authors did).

Every run is ``experiments.ladder_spec(profile, "one_cycle", batch_size=b, seed=s, ...)``. At
the profile's own batch (laptop 128, paper 1000) with the defaults it *is* the shared ladder
1cycle run of part 2 (laptop: ResNet-8 w16, Fashion-MNIST 10k, 240 iterations; paper: the
headline 10k-iteration run), so that point costs nothing once chapters 6, 7 or 9 ran it.
Train accuracy comes from ``History.train_acc``: measured by ``train.fit`` at the end of the run
on the first 10,000 training images, without augmentation, BatchNorm in eval mode.

The trend rule (:func:`trend`), stated in the chapter: over the batch sizes in increasing order,
a metric's seed mean *rises* if it increases at every step and its total change (largest batch
minus smallest) exceeds the noise, *falls* if the mirror image holds, is *flat within noise* if
the total change is at most the noise, and is *mixed* otherwise. Noise = the largest of the two
end cells' seed std and the binomial sampling std of their test accuracies on the test images.

API::

    cfg = config("laptop")                        # batch sizes, hold, lr_scaling
    spec = batch_spec("laptop", 512, seed=0)      # one run's spec
    sweep = run_sweep("laptop", seeds=[0, 1])     # trains (or loads) every run -> plain dict
    sweep["summary"]                              # one dict per batch: acc/train/gap mean ± std
    sweep["trends"]["gap"]["sentence"]            # the descriptive rule, in words
    stored("paper")                               # paper-profile results in the store, or None
    findings("laptop")                            # scorecard: claim sc.batch_size
    schedule_in_epochs(spec)                      # (epochs, lr) to draw the schedule
"""

from __future__ import annotations

import copy
import math
from typing import Any, Sequence

import numpy as np

from .. import _checks, chapter, conventions, experiments, paper, verdicts
from ..results import Store
from ..train import History
from . import base
from .regularization import epochs, model_data_text, n_test_images, sampling_std

CLAIM_ID = "sc.batch_size"
HOLDS = ("iterations", "epochs")
LR_SCALINGS = ("none", "linear", "sqrt")

#: Per profile: the total batch sizes, what is held fixed across them, and the LR scaling.
#: Every run evaluates as often as the ladder runs (``experiments.LADDER_EVALS``). Paper: the
#: authors' Fig. 5 batches (FACTS §2 [D]) at their design (same solver, 10k iterations).
CONFIG: dict = {
    "smoke": dict(batch_sizes=[25, 50, 100], hold="iterations", lr_scaling="none"),
    "laptop": dict(batch_sizes=[64, 128, 256, 512], hold="iterations", lr_scaling="none"),
    "paper": dict(batch_sizes=[256, 512, 1000, 1536], hold="iterations", lr_scaling="none"),
}

TREND_WORDS = ("rises", "falls", "flat within noise", "mixed", "undetermined")

RULE = ("no paper number: Fig. 5's accuracies were not found (FACTS §2, §7), so nothing is "
        "compared; ours are reported with a descriptive trend: over increasing batch sizes a "
        "seed mean 'rises' if it increases at every step and its total change exceeds the noise "
        "(largest end-cell seed std or test sampling std), 'falls' for the mirror image, is "
        "'flat within noise' if the total change is at most the noise, else 'mixed'")


# --------------------------------------------------------------------------- configs

def config(profile: str | None) -> dict:
    """A copy of :data:`CONFIG` for ``profile`` (None: ``$SUPERCONV_PROFILE``, else laptop)."""
    return copy.deepcopy(CONFIG[experiments.resolve_profile(profile)])


def check_batch_sizes(name: str, value: Any) -> list:
    """A ``chapter.setup`` checker: a list of distinct integers >= 1."""
    return chapter.list_of(chapter.positive_int, unique=True)(name, value)


#: The chapter, with its seeds when the notebook's SEEDS is None. Laptop: 3 new batch sizes x 240
#: iterations x 2 seeds took 3.9 minutes in a from-scratch build (batch 64 / 256 / 512: about 20 /
#: 32 / 64 s per run), plus the two shared batch-128 ladder runs (~21 s each) if no other chapter
#: computed them.
CHAPTER = base.Chapter("chapters/08_batch_size.ipynb", seeds={"smoke": [0], "laptop": [0, 1], "paper": [0, 1, 2]},
                       knobs=dict(BATCH_SIZES=check_batch_sizes, HOLD=chapter.one_of(*HOLDS),
                                  LR_SCALING=chapter.one_of(*LR_SCALINGS)),
                       validate=lambda profile, v: base.check_plan(lambda: specs(
                           profile, v["BATCH_SIZES"], None, v["HOLD"], v["LR_SCALING"]),
                           names={"batch_size": "BATCH_SIZES", "hold": "HOLD", "lr_scaling": "LR_SCALING"}))
default_seeds, command = CHAPTER.default_seeds, CHAPTER.command


train_size = experiments.train_images  # training images of a spec


def lr_factor(batch_size: int, reference: int, lr_scaling: str) -> float:
    """The LR multiplier of ``lr_scaling`` at ``batch_size`` (reference batch: factor 1)."""
    _checks.choice("lr_scaling", lr_scaling, LR_SCALINGS)
    ratio = batch_size / reference
    return {"none": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[lr_scaling]


def scale_lr(schedule: dict, factor: float) -> dict:
    """The same schedule with every LR value (``lr``, ``base_lr``, ``max_lr``, ``tail_lr``)
    multiplied by ``factor``; momentum and timing unchanged."""
    s = dict(schedule)
    for k in ("lr", "base_lr", "max_lr", "tail_lr"):
        if s.get(k) is not None:
            s[k] = float(f"{float(s[k]) * factor:.12g}")  # 0.1 x 1.536 -> 0.1536, not ...0001
    return s


def batch_spec(profile: str | None, batch_size: int, seed: int = 0, *, hold: str = "iterations",
               lr_scaling: str = "none") -> dict:
    """The spec of one run: the profile's ladder 1cycle run at ``batch_size``.

    ``hold="iterations"``: same iterations and schedule as the ladder run (the authors' design);
    ``hold="epochs"``: iterations = ladder iterations × b0 / ``batch_size`` (rounded), schedule
    stretched alike. ``lr_scaling`` multiplies the LR values by :func:`lr_factor`. Evaluations:
    ``experiments.LADDER_EVALS`` per run, as the ladder run. At the profile's batch ``b0`` the
    spec equals ``experiments.ladder_spec(profile, "one_cycle", seed=seed)`` whatever ``hold``
    and ``lr_scaling`` say. Where the ladder run normalises per-GPU slices (the paper profile),
    BatchNorm sees ``batch_size`` / 8 images, as on the authors' 8 GPUs (``x.sh``: 32 / 64 / 192).
    """
    profile = experiments.resolve_profile(profile)
    _checks.choice("hold", hold, HOLDS)
    _checks.choice("lr_scaling", lr_scaling, LR_SCALINGS)
    _checks.positive_int("batch_size", batch_size)
    ref = experiments.ladder_spec(profile, "one_cycle", seed=seed)
    n_train = train_size(ref)
    if batch_size > n_train:
        raise ValueError(f"batch_size={batch_size} is larger than the {n_train:,} training images of the "
                         f"{profile} profile; allowed: 1..{n_train}")
    b0 = ref["batch_size"]
    if batch_size == b0:
        return ref
    overrides: dict = dict(batch_size=batch_size, seed=seed)
    if ref.get("ghost_batch"):  # the paper profile: the authors' 8 GPUs, each normalising its share
        if batch_size % conventions.GPUS:
            raise ValueError(f"batch_size={batch_size} does not split over the authors' {conventions.GPUS} GPUs; "
                             f"allowed at the paper profile: multiples of {conventions.GPUS}")
        overrides["ghost_batch"] = batch_size // conventions.GPUS
    if hold == "epochs":
        overrides["iterations"] = max(1, round(ref["iterations"] * b0 / batch_size))
        # (ladder_spec stretches the schedule and the evaluation grid to an iterations override)
    spec = experiments.ladder_spec(profile, "one_cycle", **overrides)
    factor = lr_factor(batch_size, b0, lr_scaling)
    if factor != 1.0:
        spec = experiments.ladder_spec(profile, "one_cycle", **overrides,
                                       schedule=scale_lr(spec["schedule"], factor))
    return spec


def specs(profile: str | None, batch_sizes: Sequence[int] | None = None, seeds: Sequence[int] | None = None,
          hold: str | None = None, lr_scaling: str | None = None) -> dict:
    """``{batch_size: [spec per seed]}`` in increasing batch order (None: :data:`CONFIG` /
    the chapter's seeds). Validates everything before any work."""
    cfg = config(profile)
    sizes = (cfg["batch_sizes"] if batch_sizes is None else
             _checks.list_of(_checks.positive_int, unique=True)("batch_sizes", batch_sizes))
    seeds = CHAPTER.seeds_or_default(profile, seeds)
    hold = cfg["hold"] if hold is None else hold
    lr_scaling = cfg["lr_scaling"] if lr_scaling is None else lr_scaling
    return {b: [batch_spec(profile, b, s, hold=hold, lr_scaling=lr_scaling) for s in seeds]
            for b in sorted(sizes)}


def peak_lr(spec: dict) -> float:
    """The largest LR of a spec's schedule (its ``max_lr``, or ``lr``/``base_lr``)."""
    s = spec["schedule"]
    return float(s.get("max_lr") or s.get("lr") or s.get("base_lr"))


def schedule_in_epochs(spec: dict, points: int = 2000) -> tuple:
    """``(epochs, lr)`` numpy arrays of the spec's LR schedule, for drawing it per epoch."""
    sched = experiments.build_schedule(spec["schedule"])
    step = max(1, spec["iterations"] // points)
    its, lrs, _ = sched.sample(0, spec["iterations"], step=step)
    its = np.append(its, spec["iterations"])
    lrs = np.append(lrs, lrs[-1])
    return its * spec["batch_size"] / train_size(spec), lrs


def design_text(profile: str | None, hold: str | None = None, lr_scaling: str | None = None) -> str:
    """What is held fixed across batch sizes, in words (for the chapter and the findings)."""
    profile = experiments.resolve_profile(profile)
    cfg = config(profile)
    hold = cfg["hold"] if hold is None else _checks.choice("hold", hold, HOLDS)
    lr_scaling = cfg["lr_scaling"] if lr_scaling is None else _checks.choice("lr_scaling", lr_scaling, LR_SCALINGS)
    ref = experiments.ladder_spec(profile, "one_cycle")
    n, b0, n_train = ref["iterations"], ref["batch_size"], train_size(ref)
    if hold == "iterations":
        text = (f"the same {n:,} iterations and the same LR schedule (in iterations) at every batch size, "
                f"so a batch of b trains {n:,}·b/{n_train:,} epochs (the authors' design)")
    else:
        text = (f"the same {epochs(ref):.3g} epochs at every batch size (iterations × batch = "
                f"{n:,} × {b0}), the LR schedule stretched to the same shape in epochs")
    lr = {"none": "LR values unchanged",
          "linear": f"LR values scaled linearly with the batch (× b/{b0})",
          "sqrt": f"LR values scaled with the square root of the batch (× √(b/{b0}))"}[lr_scaling]
    return f"{text}; {lr}"


# --------------------------------------------------------------------------- running

def _row(history: History | None, spec: dict) -> dict:
    """One run as a flat dict (accuracies in %, None where it diverged or is missing)."""
    base = dict(batch_size=spec["batch_size"], seed=spec["seed"], iterations=spec["iterations"],
                epochs=epochs(spec), peak_lr=peak_lr(spec))
    if history is None:
        return dict(base, missing=True, diverged=False, test_acc=None, best_acc=None, train_acc=None,
                    gap=None, wall_time=None)
    div = bool(history.diverged)
    return dict(base, missing=False, diverged=div,
                test_acc=None if div else history.final_test_acc, best_acc=history.best_test_acc,
                train_acc=None if div else history.train_acc,
                gap=None if div else history.generalization_gap, wall_time=history.wall_time)


def summarize(rows: Sequence[dict]) -> list:
    """One dict per batch size (increasing): n, n_finished, n_diverged, n_missing, acc/train/gap
    mean and std over the finished runs (NaN if none), best accuracy, wall time, status."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(r["batch_size"], []).append(r)
    out = []
    for b in sorted(groups):
        rs = groups[b]
        present = [r for r in rs if not r["missing"]]
        ndiv = sum(r["diverged"] for r in present)
        acc = experiments.mean_std(r["test_acc"] for r in present)
        tr = experiments.mean_std(r["train_acc"] for r in present)
        gap = experiments.mean_std(r["gap"] for r in present)
        wall = experiments.mean_std(r["wall_time"] for r in present)
        best = experiments.mean_std(r["best_acc"] for r in present)
        if not present:
            status = "missing"
        elif ndiv == 0:
            status = "ok" if len(present) == len(rs) else f"{len(rs) - len(present)}/{len(rs)} missing"
        elif ndiv == len(present):
            status = "diverged"
        else:
            status = f"{ndiv}/{len(present)} diverged"
        out.append(dict(batch_size=b, iterations=rs[0]["iterations"], epochs=rs[0]["epochs"],
                        peak_lr=rs[0]["peak_lr"], n=len(rs), n_finished=acc[2], n_diverged=ndiv,
                        n_missing=len(rs) - len(present), acc_mean=acc[0], acc_std=acc[1],
                        train_mean=tr[0], train_std=tr[1], gap_mean=gap[0], gap_std=gap[1],
                        best_mean=best[0], wall_mean=wall[0], status=status))
    return out


def trend(summary: Sequence[dict], metric: str, n_test: int) -> dict:
    """The descriptive rule (module doc) for ``metric`` ``"acc"`` (test accuracy) or ``"gap"``.

    Returns ``direction`` (one of :data:`TREND_WORDS`), ``change`` (largest batch − smallest, in
    points; NaN if undetermined), ``noise`` and ``sentence``.
    """
    _checks.choice("metric", metric, ("acc", "gap", "train"))
    name = {"acc": "test accuracy", "gap": "the generalization gap", "train": "train accuracy"}[metric]
    cells = list(summary)
    means = [c[f"{metric}_mean"] for c in cells]
    out = dict(metric=metric, direction="undetermined", change=math.nan, noise=math.nan)
    if len(cells) < 2 or not all(math.isfinite(m) for m in means):
        why = "fewer than two batch sizes" if len(cells) < 2 else "a batch size has no finished run"
        out["sentence"] = f"The trend of {name} is undetermined ({why})."
        return out
    first, last = cells[0], cells[-1]
    stds = [v for v in (first[f"{metric}_std"], last[f"{metric}_std"]) if math.isfinite(v)]
    noise = max(stds + [sampling_std(first["acc_mean"], n_test), sampling_std(last["acc_mean"], n_test)])
    change = means[-1] - means[0]
    steps = [b - a for a, b in zip(means, means[1:])]
    if abs(change) <= noise:
        direction = "flat within noise"
    elif all(d > 0 for d in steps):
        direction = "rises"
    elif all(d < 0 for d in steps):
        direction = "falls"
    else:
        direction = "mixed"
    unit = " points" if metric == "gap" else " %"
    path = " → ".join(f"{m:.2f}" for m in means)
    sizes = " / ".join(str(c["batch_size"]) for c in cells)
    verb = {"rises": "rises with the batch size", "falls": "falls with the batch size",
            "flat within noise": "is flat within noise over the batch sizes",
            "mixed": "changes non-monotonically with the batch size"}[direction]
    sentence = (f"{name[0].upper()}{name[1:]} {verb}: {path}{unit} at batch {sizes} "
                f"(largest − smallest {change:+.2f} points, noise {noise:.2f})")
    out.update(direction=direction, change=change, noise=noise, sentence=sentence)
    return out


def run_sweep(profile: str | None, seeds: Sequence[int] | None = None, device: str = "auto", *,
              batch_sizes: Sequence[int] | None = None, hold: str | None = None,
              lr_scaling: str | None = None, store: Store | None = None, progress: bool = False,
              train: bool = True) -> dict:
    """Every (batch size, seed) run, trained once (or loaded from the store), as plain data.

    ``train=False`` only loads what the store holds (``complete`` says whether all was there).
    Returns ``profile``, ``seeds``, ``batch_sizes``, ``hold``, ``lr_scaling``, ``design``
    (:func:`design_text`), ``specs`` and ``histories`` (``{b: [per seed]}``, None where missing),
    ``rows``, ``summary`` (:func:`summarize`), ``trends`` (``{"acc", "gap", "train"}``:
    :func:`trend`), ``best`` (batch with the highest mean test accuracy among cells with every
    run finished, or None), ``n_test``, ``setup`` (model and data), ``complete``, ``wall_time``.
    """
    profile = experiments.resolve_profile(profile)
    cfg = config(profile)
    hold = cfg["hold"] if hold is None else hold
    lr_scaling = cfg["lr_scaling"] if lr_scaling is None else lr_scaling
    spec_map = specs(profile, batch_sizes, seeds, hold, lr_scaling)  # validates before any work
    seeds = [s["seed"] for s in next(iter(spec_map.values()))]
    store = store or Store()
    hist_map, rows = {}, []
    for b, ss in spec_map.items():
        hist_map[b] = []
        for spec in ss:
            h = (experiments.run(spec, profile, device=device, store=store, progress=progress) if train
                 else store.get(spec, profile))
            hist_map[b].append(h)
            rows.append(_row(h, spec))
    summary = summarize(rows)
    ref = next(iter(spec_map.values()))[0]
    n_test = n_test_images(ref)
    ok = [c for c in summary if c["status"] == "ok" and math.isfinite(c["acc_mean"])]
    return dict(profile=profile, seeds=seeds, batch_sizes=list(spec_map), hold=hold, lr_scaling=lr_scaling,
                design=design_text(profile, hold, lr_scaling), specs=spec_map, histories=hist_map,
                rows=rows, summary=summary,
                trends={m: trend(summary, m, n_test) for m in ("acc", "gap", "train")},
                best=max(ok, key=lambda c: c["acc_mean"])["batch_size"] if ok else None,
                n_test=n_test, setup=model_data_text(ref),
                complete=not any(r["missing"] for r in rows),
                wall_time=sum(r["wall_time"] or 0.0 for r in rows))


def stored(profile: str = "paper", store: Store | None = None, seeds: Sequence[int] | None = None) -> dict | None:
    """The sweep's runs at ``profile`` already in the store (nothing is trained): the
    :func:`run_sweep` dict with missing runs marked, or None if none is stored."""
    sweep = run_sweep(profile, seeds, store=store, train=False)
    if all(r["missing"] for r in sweep["rows"]):
        return None
    sweep["hardware"] = experiments.device_names(base.histories(sweep["histories"]))
    return sweep


# --------------------------------------------------------------------------- summaries

def cell_text(cell: dict, key: str = "acc", digits: int = 2) -> str:
    """``"84.12 ± 0.30"``, or ``"84.12"`` from one finished run (``"diverged"`` / ``"missing"`` /
    ``"n/a"`` where there is no mean)."""
    m, s = cell[f"{key}_mean"], cell[f"{key}_std"]
    if not math.isfinite(m):
        return "diverged" if cell["status"] == "diverged" else ("missing" if cell["status"] == "missing" else "n/a")
    sign = "+" if key == "gap" else ""
    if cell.get("n_finished") == 1:  # one run has no spread to show (not "± 0.00")
        return f"{m:{sign}.{digits}f}"
    return f"{m:{sign}.{digits}f} ± {s:.{digits}f}"


def ours_text(sweep: dict) -> str:
    """Our result in one line: test accuracy and gap per batch, and both trends."""
    sizes = " / ".join(str(c["batch_size"]) for c in sweep["summary"])
    acc = " / ".join(cell_text(c, "acc", 1) for c in sweep["summary"])
    gap = " / ".join(cell_text(c, "gap", 1) for c in sweep["summary"])
    n = max(c["n"] for c in sweep["summary"])
    t = sweep["trends"]
    return (f"batch {sizes}: test {acc} %, gap {gap} points (n = {n}); test accuracy "
            f"{t['acc']['direction']}, gap {t['gap']['direction']}")


def not_found_text() -> str:
    """What FACTS could not find for the claim (its ``missing`` keys), in words."""
    missing = set(paper.claim(CLAIM_ID).missing)
    items = [n for n in paper.not_found() if n.key in missing]
    return "; ".join(f"{n.what} ({n.key})" for n in items)


def verdict(sweep: dict) -> str:
    """The claim's verdict for a sweep (:data:`RULE`): "not run" while runs are missing, else
    "no paper number": the claim's paper numbers are missing (FACTS §2, §7)."""
    if not sweep["complete"]:
        return "not run"
    # FACTS has no Fig. 5 numbers (the claim's ``missing`` keys); should they turn up, a
    # comparison rule belongs here instead
    return "no paper number"


EXPERIMENT = "1cycle at several batch sizes"


def findings(profile: str | None, store: Store | None = None) -> list:
    """The scorecard's finding for claim ``sc.batch_size`` at ``profile`` (reads the store only).

    "not run" (with the papermill command) unless every default run is stored; otherwise
    "no paper number" with our numbers and trends (rule: :data:`RULE`). There is no
    1cycle/PC-LR pair here, so no time-to-accuracy.
    """
    profile = experiments.resolve_profile(profile)
    store = store or Store()
    sweep = run_sweep(profile, store=store, train=False)
    if not sweep["complete"]:
        return [CHAPTER.not_run(CLAIM_ID, profile, RULE, experiment=EXPERIMENT)]
    detail = (f"{sweep['setup']}; 1cycle ladder run, {sweep['design']}. Paper numbers not found: "
              f"{not_found_text()}. No 1cycle/PC-LR pair in this study, so no time-to-accuracy.")
    return [verdicts.Finding(CLAIM_ID, profile, ours_text(sweep), verdict(sweep), RULE, detail, EXPERIMENT,
                             **base.evidence(sweep["specs"]))]


__all__ = ["CLAIM_ID", "CHAPTER", "HOLDS", "LR_SCALINGS", "CONFIG", "TREND_WORDS", "RULE",
           "config", "default_seeds", "check_batch_sizes", "train_size", "lr_factor", "scale_lr",
           "batch_spec", "specs", "peak_lr", "schedule_in_epochs", "design_text", "summarize", "trend",
           "run_sweep", "stored", "command", "cell_text", "ours_text", "not_found_text", "verdict",
           "findings"]


#: The chapter's verdict rules as data: printed before the chapter trains, quoted by the scorecard.
RULES = {"batch sizes": RULE}

__all__ += ["RULES"]
