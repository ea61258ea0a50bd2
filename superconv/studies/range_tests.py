"""Chapter 2 study: the LR range test, and what in it predicts super-convergence.

Three range tests per profile, each cached in the results store (``Store.memo("range_test", ...)``,
one record per seed, so adding a seed reuses the others):

* ``"main"`` -- the paper's form (CLR §3.3, Super-Convergence §3-4, FACTS §1-2): a **linear**
  LR ramp from 0 to 3 on the profile's model, evaluated every ``eval_every`` iterations on a
  **validation holdout** cut out of the training data (``superconv.data.holdout``; never the
  test split), over every seed: accuracy vs LR, mean ± std, spread of each suggestion;
* ``"exp"`` -- the loss form (fastai's ``lr_find``, torch-lr-finder): an **exponential** ramp
  ``1e-4 -> 10``, stopped when the smoothed loss exceeds 4x its minimum; first seed only;
* ``"contrast"`` -- the same linear ramp as ``"main"`` on a contrasting net (default the Caffe
  LeNet-5 of the paper's MNIST rows: no BatchNorm, no residual connections); first seed only.
  Super-Convergence Fig. 3a vs 3b: a net whose accuracy stays high over a wide LR range can
  super-converge, one whose accuracy peaks and falls cannot.

The settings per profile are in :data:`SETTINGS` (the ``paper`` entry is the authors' test, FACTS
§2: CIFAR-10, ResNet-56, batch 1000, linear 0 -> 3 over 5k iterations, accuracy every 100).
:func:`specs` builds the store specs, :func:`run_study` runs (or loads) everything and returns a
:class:`RangeTestStudy`; the table helpers turn it into plain ``pandas`` tables for the chapter.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import torch

from .. import _checks, bounds as bounds_lib, chapter, data, experiments, paper
from .. import potential as potential_lib
from ..ghost_bn import use_ghost_batches
from ..range_test import (SUGGESTIONS, RangeTestResult, RangeTestSeeds, lr_range_test)
from ..results import Store
from ..verdicts import Finding, from_conditions
from . import base

TESTS = ("main", "exp", "contrast")

#: The chapter, with its seeds when the notebook's SEEDS is None (the ``main`` test's; the
#: others run the first seed).
MODES = ("linear", "exp")
CONTRAST_MODELS = ("lenet5", "resnet8", "resnet20", "resnet56")


def check_ramp_length(name: str, value) -> int:
    """A ``chapter`` checker of RAMP_ITERATIONS: a ramp needs a start and an end (>= 2)."""
    value = chapter.positive_int(name, value)
    if value < 2:
        raise chapter.ParameterError(f"{name}={value!r} is not allowed; allowed: an integer >= 2 "
                                     "(or None = the profile's value)")
    return value


CHAPTER = base.Chapter(
    "chapters/02_lr_range_test.ipynb", seeds={"smoke": [0], "laptop": [0, 1, 2], "paper": [0, 1, 2]},
    knobs=dict(RAMP_ITERATIONS=check_ramp_length, LR_MAX=chapter.positive, MODE=chapter.one_of(*MODES),
               EVAL_EVERY=chapter.positive_int, TOLERANCE=chapter.non_negative, SMOOTH=chapter.positive_int,
               CONTRAST_MODEL=chapter.one_of(*CONTRAST_MODELS)))
default_seeds, command = CHAPTER.default_seeds, CHAPTER.command


ACCURACY_BASED = ("max_lr", "min_lr_rise", "min_lr_ratio")
LOSS_BASED = ("steepest", "valley", "min_loss_10")

#: The range-test settings of each profile (data, model and batch size come from
#: ``experiments.BASE``). ``holdout``: validation images held out of the profile's training set
#: (class-balanced, seed ``data_seed``); ``smooth``: moving-average window (evaluation points) of
#: the potential verdict; ``linear``: the paper-form ramp; ``exp``: the loss-form ramp;
#: ``contrast``: the Fig. 3b net.
SETTINGS: dict = {
    "smoke": dict(
        holdout=100, smooth=3,
        linear=dict(lr_min=0.0, lr_max=3.0, iterations=20, eval_every=5),
        exp=dict(lr_min=1e-4, lr_max=10.0, iterations=20, eval_every=5),
        contrast=dict(model="lenet5"),
    ),
    "laptop": dict(
        holdout=2000, smooth=5,
        # 2,000 iterations: on the 1,000-iteration ramp of the first builds the plateau rule found the
        # plateau only above half the ramp (2026-12-02, AMD EPYC: max_lr 1.72, "ramp too short")
        linear=dict(lr_min=0.0, lr_max=3.0, iterations=2000, eval_every=50),
        exp=dict(lr_min=1e-4, lr_max=10.0, iterations=400, eval_every=25),
        contrast=dict(model="lenet5"),
    ),
    "paper": dict(
        holdout=5000, smooth=5,
        linear=dict(lr_min=0.0, lr_max=3.0, iterations=5000, eval_every=100),
        exp=dict(lr_min=1e-4, lr_max=10.0, iterations=2000, eval_every=100),
        contrast=dict(model="lenet5"),
    ),
}
#: Fig. 2b: the main test at several ramp lengths (iterations), first seed only, each evaluated as
#: often per unit of LR as the profile's own ramp (the same number of points). The paper's are the
#: authors' 5k / 20k / 100k (FACTS §2); the laptop's are scaled down around its 1,000 to fit the book.
RAMP_LENGTHS: dict = {"smoke": [10, 20], "laptop": [500, 1000, 2000], "paper": [5000, 20_000, 100_000]}
#: The contrast net runs the main ramp but is evaluated this many times more often: a net that
#: diverges early (LeNet-5 at LR ~0.1 of a 0 -> 3 ramp) would otherwise leave no evaluation point.
CONTRAST_EVAL_DENSER = 5
#: What every test shares: momentum 0.9, constant, as in the authors' range tests; BN moving-average
#: fraction 0.95 = PyTorch bn_momentum 0.05 (FACTS §2); the loss EMA's beta (fastai's 0.98).
COMMON: dict = dict(momentum=0.9, bn_momentum=0.05, smoothing=0.98)
#: Smoothed-loss stop factor: None for the paper-form (linear) tests -- the authors ran the whole
#: ramp, a NaN or a loss above ``fit``'s max_loss still ends a run -- and fastai's 4 for "exp".
STOP_FACTOR = {"linear": None, "exp": 4.0}
#: The paper profile's settings of the authors' setup that a range test takes from the profile
#: (``superconv.paper_setup``): Caffe's SGD, per-GPU BatchNorm, mean-image input, file order.
AUTHORS_FIELDS = ("sgd", "ghost_batch", "input_norm", "data_order")
#: Decades of LR below ``lr_max`` where an exponential main test starts (MODE="exp").
EXP_DECADES = 4

# Defaults of the chapter's verdict rules. The potential's own thresholds (the upper part of the
# ramp, collapse, retention) are superconv.potential's TOP, COLLAPSE and RETAIN.
TOLERANCE = 5.0       # accuracy points below the peak that still count as "high" (bounds, high range)
MIN_RISE = 10.0       # a net has learned when its peak is this many points above chance (potential)


# --------------------------------------------------------------------------- configs

def config(profile: str, *, iterations: Optional[int] = None, lr_max: Optional[float] = None,
           mode: Optional[str] = None, eval_every: Optional[int] = None,
           contrast_model: Optional[str] = None) -> dict:
    """The resolved settings of the three tests of ``profile`` (overrides of ``None`` keep the
    profile's value). ``iterations``/``lr_max``/``mode``/``eval_every`` change the main test
    (and the contrast, which uses the same ramp); ``mode="exp"`` starts the main ramp
    ``EXP_DECADES`` decades below ``lr_max``."""
    profile = experiments.resolve_profile(profile)
    s = copy.deepcopy(SETTINGS[profile])
    if iterations is not None:
        _checks.integer("iterations", iterations, minimum=2)
    if lr_max is not None:
        _checks.positive("lr_max", lr_max)
    if mode is not None:
        _checks.choice("mode", mode, MODES)
    if eval_every is not None:
        _checks.positive_int("eval_every", eval_every)
    if contrast_model is not None:
        _checks.choice("contrast_model", contrast_model, CONTRAST_MODELS)
    main = dict(s["linear"], mode="linear")
    if mode is not None:
        main["mode"] = mode
    if lr_max is not None:
        main["lr_max"] = float(lr_max)
    if main["mode"] == "exp":
        main["lr_min"] = main["lr_max"] / 10 ** EXP_DECADES
    if iterations is not None:
        main["iterations"] = iterations
    if eval_every is not None:
        main["eval_every"] = eval_every
    main["eval_every"] = min(main["eval_every"], main["iterations"])
    exp = dict(s["exp"], mode="exp")
    base = experiments.make_spec(profile)
    contrast_name = contrast_model or s["contrast"]["model"]
    contrast_kwargs = dict(base["model_kwargs"]) if contrast_name.startswith("resnet") else {}
    # at least 2: the first evaluation then sits at an LR > 0 (log10 needs it)
    contrast = dict(main, eval_every=min(main["iterations"], max(2, main["eval_every"] // CONTRAST_EVAL_DENSER)))
    return dict(profile=profile, holdout=s["holdout"], smooth=s["smooth"], main=main, exp=exp, contrast=contrast,
                contrast_model=contrast_name, contrast_model_kwargs=contrast_kwargs,
                model=base["model"], model_kwargs=dict(base["model_kwargs"]))


def specs(profile: str, **overrides) -> dict:
    """``{test: store spec without the seed}`` for the three tests (see :func:`config`).

    A spec holds everything the test's result depends on: data (dataset, training subset,
    holdout), model, ramp, optimizer settings, precision. Add ``seed`` for one run.
    """
    cfg = config(profile, **overrides)
    base = experiments.make_spec(cfg["profile"])
    shared = dict(dataset=base["dataset"], train_size=base["train_size"], data_seed=base["data_seed"],
                  holdout=cfg["holdout"], eval_split="validation", batch_size=base["batch_size"],
                  weight_decay=base["weight_decay"], flip=base["flip"], crop_pad=base["crop_pad"],
                  precision=base["precision"], **COMMON,
                  # the paper profile's authors' setup (paper_setup), only where the profile sets it
                  **{k: base[k] for k in AUTHORS_FIELDS if base.get(k) not in (None, experiments.SPEC_DEFAULTS.get(k))})
    out = {}
    for test in TESTS:
        ramp = cfg[test]
        model, kwargs = ((cfg["contrast_model"], cfg["contrast_model_kwargs"]) if test == "contrast"
                         else (cfg["model"], cfg["model_kwargs"]))
        out[test] = dict(shared, model=model, model_kwargs=dict(kwargs), mode=ramp["mode"],
                         lr_min=float(ramp["lr_min"]), lr_max=float(ramp["lr_max"]),
                         iterations=int(ramp["iterations"]), eval_every=int(ramp["eval_every"]),
                         stop_factor=STOP_FACTOR[ramp["mode"]])
    return out


def n_train(spec: dict) -> int:
    """Images the range test trains on: the training subset minus the holdout."""
    return experiments.train_images(spec) - spec["holdout"]


def describe(spec: dict) -> str:
    """Caption text, e.g. ``"resnet8 w16, fashion-mnist 8000 train + 2000 validation (held out of
    train), linear LR 0 → 3 in 1000 it, eval every 25, bs 128"``."""
    width = spec["model_kwargs"].get("width")
    model = spec["model"] + (f" w{width}" if width else "")
    train = f"{n_train(spec)}"
    return (f"{model}, {spec['dataset']} {train} train + {spec['holdout']} validation (held out of train), "
            f"{spec['mode']} LR {spec['lr_min']:g} → {spec['lr_max']:g} in {spec['iterations']} it, "
            f"eval every {spec['eval_every']}, bs {spec['batch_size']}")


# --------------------------------------------------------------------------- running

def load_splits(spec: dict, device: str = "cpu") -> tuple:
    """(train part, validation holdout) of a spec: the profile's class-balanced training subset
    minus ``holdout`` class-balanced images (seed ``data_seed``), normalized as the spec says
    (``input_norm``). The test split is not used."""
    run_spec = dict(experiments.SPEC_DEFAULTS, dataset=spec["dataset"], train_size=spec["train_size"],
                    test_size=None, data_seed=spec["data_seed"], input_norm=spec.get("input_norm"))
    train, _ = experiments.load_data(run_spec, device)
    return data.holdout(train, spec["holdout"], seed=spec["data_seed"])


def _model(spec: dict, seed: int, train) -> torch.nn.Module:
    """The test's net; with the spec's ``ghost_batch`` its BatchNorm normalises per GPU slice
    (swapped here: ``lr_range_test`` leaves the model it is given as it was)."""
    run_spec = dict(experiments.SPEC_DEFAULTS, model=spec["model"], model_kwargs=spec["model_kwargs"], seed=seed)
    model = experiments.build_model(run_spec, train)
    return use_ghost_batches(model, spec["ghost_batch"]) if spec.get("ghost_batch") else model


def run_one(spec: dict, seed: int, profile: str, device: str = "auto", store: Optional[Store] = None,
            retrain: bool = False) -> RangeTestResult:
    """One range test of ``spec`` with ``seed`` (model init and batch order), computed once and
    then loaded from the results store (``Store.memo("range_test", ...)``)."""
    store = store or Store()
    full = dict(spec, seed=int(seed))

    def compute() -> dict:
        dev = ("cuda" if torch.cuda.is_available() else "cpu") if device in (None, "auto") else str(device)
        train, val = load_splits(spec, dev)
        model = _model(spec, seed, train)
        result = lr_range_test(model, train, val, spec["lr_min"], spec["lr_max"], spec["iterations"],
                               spec["mode"], eval_every=spec["eval_every"], batch_size=spec["batch_size"],
                               momentum=spec["momentum"], weight_decay=spec["weight_decay"],
                               stop_factor=spec["stop_factor"], smoothing=spec["smoothing"],
                               eval_split=spec["eval_split"], seed=int(seed), bn_momentum=spec["bn_momentum"],
                               precision=spec["precision"], flip=spec["flip"], crop_pad=spec["crop_pad"],
                               sgd=spec.get("sgd", "torch"), data_order=spec.get("data_order") or "shuffle",
                               ghost_batch=spec.get("ghost_batch"), device=dev)  # fit deals batches to the slices
        return result.to_dict()

    return RangeTestResult.from_dict(store.memo("range_test", full, profile, compute, retrain=retrain))


class NotCached(LookupError):
    """A range test that the store does not hold (see :func:`load_cached`)."""


def cached_one(spec: dict, seed: int, profile: str, store: Optional[Store] = None) -> Optional[RangeTestResult]:
    """The stored result of one test, or None -- never computes (for paper-profile results)."""
    store = store or Store()

    def refuse() -> dict:
        raise NotCached(profile)
    try:
        return RangeTestResult.from_dict(store.memo("range_test", dict(spec, seed=int(seed)), profile, refuse))
    except NotCached:
        return None


@dataclass
class RangeTestStudy:
    """Everything chapter 2 shows, as plain data.

    ``tests[name]`` is a :class:`superconv.range_test.RangeTestSeeds` (``main`` over all seeds,
    ``exp`` and ``contrast`` over the first seed), ``specs[name]`` its store spec (no seed),
    ``seeds[name]`` the seeds run, ``one_cycle`` the profile's 1cycle LR bounds
    (``experiments.POLICIES[profile]["one_cycle"]``), ``tolerance`` the accuracy points and
    ``smooth`` the moving-average window (evaluation points) used for the potential."""

    profile: str
    specs: dict
    seeds: dict
    tests: dict
    one_cycle: dict
    tolerance: float = TOLERANCE
    smooth: int = 1
    wall_time: dict = field(default_factory=dict)

    @property
    def main(self) -> RangeTestSeeds:
        return self.tests["main"]

    def describe(self, test: str = "main") -> str:
        return describe(self.specs[test])


def one_cycle_bounds(profile: str) -> dict:
    """``{"base_lr", "max_lr", "kind"}`` of the profile's 1cycle run (the bounds the book uses)."""
    sched = experiments.POLICIES[experiments.resolve_profile(profile)]["one_cycle"]["schedule"]
    return dict(base_lr=float(sched["base_lr"]), max_lr=float(sched["max_lr"]), kind=sched["kind"])


def _seeds_of(test: str, seeds: Sequence[int]) -> list:
    return list(seeds) if test == "main" else list(seeds)[:1]


def _check_analysis(tolerance, smooth) -> None:
    _checks.real("tolerance", tolerance, "a finite number >= 0 (accuracy points)", lambda v: v >= 0)
    _checks.positive_int("smooth", smooth)


def run_study(profile: str, seeds: Optional[Sequence[int]] = None, device: str = "auto",
              store: Optional[Store] = None, tolerance: float = TOLERANCE, smooth: Optional[int] = None,
              tests: Sequence[str] = TESTS, **overrides) -> RangeTestStudy:
    """Run (or load) the chapter's range tests: ``main`` over ``seeds`` (None: the chapter's),
    ``exp`` and ``contrast`` over ``seeds[0]``. ``overrides`` go to :func:`config` (iterations, lr_max, mode, eval_every,
    contrast_model); ``tolerance``/``smooth`` only change the analysis, not the runs
    (``smooth=None``: the profile's window)."""
    profile = experiments.resolve_profile(profile)
    seeds = CHAPTER.seeds_or_default(profile, seeds)
    smooth = SETTINGS[profile]["smooth"] if smooth is None else smooth
    _check_analysis(tolerance, smooth)
    bad = [t for t in tests if t not in TESTS]
    if bad:
        _checks.fail("tests", list(tests), f"a subset of {list(TESTS)}")
    all_specs = specs(profile, **overrides)  # validates the overrides before any work
    store = store or Store()
    out, used, walls = {}, {}, {}
    for test in tests:
        ss = _seeds_of(test, seeds)
        results = [run_one(all_specs[test], s, profile, device, store) for s in ss]
        out[test] = RangeTestSeeds.from_results(results, ss, high_range_tolerance=tolerance)
        used[test] = ss
        walls[test] = sum(float(r.config.get("wall_time") or 0.0) for r in results)
    return RangeTestStudy(profile=profile, specs={t: all_specs[t] for t in tests}, seeds=used, tests=out,
                          one_cycle=one_cycle_bounds(profile), tolerance=float(tolerance), smooth=smooth,
                          wall_time=walls)


def run_ramp_lengths(profile: str, seed: int = 0, device: str = "auto", store: Optional[Store] = None,
                     lengths: Optional[Sequence[int]] = None, **overrides) -> dict:
    """Fig. 2b: ``{iterations: RangeTestResult}`` of the main test at each ramp length
    (:data:`RAMP_LENGTHS`), one seed, the number of evaluation points kept (``eval_every`` scaled);
    the profile's own length is the main test's own record."""
    profile = experiments.resolve_profile(profile)
    lengths = RAMP_LENGTHS[profile] if lengths is None else list(lengths)
    _checks.list_of(lambda name, v: _checks.integer(name, v, 2), unique=True)("lengths", lengths)
    base = config(profile, **overrides)["main"]
    points = max(1, base["iterations"] // base["eval_every"])
    all_specs = {n: specs(profile, **dict(overrides, iterations=n, eval_every=max(1, n // points)))["main"]
                 for n in lengths}  # every length checked before any work
    store = store or Store()
    return {n: run_one(sp, seed, profile, device, store) for n, sp in sorted(all_specs.items())}


def load_cached(profile: str, seeds: Optional[Sequence[int]] = None, store: Optional[Store] = None,
                tolerance: float = TOLERANCE, smooth: Optional[int] = None) -> Optional[RangeTestStudy]:
    """The study of ``profile`` with its default settings if the store holds at least one of
    ``seeds`` (None: the chapter's) for every test (e.g. the paper profile, run elsewhere on a
    GPU), else None. Computes nothing."""
    profile = experiments.resolve_profile(profile)
    seeds = CHAPTER.seeds_or_default(profile, seeds)
    smooth = SETTINGS[profile]["smooth"] if smooth is None else smooth
    _check_analysis(tolerance, smooth)
    all_specs = specs(profile)
    store = store or Store()
    out, used = {}, {}
    for test in TESTS:
        ss = _seeds_of(test, seeds)
        have = [(s, r) for s in ss if (r := cached_one(all_specs[test], s, profile, store)) is not None]
        if not have:
            return None
        out[test] = RangeTestSeeds.from_results([r for _, r in have], [s for s, _ in have],
                                                high_range_tolerance=tolerance)
        used[test] = [s for s, _ in have]
    return RangeTestStudy(profile=profile, specs=all_specs, seeds=used, tests=out,
                          one_cycle=one_cycle_bounds(profile), tolerance=float(tolerance), smooth=smooth)


def load_main(profile: str, seeds: Sequence[int], store: Optional[Store] = None) -> Optional[RangeTestStudy]:
    """The ``main`` test alone over ``seeds`` from the store (every seed needed), else None."""
    profile = experiments.resolve_profile(profile)
    spec = specs(profile)["main"]
    store = store or Store()
    results = [cached_one(spec, s, profile, store) for s in seeds]
    if any(r is None for r in results):
        return None
    return RangeTestStudy(profile=profile, specs={"main": spec}, seeds={"main": list(seeds)},
                          tests={"main": RangeTestSeeds.from_results(results, list(seeds))},
                          one_cycle=one_cycle_bounds(profile), tolerance=TOLERANCE,
                          smooth=SETTINGS[profile]["smooth"],
                          wall_time={"main": sum(float(r.config.get("wall_time") or 0.0) for r in results)})


# --------------------------------------------------------------------------- reading the results

def moving_average(values: Sequence[float], window: int) -> list:
    """Centred moving average over ``window`` points (the window shrinks at the ends; NaNs are
    skipped, a window of only NaNs gives NaN). ``window=1`` returns the values."""
    a = np.asarray(values, dtype=float)
    h = window // 2
    out = []
    for k in range(len(a)):
        w = a[max(0, k - h):k + h + 1]
        w = w[np.isfinite(w)]
        out.append(float(w.mean()) if len(w) else math.nan)
    return out


def mean_curve(rs: RangeTestSeeds, smooth: int = 1) -> RangeTestResult:
    """The seed-mean accuracy curve of ``rs`` (smoothed over ``smooth`` evaluation points) as a
    :class:`RangeTestResult`, so the package's ``potential``/``max_lr`` apply to it unchanged.
    Points where no seed has a value, or at LR 0 (no width in decades), are dropped;
    ``stopped_early`` if any seed stopped early."""
    acc = moving_average(rs.acc_mean, smooth)
    keep = [k for k, a in enumerate(acc) if math.isfinite(a) and rs.eval_lrs[k] > 0]
    first = rs.results[0]
    # the seed that stopped at the smallest LR first: the mean curve collapses where the first seed did
    stopped = sorted((r for r in rs.results if r.stopped_early),
                     key=lambda r: r.lrs[r.stopped_at] if r.stopped_at is not None and r.stopped_at < len(r.lrs)
                     else (r.lrs[-1] if r.lrs else math.inf))
    return RangeTestResult(
        lrs=list(rs.lrs), losses=[], smoothed_losses=list(rs.smoothed_mean),
        eval_lrs=[rs.eval_lrs[k] for k in keep], eval_iters=[rs.eval_iters[k] for k in keep],
        eval_acc=[acc[k] for k in keep], eval_loss=[rs.eval_loss_mean[k] for k in keep],
        eval_split=first.eval_split, mode=first.mode, lr_min=first.lr_min, lr_max=first.lr_max,
        stopped_early=bool(stopped), stop_reason=stopped[0].stop_reason if stopped else None,
        stopped_at=stopped[0].stopped_at if stopped else None, iterations=first.iterations,
        config=dict(mean_of_seeds=list(rs.seeds), smooth=smooth))


def survival(rs: RangeTestSeeds, top: float = 0.75) -> dict:
    """Did the net train through the ramp? ``diverged`` (any seed stopped early), ``last_lr``
    (the largest LR trained, over seeds), ``stop_lr`` (LR where the first seed to stop stopped,
    or None), ``top_acc``: mean accuracy over the evaluations with LR >= ``top``·lr_max (all
    seeds; NaN if the runs never got there), ``peak_acc`` the best single evaluation."""
    stops = [r.lrs[r.stopped_at] if r.stopped_at is not None and r.stopped_at < len(r.lrs) else r.lrs[-1]
             for r in rs.results if r.stopped_early and r.lrs]
    lr_max = rs.results[0].lr_max
    tops = [a for r in rs.results for lr, a in zip(r.eval_lrs, r.eval_acc) if lr >= top * lr_max]
    accs = [a for r in rs.results for a in r.eval_acc]
    return dict(diverged=bool(stops), stop_lr=min(stops) if stops else None,
                last_lr=max((r.lrs[-1] for r in rs.results if r.lrs), default=math.nan),
                top_acc=float(np.mean(tops)) if tops else math.nan,
                peak_acc=max(accs) if accs else math.nan, top=top)


def min_peak(spec: dict) -> float:
    """The accuracy a net must reach on ``spec``'s data to count as having learned: chance
    (100 / classes) plus :data:`MIN_RISE` points."""
    return 100.0 / data.NUM_CLASSES[spec["dataset"]] + MIN_RISE


def plateau_bounds(study: RangeTestStudy, test: str = "main", tolerance: float = bounds_lib.TOLERANCE,
                   ratio: float = bounds_lib.RATIO, reach: float = bounds_lib.REACH) -> bounds_lib.Bounds:
    """The plateau rule (``superconv.bounds``) on ``test``'s smoothed seed-mean curve
    (:func:`mean_curve`, the study's window): the 1cycle bounds chapter 3 trains with."""
    curve = mean_curve(study.tests[test], study.smooth)
    if not curve.eval_lrs:
        _checks.fail("range test", test, "a test with evaluation points", why="has none")
    return bounds_lib.plateau_bounds(curve.eval_lrs, curve.eval_acc, study.specs[test]["lr_max"], tolerance,
                                     ratio, reach, min_peak=min_peak(study.specs[test]))


def potential_summary(study: RangeTestStudy, test: str, smooth: Optional[int] = None) -> dict:
    """The potential of ``test`` two ways: ``raw`` -- :meth:`RangeTestResult.potential` per seed
    (mean/std of the retention) -- and ``curve`` -- the same on the seed-mean accuracy curve
    smoothed over ``smooth`` evaluation points (:func:`mean_curve`), which the chapter's verdict
    uses (``verdict``); plus :func:`survival`."""
    w = study.smooth if smooth is None else smooth
    rs = study.tests[test]
    floor = min_peak(study.specs[test])
    raw = [r.potential(min_peak=floor) for r in rs.results]
    m, sd, n = experiments.mean_std([p.retention if p is not None else None for p in raw])
    curve = mean_curve(rs, w).potential(min_peak=floor) if rs.eval_lrs else None
    return dict(raw=raw, raw_retention=m, raw_retention_std=sd if n > 1 else math.nan, raw_n=n,
                curve=curve, retention=curve.retention if curve else math.nan,
                verdict=curve.verdict if curve else "not measured", survival=survival(rs), smooth=w)


def top_sweep(study: RangeTestStudy, tops: Sequence[float] = (0.25, 0.375, 0.5, 0.625, 0.75, 0.875),
              tests: Sequence[str] = ("main", "contrast")) -> dict:
    """``{test: [retention of the smoothed mean curve with the upper part starting at each
    fraction of lr_max]}``: how much the measure depends on where "the top of the ramp" begins."""
    out = {}
    for test in tests:
        if test not in study.tests or not study.tests[test].eval_lrs:
            continue
        curve = mean_curve(study.tests[test], study.smooth)
        out[test] = [curve.potential(top=float(t), min_peak=min_peak(study.specs[test])).retention for t in tops]
    return out


def suggestion_table(study: RangeTestStudy):
    """One row per (test, suggestion): kind (accuracy/loss), mean, std, min, max, n of the
    suggested LR over the test's seeds (the package's default settings of each rule)."""
    import pandas as pd
    rows = []
    for test in ("main", "exp"):
        if test not in study.tests:
            continue
        for name in SUGGESTIONS:
            s = study.tests[test].suggestions[name]
            rows.append(dict(test=test, ramp=study.specs[test]["mode"], suggestion=name,
                             based_on="accuracy" if name in ACCURACY_BASED else "loss",
                             mean=s.mean, std=s.std, min=s.min, max=s.max, n=s.n))
    return pd.DataFrame(rows)


def describe_model(spec: dict) -> str:
    width = spec["model_kwargs"].get("width")
    return spec["model"] + (f" (width {width})" if width else "")


def potential_table(study: RangeTestStudy):
    """One row per net (``main``, ``contrast``): the raw per-seed retention (mean ± std), and on
    the smoothed seed-mean curve its peak, where the ramp's upper part starts, the accuracy kept
    there, where it collapses, how the net survived the ramp, and the potential's verdict."""
    import pandas as pd
    rows = []
    for test in ("main", "contrast"):
        if test not in study.tests:
            continue
        ps = potential_summary(study, test)
        c, sv = ps["curve"], ps["survival"]
        nan = lambda x: math.nan if x is None else x  # noqa: E731
        rows.append(dict(
            test=test, model=describe_model(study.specs[test]), seeds=len(study.tests[test].results),
            raw_retention=ps["raw_retention"], raw_retention_std=ps["raw_retention_std"],
            curve_peak_acc=nan(c and c.peak_acc), curve_peak_lr=nan(c and c.peak_lr),
            top_from=nan(c and c.top_from), top_acc=nan(c and c.top_acc), retention=ps["retention"],
            collapse_lr=nan(c and c.collapse_lr), diverged=sv["diverged"],
            stop_lr=sv["stop_lr"] if sv["stop_lr"] is not None else math.nan, verdict=ps["verdict"]))
    return pd.DataFrame(rows)


def bounds_check(study: RangeTestStudy) -> dict:
    """Where the profile's 1cycle bounds sit on the main test's smoothed seed-mean curve.

    Rule (stated in the chapter): the 1cycle max LR is *consistent* with the range test when the
    smoothed mean accuracy at the evaluation nearest to it is within ``tolerance`` points of the
    curve's peak and the ramp reached it (the point need not be inside the contiguous high range
    of :meth:`RangeTestResult.high_range`, which a single dip can cut short). Also: the ratio of the
    1cycle max LR to the mean accuracy-based ``max_lr`` suggestion, and to the loss-based ones.
    """
    oc = study.one_cycle
    curve = mean_curve(study.main, study.smooth)
    out = dict(one_cycle_base=oc["base_lr"], one_cycle_max=oc["max_lr"], consistent=None,
               acc_at_max=math.nan, lr_at_max=math.nan, peak_acc=math.nan, points_below_peak=math.nan,
               reached=False)
    lrs, acc = curve.eval_lrs, curve.eval_acc
    if lrs:
        k = min(range(len(lrs)), key=lambda i: abs(lrs[i] - oc["max_lr"]))
        peak = max(acc)
        reached = lrs[-1] >= oc["max_lr"] * 0.999 or abs(lrs[k] - oc["max_lr"]) <= 0.05 * oc["max_lr"]
        out.update(acc_at_max=acc[k], lr_at_max=lrs[k], peak_acc=peak, points_below_peak=peak - acc[k],
                   reached=bool(reached), consistent=bool(reached and acc[k] >= peak - study.tolerance))
    sug = study.main.suggestions
    for name in SUGGESTIONS:
        mean = sug[name].mean
        out[f"ratio_to_{name}"] = oc["max_lr"] / mean if math.isfinite(mean) and mean > 0 else math.nan
    return out


def ratio_max_over_min(study: RangeTestStudy, test: str = "main") -> float:
    """Mean over seeds of ``max_lr / min_lr_rise`` (the CLR rule says base = max / 3..4); NaN
    when no seed gives both."""
    vals = []
    for r in study.tests[test].results:
        mx, mn = r.max_lr().lr, r.min_lr_rise().lr
        if mx is not None and mn is not None and mn > 0:
            vals.append(mx / mn)
    return experiments.mean_std(vals)[0]


# --------------------------------------------------------------------------- paper vs ours

ROWS = ("ramp", "ratio", "clr_example", "fig3a", "fig3b", "one_cycle")


def _g(x: Optional[float], fmt: str = ".3g") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def contrast_verdict(study: RangeTestStudy) -> str:
    """Rule: the contrast net "peaks and falls" (Fig. 3b) when its potential's verdict is "no
    potential" (it collapsed, or diverged, before the upper part of the ramp); "falls late" when
    it is "partly"; "no fall" when it shows potential too."""
    if "contrast" not in study.tests:
        return "not run"
    v = potential_summary(study, "contrast")["verdict"]
    diverged = " (diverged)" if survival(study.tests["contrast"])["diverged"] else ""
    return {"no potential": "peaks and falls", "partly": "falls late"}.get(v, "no fall") + diverged


def _potential_text(ps: dict) -> str:
    c = ps["curve"]
    if c is None:
        return "not measured"
    raw = ps["raw_retention"]
    return (c.describe() + (f" (smoothed seed-mean curve; retention per seed {raw:.2f})"
                            if isinstance(raw, float) and math.isfinite(raw) else ""))


def ours(study: RangeTestStudy) -> dict:
    """``{row: (our value as text, verdict)}`` for the rows of :func:`paper_vs_ours`."""
    sp = study.specs["main"]
    same = sp["mode"] == "linear" and sp["lr_min"] == 0.0 and sp["lr_max"] == 3.0
    out = {"ramp": (f"{sp['mode']} {sp['lr_min']:g} → {sp['lr_max']:g} over {sp['iterations']:,} iterations, "
                    f"accuracy every {sp['eval_every']} on a {sp['holdout']:,}-image validation holdout",
                    "same form, shorter ramp" if same else "different ramp")}
    r = ratio_max_over_min(study)
    n = len(study.main.results)
    out["ratio"] = (f"max_lr / min_lr_rise = {_g(r, '.2f')} (mean of {n} seed{'s' if n > 1 else ''})",
                    "not measured" if not math.isfinite(r) else ("within 3–4" if 3 <= r <= 4 else "outside 3–4"))
    sug = study.main.suggestions
    text = f"ResNet: {_g(sug['min_lr_rise'].mean)} – {_g(sug['max_lr'].mean)}"
    if "contrast" in study.tests:
        cs = study.tests["contrast"].suggestions
        text += f"; {study.specs['contrast']['model']}: {_g(cs['min_lr_rise'].mean)} – {_g(cs['max_lr'].mean)}"
    out["clr_example"] = (text, "context only: a different net and dataset")
    ps = potential_summary(study, "main")
    out["fig3a"] = (_potential_text(ps), ps["verdict"])
    if "contrast" in study.tests:
        pc = potential_summary(study, "contrast")
        svc = pc["survival"]
        stop = f"diverged at LR {_g(svc['stop_lr'])}" if svc["diverged"] else f"trained to LR {_g(svc['last_lr'])}"
        out["fig3b"] = (f"{study.specs['contrast']['model']}: {stop}; {_potential_text(pc)}", contrast_verdict(study))
    else:
        out["fig3b"] = ("not run", "not run")
    b = bounds_check(study)
    if b["consistent"] is None:
        verdict = "not measured"
    elif not b["reached"]:
        verdict = "max LR beyond the tested range"
    elif b["consistent"]:
        verdict = f"consistent: max LR within {study.tolerance:g} points of the peak"
    else:
        verdict = f"max LR {b['points_below_peak']:.1f} points below the peak"
    out["one_cycle"] = (f"{b['one_cycle_base']:g} – {b['one_cycle_max']:g} (profile's 1cycle); smoothed accuracy "
                        f"{_g(b['acc_at_max'], '.1f')} % at LR {_g(b['lr_at_max'])} vs peak {_g(b['peak_acc'], '.1f')} %",
                        verdict)
    return out


def paper_vs_ours(study: RangeTestStudy, paper_study: Optional[RangeTestStudy] = None):
    """The chapter's "Paper vs ours" table: quantity, the paper's value with its confidence tag
    (``superconv.paper.cite``), ours at ``study.profile``, the paper profile's (if its results are
    in the store, else "not run" and the command), and our verdict by the rules of
    ``superconv.potential.verdict``, :func:`contrast_verdict` and :func:`bounds_check`."""
    import pandas as pd
    c = lambda key: paper.cite(key, source=False)  # noqa: E731
    its = paper.get("sc.range_test.iterations")
    paper_text = {
        "ramp": (f"{c('sc.range_test.policy')} {paper.get('sc.range_test.lr_start').value:g} → "
                 f"{paper.get('sc.range_test.lr_end').value:g} over {c(its)}, accuracy every "
                 f"{c('sc.range_test.test_interval')} (FACTS §2)"),
        "ratio": f"base_lr = max_lr / {c('clr.range_test.max_over_base')} (CLR §3.3; FACTS §1)",
        "clr_example": (f"{c('clr.range_test.cifar10.lr')} for Caffe cifar10_full, "
                        f"{c('clr.range_test.cifar10.epochs')} (FACTS §1)"),
        "fig3a": (f"ResNet-56 / CIFAR-10: accuracy stays high up to LR {c('sc.range_test.lr_end')} "
                  "(Fig. 3a; no width given)"),
        "fig3b": "other nets: accuracy peaks, then falls (Fig. 3b; qualitative, no number in FACTS)",
        "one_cycle": (f"{c('sc.solver.clr.base_lr')} – {c('sc.solver.clr.max_lr')} (headline CLR run, "
                      "up to the end of the 0 → 3 test; FACTS §2)"),
    }
    names = {"ramp": "Range test (accuracy form)", "ratio": "base_lr from max_lr",
             "clr_example": "Bounds read off a test (min – max)", "fig3a": "Super-convergence potential (Fig. 3a)",
             "fig3b": "Contrast net (Fig. 3b)", "one_cycle": "the default 1cycle bounds (part 2) vs the test"}
    mine = ours(study)
    theirs = ours(paper_study) if paper_study is not None else None
    rows = []
    for row in ROWS:
        r = {"quantity": names[row], "paper": paper_text[row], f"ours ({study.profile})": mine[row][0],
             "verdict (ours)": mine[row][1]}
        if theirs is not None:  # no column while no paper-profile run is stored: attrs["not_run"] says how
            r["paper profile (GPU)"] = f"{theirs[row][0]} → {theirs[row][1]}"
        rows.append(r)
    table = pd.DataFrame(rows)
    table.attrs["not_run"] = None if theirs is not None else command("paper")
    return table


__all__ = ["TESTS", "CHAPTER", "default_seeds", "command", "MODES", "CONTRAST_MODELS", "SETTINGS", "COMMON", "STOP_FACTOR", "TOLERANCE", "MIN_RISE", "min_peak",
           "EXP_DECADES", "CONTRAST_EVAL_DENSER", "ACCURACY_BASED", "LOSS_BASED",
           "config", "specs", "n_train", "describe", "describe_model", "load_splits", "run_one",
           "cached_one",
           "NotCached", "RangeTestStudy", "one_cycle_bounds", "run_study", "load_cached", "load_main", "plateau_bounds",
           "RAMP_LENGTHS", "run_ramp_lengths",
           "moving_average", "mean_curve", "survival", "potential_summary",
           "top_sweep", "suggestion_table", "potential_table", "bounds_check",
           "ratio_max_over_min", "contrast_verdict", "ours", "paper_vs_ours"]


# --------------------------------------------------------------------------- scorecard

FINDING_RULE = ("reproduced if max_lr / min_lr_rise lies in 3–4 (the CLR rule) and the main net shows "
                "potential (Fig. 3a): on its smoothed seed-mean curve the mean accuracy over the upper "
                f"{1 - potential_lib.TOP:.0%} of the ramp is ≥ {potential_lib.RETAIN:.0%} of the peak, nothing "
                f"falls below {1 - potential_lib.COLLAPSE:.0%} of the best accuracy so far and no seed diverges, "
                f"and the peak is ≥ {MIN_RISE:g} points above chance; partly if one holds; not reproduced if neither")


EXPERIMENT = "the LR range test: bounds and the super-convergence potential"


def findings(profile: str = "laptop", store: Optional[Store] = None) -> list:
    """Scorecard finding for ``clr.range_test`` from stored results only."""
    profile = experiments.resolve_profile(profile)
    study = load_cached(profile, store=store)
    if study is None:
        return [CHAPTER.not_run("clr.range_test", profile, FINDING_RULE, experiment=EXPERIMENT)]
    o = ours(study)
    r = ratio_max_over_min(study)
    ratio_ok = math.isfinite(r) and 3 <= r <= 4
    plateau_ok = o["fig3a"][1] == "potential shown"
    return [Finding("clr.range_test", profile, f"{o['ratio'][0]}; {o['fig3a'][0]}",
                    from_conditions(ratio_ok, plateau_ok), FINDING_RULE,
                    describe(study.specs["main"]), EXPERIMENT, seeds=tuple(study.seeds["main"]))]


__all__ += ["findings", "FINDING_RULE"]


#: The chapter's verdict rules as data: printed before the chapter trains, quoted by the scorecard.
RULES = {"range-test bounds and the super-convergence potential": FINDING_RULE}

__all__ += ["RULES"]
