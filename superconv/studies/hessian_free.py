"""Chapter 5 study: the simplified Hessian-free LR estimate along a rising learning rate.

The question (Super-Convergence §4.1; FACTS §5): can the "optimal" learning rate be estimated
cheaply, during training, from the curvature along the step SGD takes -- and is it large (the
paper: about 2-6 on ResNet-56/CIFAR-10 during the first ~300 iterations while the LR rises
0.1 -> 3 over 5k iterations), i.e. is the loss flat in the direction SGD travels?

One run per seed: SGD with constant momentum 0.9 while the LR rises linearly from ``base_lr``
to ``max_lr`` (the rising half of a triangular CLR cycle, as the authors' CLR solver, FACTS §2),
in fp32, with two callbacks:

* :class:`superconv.hessian.HessianFreeEstimate` every ``every`` iterations (three snapshots
  ``inc`` apart): the paper's snapshot form ``eps*``, its smoothed ``m``, the same-batch secant
  form ``Σ|Δθ|/Σ|Δg|`` and both per layer -- recorded in ``History.extra["hessian_free"]``;
* :class:`EigenProbe` at a few iterations: the top Hessian eigenvalue ``λ_max`` of the loss on a
  fixed batch of training images (power iteration with Hessian-vector products,
  :func:`superconv.hessian.top_eigenvalue`, fp32, the model's state restored afterwards) --
  recorded in ``History.extra["top_eigenvalue"]``.

Settings per profile are in :data:`CONFIGS`. ``laptop``: Fashion-MNIST 10k, ResNet-8 w16,
batch 128, LR 0.1 -> 3 over 400 iterations (the paper's bounds, a 12.5x steeper ramp), estimate
every 5 iterations, ``λ_max`` on 256 images at 6 points. ``paper``: CIFAR-10, ResNet-56, batch
1000, the first 5,000 iterations of the headline CLR solver (0.1 -> 3, stepsize 5k, momentum
0.9; FACTS §2), the snapshot estimate at every iteration over pycaffe's ``net.params`` as the
authors' script computed it (overlapping windows, BN blobs included), the same-batch secant in
windows of its own every 10 iterations (``SECANT_RECORD``), summarised over the first 300
iterations as the paper reports them.

Why fp32 (``precision="fp32"``, not the CPU's bf16 default): the secant form differences two
gradients of the same batch, whose bf16 rounding noise (~0.4 % of each) would swamp the
difference for small steps; and ``top_eigenvalue`` runs in fp32 anyway. On a CUDA GPU PyTorch's
default lets cuDNN use TF32 for convolutions, so "fp32" there means TF32 convolutions.

Everything is cached with ``Store.memo("hessian_free", study_spec, ...)``: the study spec holds
the run spec *and* the callbacks' settings, so changing ``every`` or the probe points computes
afresh instead of loading a stale result.

API::

    res = run("laptop")                    # HFResult (trains or loads)
    res.estimate                           # DataFrame: iteration, lr, eps_star, eps_smoothed, secant, ...
    res.per_layer("per_layer")             # DataFrame: layers x iterations
    res.probes                             # DataFrame: iteration, lr, lambda_max, 1/λ, 2/λ, 2(1+μ)/λ, ...
    res.summary()                          # stats over the reported phase
    paper_vs_ours([res], stored("paper"))  # the chapter's comparison table
    run("laptop", probes=False, batch_size=256)   # a variant (the exercises)
    noise_ratio(0.9, inc=1)                # eps*/eps when the steps are pure noise: 2.236
    quadratic_inc_factor(lr, a, inc)       # the snapshot form's bias for inc > 1 on a quadratic

**What the snapshot form measures under noise** (:func:`noise_ratio`, our analysis): if the steps
are driven by gradient noise alone, ``v_{t+1} = μ·v_t + n_t``, the paper's estimate is
``eps/sqrt(2(1-μ))`` (inc = 1) whatever the noise level -- proportional to the LR it was computed
with, 2.24·eps at μ = 0.9. The chapter compares ``eps*/eps`` with that value.

The verdict rule (:func:`verdict`): our median ``eps*`` over the reported phase is *the same order*
as the paper's 2-6 if it lies within a factor :data:`ORDER_FACTOR` of that range (in [1, 12]);
otherwise it is *smaller* or *larger* by the factor to the nearer end.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from .. import _checks, chapter, data, experiments, models, paper, verdicts
from ..hessian import HessianFreeEstimate, curvature_bounds, top_eigenvalue
from ..results import Store
from ..train import History, fit
from . import base

KIND = "hessian_free"
#: The record of the secant form where it runs in windows of its own (``secant_every``).
SECANT_RECORD = "hessian_free_secant"

def _check_config(profile: str, values: dict) -> None:
    """The parameters together (EVERY >= 2*INC, MAX_LR above the ramp's start, ...): the
    chapter's :func:`config` built from them."""
    base.check_plan(lambda: config(profile, probes=values["PROBES"] is not False, max_lr=values["MAX_LR"],
                                   ramp=values["RAMP"], every=values["EVERY"], inc=values["INC"],
                                   group=values["GROUP"]), names=tuple(values))


#: The chapter, with its seeds when the notebook's SEEDS is None: one detailed run (more seeds
#: are pooled in the table).
CHAPTER = base.Chapter(
    "chapters/05_hessian_free_estimate.ipynb", seeds={"smoke": [0], "laptop": [0], "paper": [0]},
    knobs=dict(MAX_LR=chapter.positive, RAMP=chapter.positive_int, EVERY=chapter.positive_int,
               INC=chapter.positive_int, GROUP=chapter.one_of("module", "tensor"), PROBES=chapter.one_of(True, False)),
    validate=_check_config)
default_seeds, command = CHAPTER.default_seeds, CHAPTER.command

ORDER_FACTOR = 2.0          # "same order": within this factor of the paper's range
GROUPS = ("module", "tensor")

#: The paper's CLR solver (FACTS §2 [D]), whose rising half is the paper profile's run.
_CLR = {k: paper.get(f"sc.solver.clr.{k}").value for k in ("base_lr", "max_lr", "stepsize", "momentum")}

#: The study of each profile. ``ramp``: the LR rises linearly from ``base_lr`` to ``max_lr`` over
#: ``ramp`` iterations (a triangular CLR cycle of stepsize ``ramp``; ``iterations`` of it are
#: trained); ``every``/``inc``: the estimate's period and snapshot spacing; ``probe_at``: the
#: completed-iteration counts where ``λ_max`` is measured, on ``probe_size`` training images with
#: at most ``probe_iters`` Hessian-vector products; ``report_until``: the phase the paper-vs-ours
#: table summarises (None: the whole run); ``evals``: test evaluations per run.
CONFIGS: dict = {
    "smoke": dict(base_lr=0.1, max_lr=3.0, ramp=40, iterations=40, momentum=0.9, every=4, inc=1,
                  group="module", probe_at=[20, 40], probe_size=50, probe_iters=4, probe_tol=1e-3,
                  report_until=None, evals=2),
    "laptop": dict(base_lr=0.1, max_lr=3.0, ramp=400, iterations=400, momentum=0.9, every=5, inc=1,
                   group="module", probe_at=[25, 50, 100, 200, 300, 400], probe_size=256,
                   probe_iters=20, probe_tol=1e-3, report_until=None, evals=4),
    # the rising half of the headline CLR solver: 0.1 -> 3 over 5000 iterations, momentum 0.9
    "paper": dict(base_lr=float(_CLR["base_lr"]), max_lr=float(_CLR["max_lr"]), ramp=int(_CLR["stepsize"]),
                  iterations=int(_CLR["stepsize"]), momentum=float(_CLR["momentum"]),
                  # the authors' Fig. 5a script: a window opens at every iteration (they overlap),
                  # summed over pycaffe's net.params, BN blobs included; the same-batch secant needs
                  # windows that do not overlap, so it runs beside it in its own, every 10
                  every=1, inc=1, secant_every=10, blobs="caffe",
                  group="module", probe_at=[100, 300, 1000, 2000, 3500, 5000], probe_size=1000,
                  probe_iters=20, probe_tol=1e-3, report_until=int(paper.get("hf.reported.iterations").value),
                  evals=10),
}
#: What :func:`config` lets a caller change (the notebook's knobs and the exercises).
OVERRIDABLE = ("base_lr", "max_lr", "ramp", "iterations", "momentum", "every", "inc", "secant_every", "group",
               "probe_at", "probe_size", "probe_iters", "probe_tol", "report_until", "evals",
               "batch_size", "precision", "weight_decay", "constant_lr")

#: Fig. 5b: the estimate at PC-LR's constant first-stage LR (the headline PC-LR solver, FACTS §2),
#: over the same number of iterations as the ramp run (:func:`run_constant`).
CONSTANT_LR = float(paper.HEADLINE_PC_SOLVER["base_lr"])


# --------------------------------------------------------------------------- configs

def config(profile: Optional[str], probes: bool = True, **overrides) -> dict:
    """The study settings of ``profile`` with ``overrides`` (``None`` values keep the profile's).

    ``probes=False`` drops the ``λ_max`` probes (``probe_at=[]``; a cheaper variant for the
    exercises). Everything is validated here, before any work.
    """
    profile = experiments.resolve_profile(profile)
    unknown = set(overrides) - set(OVERRIDABLE)
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; allowed: {', '.join(OVERRIDABLE)}")
    cfg = copy.deepcopy(CONFIGS[profile])
    given = {k: copy.deepcopy(v) for k, v in overrides.items() if v is not None}
    if "ramp" in given:
        _checks.positive_int("ramp", given["ramp"])
        if "iterations" not in given:  # keep the share of the ramp that is trained
            given["iterations"] = max(1, round(cfg["iterations"] * given["ramp"] / cfg["ramp"]))
    if "inc" in given and "every" not in given:  # room for the three snapshots
        _checks.positive_int("inc", given["inc"])
        if cfg.get("secant_every") is not None:  # overlapping windows: only the secant's must widen
            given.setdefault("secant_every", max(cfg["secant_every"], 2 * given["inc"]))
        else:
            given["every"] = max(cfg["every"], 2 * given["inc"])
    if "iterations" in given and "probe_at" not in given:  # the probes keep their relative places
        _checks.positive_int("iterations", given["iterations"])
        scale = given["iterations"] / cfg["iterations"]
        given["probe_at"] = sorted({min(given["iterations"], max(1, round(a * scale))) for a in cfg["probe_at"]})
    cfg.update(given)
    if not probes:
        cfg["probe_at"] = []
    for k in ("ramp", "iterations", "every", "inc", "probe_size", "probe_iters", "evals"):
        _checks.positive_int(k, cfg[k])
    top = _checks.positive("max_lr", cfg["max_lr"])
    cfg["base_lr"] = _checks.real("base_lr", cfg["base_lr"], f"a number in [0, max_lr={top:g})",
                                  lambda v: 0 <= v < top)
    cfg["max_lr"] = top
    cfg["momentum"] = _checks.fraction("momentum", cfg["momentum"])
    if cfg["iterations"] > 2 * cfg["ramp"]:
        _checks.fail("iterations", cfg["iterations"], f"at most 2*ramp = {2 * cfg['ramp']} (one cycle)")
    if cfg.get("secant_every") is not None:  # the snapshot form may overlap; the secant has its own windows
        _checks.integer("secant_every", cfg["secant_every"], minimum=2 * cfg["inc"])
    elif cfg["every"] < 2 * cfg["inc"]:
        _checks.fail("every", cfg["every"], f"an integer >= 2*inc = {2 * cfg['inc']} (three snapshots inc apart)")
    _checks.choice("group", cfg["group"], GROUPS)
    at = _checks.list_of(lambda name, a: _checks.integer(name, a, 1, cfg["iterations"]), min_len=0)(
        "probe_at", cfg["probe_at"])
    cfg["probe_at"] = sorted(set(at))
    _checks.non_negative("probe_tol", cfg["probe_tol"])  # checked, not converted: it is part of the spec
    if cfg["report_until"] is not None:
        _checks.positive_int("report_until", cfg["report_until"])
    if "batch_size" in cfg:
        _checks.positive_int("batch_size", cfg["batch_size"])
    if cfg.get("constant_lr") is not None:
        cfg["constant_lr"] = _checks.positive("constant_lr", cfg["constant_lr"])
    _checks.choice("precision", cfg.get("precision", "fp32"), ("fp32", "bf16", "auto"))
    return cfg


def run_spec(profile: Optional[str], cfg: dict, seed: int = 0) -> dict:
    """The ``experiments`` run spec of a study config: the profile's data, model and batch size,
    the linear ramp as a triangular CLR cycle, constant momentum, BN fraction 0.95 (CLR runs,
    FACTS §2), fp32 unless the config says otherwise."""
    profile = experiments.resolve_profile(profile)
    sched = dict(kind="clr", base_lr=cfg["base_lr"], max_lr=cfg["max_lr"], step_size=cfg["ramp"],
                 total_steps=2 * cfg["ramp"])
    if cfg.get("constant_lr") is not None:  # Fig. 5b: a constant LR instead of the ramp
        sched = dict(kind="fixed", lr=cfg["constant_lr"])
    return experiments.make_spec(
        profile, schedule=sched, iterations=cfg["iterations"], momentum=cfg["momentum"],
        bn_momentum=0.05, precision=cfg.get("precision", "fp32"), seed=seed,
        batch_size=cfg.get("batch_size"), weight_decay=cfg.get("weight_decay"),
        eval_every=max(1, cfg["iterations"] // cfg["evals"]))


def study_spec(profile: Optional[str], cfg: dict, seed: int = 0) -> dict:
    """What the results store keys on: the run spec plus every callback setting."""
    blobs = "trainable" if "blobs" in experiments.modern_settings() else cfg.get("blobs", "trainable")
    return dict(run=run_spec(profile, cfg, seed),
                estimate=dict(every=cfg["every"], inc=cfg["inc"], group=cfg["group"],
                              smoothing=0.9, init=0.1, secant=cfg.get("secant_every") is None, per_layer=True,
                              **({} if blobs == "trainable" else {"blobs": blobs}),
                              **({} if cfg.get("secant_every") is None else {"secant_every": cfg["secant_every"]})),
                probe=dict(at=list(cfg["probe_at"]), size=cfg["probe_size"], iters=cfg["probe_iters"],
                           tol=cfg["probe_tol"], bn_mode="train", seed=seed, data_seed=0))


# --------------------------------------------------------------------------- the λ_max probe

class EigenProbe:
    """A ``train.fit`` callback: the top Hessian eigenvalue at given completed iterations.

    At every ``done = it + 1`` in ``at`` it runs :func:`superconv.hessian.top_eigenvalue` on the
    fixed ``batch`` (fp32, autocast off; BN with batch statistics, ``bn_mode="train"``), which
    restores the model's buffers, flags, ``.grad`` and RNG state, so the run continues exactly
    as without the probe. Records ``history.extra[name]``: ``iteration``, ``lr`` and ``momentum``
    of the last step, ``lambda_max`` (signed: power iteration finds the eigenvalue of largest
    magnitude, negative if a negative one dominates), ``seconds``.
    """

    def __init__(self, at: Sequence[int], batch, iters: int = 20, tol: float = 1e-3, seed: int = 0,
                 bn_mode: str = "train", name: str = "top_eigenvalue"):
        self.at = set(int(a) for a in at)
        self.batch, self.iters, self.tol, self.seed, self.bn_mode, self.name = batch, iters, tol, seed, bn_mode, name

    def on_step(self, ctx) -> None:
        done = ctx.it + 1
        if done not in self.at:
            return
        t0 = time.perf_counter()
        lam = top_eigenvalue(ctx.model, batch=self.batch, iters=self.iters, tol=self.tol, seed=self.seed,
                             bn_mode=self.bn_mode)
        rec = ctx.history.extra.setdefault(self.name, {k: [] for k in
                                                       ("iteration", "lr", "momentum", "lambda_max", "seconds")})
        if done in rec["iteration"]:  # resumed run that already probed here
            return
        rec["iteration"].append(done)
        rec["lr"].append(float(ctx.lr))
        rec["momentum"].append(None if ctx.momentum is None else float(ctx.momentum))
        rec["lambda_max"].append(float(lam))
        rec["seconds"].append(time.perf_counter() - t0)


def probe_batch(split: data.Split, size: int, seed: int = 0) -> tuple:
    """A fixed batch of ``size`` training images (seeded choice, normalized, no augmentation)."""
    size = min(_checks.positive_int("size", size), len(split))
    idx = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:size]
    return next(data.eval_batches(split.subset(idx.to(split.labels.device)), size))


# --------------------------------------------------------------------------- running

def _compute(spec: dict, device: str, progress: bool) -> dict:
    rs, est, pr = spec["run"], spec["estimate"], spec["probe"]
    dev = experiments.device_string(device)
    train, test = experiments.load_data(rs, dev)
    model = experiments.build_model(rs, train)
    callbacks = [HessianFreeEstimate(every=est["every"], inc=est["inc"], smoothing=est["smoothing"],
                                     init=est["init"], per_layer=est["per_layer"], secant=est["secant"],
                                     group=est["group"], blobs=est.get("blobs", "trainable"))]
    if est.get("secant_every"):  # overlapping snapshot windows: the secant in windows of its own
        callbacks.append(HessianFreeEstimate(every=est["secant_every"], inc=est["inc"], smoothing=est["smoothing"],
                                             init=est["init"], per_layer=est["per_layer"], secant=True,
                                             group=est["group"], name=SECANT_RECORD))
    if pr["at"]:
        batch = probe_batch(train, pr["size"], pr["data_seed"])
        callbacks.insert(0, EigenProbe(pr["at"], batch, iters=pr["iters"], tol=pr["tol"] or 0.0,
                                       seed=pr["seed"], bn_mode=pr["bn_mode"]))
    h = fit(model, train, test, experiments.build_schedule(rs["schedule"]), **experiments.fit_options(rs),
            device=dev, progress=progress, desc=experiments.describe(rs), callbacks=callbacks)
    return dict(history=h.to_dict())


def run(profile: Optional[str], seed: int = 0, device: str = "auto", store: Optional[Store] = None,
        retrain: bool = False, progress: bool = False, probes: bool = True, **overrides) -> "HFResult":
    """Train (or load from the store) one study run and return an :class:`HFResult`."""
    profile = experiments.resolve_profile(profile)
    _checks.integer("seed", seed, minimum=0)
    cfg = config(profile, probes=probes, **overrides)
    spec = study_spec(profile, cfg, seed)
    experiments.build_schedule(spec["run"]["schedule"])  # validates before any work
    store = store or Store()
    result = store.memo(KIND, spec, profile, lambda: _compute(spec, device, progress), retrain=retrain)
    return HFResult.from_record(profile, cfg, spec, result)


def run_constant(profile: Optional[str], seed: int = 0, lr: float = CONSTANT_LR, **kwargs) -> "HFResult":
    """Fig. 5b: :func:`run` at a constant ``lr`` (PC-LR's first stage, 0.35) instead of the ramp, for
    as many iterations, without the eigenvalue probes unless ``probes=True``."""
    kwargs.setdefault("probes", False)
    return run(profile, seed=seed, constant_lr=lr, **kwargs)


def run_seeds(profile: Optional[str], seeds: Optional[Sequence[int]] = None, **kwargs) -> list:
    """:func:`run` for each seed (None: the chapter's), a list of :class:`HFResult`."""
    return [run(profile, seed=s, **kwargs) for s in CHAPTER.seeds_or_default(profile, seeds)]


class _NotStored(LookupError):
    pass


def stored(profile: str = "paper", seeds: Optional[Sequence[int]] = None, store: Optional[Store] = None,
           **overrides) -> list:
    """The study results already in the store for ``profile`` (never trains): a list, possibly
    empty, of :class:`HFResult` for the seeds (None: the chapter's) that have a record."""
    profile = experiments.resolve_profile(profile)
    seeds = CHAPTER.seeds_or_default(profile, seeds)
    store = store or Store()
    cfg = config(profile, **overrides)
    out = []
    for s in seeds:
        spec = study_spec(profile, cfg, s)

        def refuse() -> dict:
            raise _NotStored(profile)
        try:
            out.append(HFResult.from_record(profile, cfg, spec, store.memo(KIND, spec, profile, refuse)))
        except _NotStored:
            continue
    return out


# --------------------------------------------------------------------------- results

def _num(v) -> float:
    return math.nan if v is None else float(v)  # float() reads the 'nan' / 'inf' that JSON stores


@dataclass
class HFResult:
    """One study run: its settings, its ``History`` and the callbacks' records as tables."""

    profile: str
    cfg: dict
    spec: dict
    history: History

    @classmethod
    def from_record(cls, profile: str, cfg: dict, spec: dict, result: dict) -> "HFResult":
        return cls(profile, cfg, spec, History.from_dict(result["history"]))

    # -- descriptions
    @property
    def seed(self) -> int:
        return self.spec["run"]["seed"]

    @property
    def momentum(self) -> float:
        return float(self.cfg["momentum"])

    @property
    def diverged(self) -> bool:
        return bool(self.history.diverged)

    def describe(self) -> str:
        """E.g. ``"ResNet-8 w16, Fashion-MNIST 10,000 train, batch 128, fp32"``."""
        return describe(self.spec["run"])

    def ramp_text(self) -> str:
        c = self.cfg
        if c.get("constant_lr") is not None:
            return f"LR {c['constant_lr']:g} constant over {c['iterations']:,} iterations, momentum {c['momentum']:g}"
        tail = "" if c["iterations"] == c["ramp"] else f" (trained: the first {c['iterations']:,})"
        return (f"LR {c['base_lr']:g} → {c['max_lr']:g} linearly over {c['ramp']:,} iterations{tail}, "
                f"momentum {c['momentum']:g}")

    # -- records
    def _rec(self, name: str) -> dict:
        return self.history.extra.get(name) or {}

    def _secant_rec(self) -> dict:
        """The record that holds the secant form: its own (``secant_every``) or the estimate's."""
        return self._rec(SECANT_RECORD) or self._rec("hessian_free")

    @property
    def secants(self):
        """DataFrame, one row per secant window: ``iteration``, ``lr``, ``secant``, ``secant_eff``.
        The same windows as :attr:`estimate` unless the secant runs in its own (paper profile:
        the snapshot form at every iteration, the secant every ``secant_every``)."""
        import pandas as pd
        rec = self._secant_rec()
        df = pd.DataFrame(dict(iteration=[int(i) for i in rec.get("iteration", [])],
                               lr=[_num(v) for v in rec.get("lr", [])],
                               secant=[_num(v) for v in rec.get("secant", [])]))
        df["secant_eff"] = df["secant"] * (1 - self.momentum)
        return df

    @property
    def estimate(self):
        """DataFrame, one row per estimate window: ``iteration`` (k), ``lr`` (eps used),
        ``eps_star``, ``eps_smoothed`` (m), ``secant``, ``ratio`` (eps*/eps), ``secant_eff``
        (secant·(1-μ), the secant as a momentum-SGD LR)."""
        import pandas as pd
        rec = self._rec("hessian_free")
        cols = {k: [_num(v) for v in rec.get(k, [])] for k in ("lr", "eps_star", "eps_smoothed")}
        df = pd.DataFrame(dict(iteration=[int(i) for i in rec.get("iteration", [])], **cols))
        sec = self.secants  # NaN at the windows where no secant was measured
        df["secant"] = df["iteration"].map(dict(zip(sec["iteration"], sec["secant"]))).astype(float)
        df["ratio"] = df["eps_star"] / df["lr"]
        df["secant_eff"] = df["secant"] * (1 - self.momentum)
        return df

    def per_layer(self, key: str = "per_layer"):
        """DataFrame layers x window iterations of ``per_layer`` (snapshot form) or
        ``per_layer_secant`` (secant form); rows in the model's order."""
        import pandas as pd
        _checks.choice("key", key, ("per_layer", "per_layer_secant"))
        rec = self._secant_rec() if key == "per_layer_secant" else self._rec("hessian_free")
        layers = rec.get(key, {})
        its = [int(i) for i in rec.get("iteration", [])]
        return pd.DataFrame({g: [_num(v) for v in vals] for g, vals in layers.items()}, index=its).T

    @property
    def probes(self):
        """DataFrame, one row per ``λ_max`` probe: ``iteration``, ``lr``, ``lambda_max``,
        ``inv`` (1/λ), ``gd_bound`` (2/λ), ``hb_bound`` (2(1+μ)/λ, heavy-ball stability), and
        the estimate of the nearest window: ``eps_star``, ``eps_smoothed``, ``secant``."""
        import pandas as pd
        rec = self._rec("top_eigenvalue")
        df = pd.DataFrame({k: rec.get(k, []) for k in ("iteration", "lr", "lambda_max", "seconds")})
        if df.empty:
            return df
        df["lambda_max"] = [_num(v) for v in df["lambda_max"]]
        bounds = [curvature_bounds(l) for l in df["lambda_max"]]
        df["inv"] = [b[0] for b in bounds]
        df["gd_bound"] = [b[1] for b in bounds]
        df["hb_bound"] = df["gd_bound"] * (1 + self.momentum)
        est, sec = self.estimate, self.secants
        for col in ("eps_star", "eps_smoothed"):
            df[col] = [_nearest(est, it, col) for it in df["iteration"]]
        df["secant"] = [_nearest(sec, it, "secant") for it in df["iteration"]]
        return df

    # -- summaries
    def phase(self, until: Optional[int] = None, lr_upto: Optional[float] = None):
        """The estimate rows of the reported phase: windows starting before ``until`` (default:
        the config's ``report_until``; None: the whole run) and, if ``lr_upto`` is given, whose
        LR is at most ``lr_upto``."""
        until = self.cfg["report_until"] if until is None else until
        est = self.estimate
        if until is not None:
            est = est[est["iteration"] < until]
        if lr_upto is not None:
            est = est[est["lr"] <= lr_upto]
        return est

    def summary(self, until: Optional[int] = None, lr_upto: Optional[float] = None) -> dict:
        """Stats of the reported phase (see :meth:`phase`): ``{series: dict(min, median, max,
        n)}`` for ``eps_star``, ``eps_smoothed``, ``secant``, ``ratio``, ``lr``, ``secant_eff``;
        ``until``, ``windows``; and the probes' stats (``lambda_max``, ``inv``, ``gd_bound``,
        ``hb_bound``) over the probes inside the phase, or all probes if none is
        (``probes_in_phase`` says which)."""
        return pooled_summary([self], until, lr_upto)


def _nearest(est, it: int, col: str) -> float:
    if est.empty:
        return math.nan
    i = int(np.argmin(np.abs(est["iteration"].to_numpy() - it)))
    return float(est[col].iloc[i])


def stats(values) -> dict:
    """``dict(min, median, max, n)`` of the finite values (NaNs when none)."""
    v = np.asarray([x for x in np.asarray(values, dtype=float) if math.isfinite(x)])
    if v.size == 0:
        return dict(min=math.nan, median=math.nan, max=math.nan, n=0)
    return dict(min=float(v.min()), median=float(np.median(v)), max=float(v.max()), n=int(v.size))


def pooled_summary(results: Sequence[HFResult], until: Optional[int] = None,
                   lr_upto: Optional[float] = None) -> dict:
    """:meth:`HFResult.summary` over several seeds, windows (and probes) pooled."""
    import pandas as pd
    if not results:
        raise ValueError("no results to summarise")
    first = results[0]
    lim = first.cfg["report_until"] if until is None else until
    phases = pd.concat([r.phase(until, lr_upto) for r in results], ignore_index=True)
    out = {"until": lim, "lr_upto": lr_upto, "windows": len(phases)}
    for col in ("eps_star", "eps_smoothed", "secant", "ratio", "lr", "secant_eff"):
        out[col] = stats(phases[col])
    probes = [r.probes for r in results]
    probes = pd.concat([p for p in probes if not p.empty], ignore_index=True) if any(
        not p.empty for p in probes) else pd.DataFrame()
    if not probes.empty:
        inside = probes
        if lim is not None:
            inside = inside[inside["iteration"] <= lim]
        if lr_upto is not None:
            inside = inside[inside["lr"] <= lr_upto]
        use = inside if len(inside) else probes
        out["probes_in_phase"] = len(inside) > 0
        for col in ("lambda_max", "inv", "gd_bound", "hb_bound"):
            out[col] = stats(use[col])
    return out


def noise_ratio(momentum: float = 0.9, inc: int = 1) -> float:
    """``eps*/eps`` of the snapshot form when the steps are pure gradient noise.

    Model: ``v_{t+1} = μ·v_t + n_t`` with i.i.d. Gaussian ``n_t`` (no curvature, no mean
    gradient), ``θ_{t+1} = θ_t - eps·v_{t+1}``, constant ``eps``; snapshots ``inc`` steps apart.
    Then ``θ2 - θ1 = -eps·S1`` and ``2θ2 - θ1 - θ3 = eps·(S2 - S1)`` with ``S`` sums of ``inc``
    consecutive ``v``, and for Gaussians the L1 ratio is the ratio of standard deviations:
    ``eps*/eps = sqrt(Var S / Var(S2 - S1))`` from the AR(1) autocovariance ``μ^|k|/(1-μ²)``.
    For ``inc = 1`` this is ``1/sqrt(2(1-μ))``: 0.707 for plain SGD, 2.236 for μ = 0.9. A run
    whose ``eps*/eps`` sits at this value is measuring its own LR, not the curvature.
    """
    mu = _checks.fraction("momentum", momentum)
    inc = _checks.positive_int("inc", inc)
    gamma = lambda k: mu ** abs(k) / (1 - mu * mu)
    var_s = sum(gamma(i - j) for i in range(inc) for j in range(inc))
    cov = sum(gamma(j - i) for i in range(inc) for j in range(inc, 2 * inc))
    return math.sqrt(var_s / (2 * var_s - 2 * cov))


def paper_phase_lr() -> float:
    """The LR of the paper's run at the end of its reported phase: the headline ramp 0.1 -> 3
    over 5000 iterations at iteration ~300 (FACTS §2, §5): ``0.1 + 2.9·300/5000 = 0.274``."""
    its = paper.get("hf.reported.iterations").value
    return float(_CLR["base_lr"] + (_CLR["max_lr"] - _CLR["base_lr"]) * its / _CLR["stepsize"])


def describe(spec: dict) -> str:
    """Model, data, batch and precision of a run spec, for captions."""
    width = spec["model_kwargs"].get("width")
    paper_net = spec["model"] in ("resnet56", "caffe_resnet56") and width == 16
    model = models.label(spec["model"]) + (f" w{width}" if width and not paper_net else "")
    dataset = data.title(spec["dataset"])
    size = f"{spec['train_size']:,}" if spec["train_size"] is not None else "all"
    return f"{model}, {dataset} ({size} train), batch {spec['batch_size']}, {spec['precision']}"


# --------------------------------------------------------------------------- paper vs ours

def verdict(median: float, paper_range: Sequence[float] = (2.0, 6.0), factor: float = ORDER_FACTOR) -> str:
    """``"same order"`` if ``median`` is in [lo/factor, hi·factor]; else ``"smaller (×N below)"``
    or ``"larger (×N above)"`` measured from the nearer end of the paper's range; ``"no value"``
    for a non-finite median."""
    lo, hi = float(min(paper_range)), float(max(paper_range))
    if median is None or not math.isfinite(median) or median <= 0:
        return "no value"
    if lo / factor <= median <= hi * factor:
        return "same order"
    if median < lo / factor:
        return f"smaller (×{lo / median:.1f} below {lo:.3g})"
    return f"larger (×{median / hi:.1f} above {hi:.3g})"


def _fmt_stats(s: dict, digits: int = 3) -> str:
    if not s or not s.get("n"):
        return "—"
    g = lambda x: f"{x:.{digits}g}"
    return f"{g(s['min'])}–{g(s['max'])} (median {g(s['median'])})"


def paper_vs_ours(ours: Sequence[HFResult], paper_results: Sequence[HFResult] = ()):
    """The chapter's table: one row per quantity; columns ``paper`` (FACTS numbers with their
    tags via :func:`superconv.paper.cite`), ``ours (<profile>)`` over the reported phase, ``ours
    (paper profile)`` (if stored, else the command that computes it) and ``verdict``
    (:func:`verdict`). Rows: ``eps*`` over the whole phase and over the windows whose LR is at
    most the paper's LR at its iteration 300 (:func:`paper_phase_lr`), ``m``, the secant form,
    ``eps*/eps`` against the paper's implied ratio and the pure-noise value, the LR, and the
    ``λ_max`` bounds. ``table.attrs["phase_ours"]`` / ``["phase_paper"]`` describe the phases."""
    import pandas as pd
    rep = paper.get("hf.reported.range")
    lo, hi = float(rep.value.lo), float(rep.value.hi)
    lr_end, lr0 = paper_phase_lr(), float(_CLR["base_lr"])
    ratio_range = (lo / lr_end, hi / lr0)  # eps*/eps implied by 2-6 at LR 0.1-0.274
    o = ours[0]
    ours_s = pooled_summary(ours)
    ours_m = pooled_summary(ours, lr_upto=lr_end)
    pap_s = pooled_summary(paper_results) if paper_results else None
    pap_m = pooled_summary(paper_results, lr_upto=lr_end) if paper_results else None
    first = f"during the first {paper.cite('hf.reported.iterations', source=False)}"
    floor = noise_ratio(o.momentum, o.cfg["inc"])
    rows = []

    def row(what, paper_txt, key, ref=None, matched=False):
        so, sp = (ours_m, pap_m) if matched else (ours_s, pap_s)
        v = "—"
        if ref is not None:
            v = f"ours: {verdict(so[key]['median'], ref)}"
            if sp:
                v += f"; paper profile: {verdict(sp[key]['median'], ref)}"
        r = {"quantity": what, "paper": paper_txt, f"ours ({o.profile})": _fmt_stats(so.get(key, {})), "verdict": v}
        if sp:  # no column while no paper-profile run is stored: attrs["not_run"] says how
            r["ours (paper profile)"] = _fmt_stats(sp.get(key, {}))
        rows.append(r)

    row("ε* (snapshot form), whole phase", f"{paper.cite(rep, source=False)} {first}", "eps_star", (lo, hi))
    row(f"ε*, windows with LR ≤ {lr_end:.3g} (the paper's LR range)", f"{paper.cite(rep, source=False)} {first}",
        "eps_star", (lo, hi), matched=True)
    row("m (smoothed 0.9·m + 0.1·ε*, from m = 0.1), whole phase",
        "— (FACTS does not say whether 2–6 is m or ε*)", "eps_smoothed", (lo, hi))
    row("ε*/ε (estimate over the LR used)",
        f"~{ratio_range[0]:.3g}–{ratio_range[1]:.3g} (derived: 2–6 at LR 0.1–{lr_end:.3g}) "
        f"; pure noise: {floor:.3g}", "ratio", ratio_range)
    row("secant Σ|Δθ|/Σ|Δg| (same batch)", "— (not in the paper)", "secant")
    row("LR ε used", f"{paper.cite('sc.solver.clr.base_lr', source=False)} → {lr_end:.3g} "
        f"(0.1 → 3 over {int(_CLR['stepsize']):,})", "lr")
    row("1/λ_max (power iteration)", "— (not in the paper)", "inv")
    row("2/λ_max (GD stability)", "— (a cross-check FACTS §5 suggests)", "gd_bound")
    row(f"2(1+μ)/λ_max (stability with momentum μ = {o.momentum:g})", "—", "hb_bound")
    table = pd.DataFrame(rows)
    table.attrs["phase_ours"] = _phase_text(o, ours_s)
    table.attrs["phase_paper"] = _phase_text(paper_results[0], pap_s) if paper_results else ""
    table.attrs["not_run"] = None if paper_results else command("paper")
    return table


def _phase_text(r: Optional[HFResult], s: Optional[dict]) -> str:
    if r is None or s is None:
        return ""
    until = s["until"]
    span = f"the first {until:,} iterations" if until is not None else f"all {r.cfg['iterations']:,} iterations"
    lr = s["lr"]
    return (f"{r.profile} profile: {span} ({s['windows']} windows, LR {lr['min']:.3g}–{lr['max']:.3g}); "
            f"{describe(r.spec['run'])}")


def layer_extremes(result: HFResult, n: int = 3, key: str = "per_layer", until: Optional[int] = None):
    """The ``n`` layers with the largest and the smallest median per-layer estimate over the
    reported phase: a DataFrame (layer, median, rank)."""
    import pandas as pd
    pl = result.per_layer(key)
    until = result.cfg["report_until"] if until is None else until
    if until is not None:
        pl = pl.loc[:, [c for c in pl.columns if c < until]]
    med = pl.median(axis=1, skipna=True).sort_values(ascending=False)
    top = [("largest", k, v) for k, v in med.head(n).items()]
    bottom = [("smallest", k, v) for k, v in med.tail(n)[::-1].items()]
    return pd.DataFrame(top + bottom, columns=["end", "layer", "median"])


def quadratic_inc_factor(lr: float, curvature: float, inc: int) -> float:
    """The snapshot estimate of plain GD on ``½·a·θ²`` with snapshots ``inc`` steps apart, in
    units of the true optimum ``1/a``: ``lr·a / (1 - (1 - lr·a)^inc)`` (≈ ``1/inc`` for small
    ``lr·a``; exactly 1 for ``inc = 1``). The exercise on ``inc=10``."""
    x = float(lr) * float(curvature)
    return x / (1.0 - (1.0 - x) ** int(inc))


__all__ = ["CONFIGS", "CHAPTER", "default_seeds", "command", "EigenProbe", "HFResult", "config", "run", "run_constant", "CONSTANT_LR", "run_seeds", "stored", "study_spec",
           "run_spec", "probe_batch", "paper_vs_ours", "verdict", "stats", "pooled_summary", "noise_ratio",
           "paper_phase_lr", "layer_extremes", "describe", "command", "quadratic_inc_factor", "ORDER_FACTOR"]


# --------------------------------------------------------------------------- scorecard

#: ε*/ε within this factor of the pure-noise value :func:`noise_ratio`: the estimate "tracks the
#: learning rate" (it reports the LR it was given, not the curvature).
TRACK_FACTOR = 1.5


def tracking(ratio_median: float, momentum: float, inc: int = 1) -> str:
    """Where a run's median ε*/ε sits against the pure-noise value ``noise_ratio(momentum, inc)``:
    "tracks the learning rate" (within ×:data:`TRACK_FACTOR`), "above the noise value",
    "below the noise value", or "no windows" (not finite)."""
    if not math.isfinite(ratio_median):
        return "no windows"
    noise = noise_ratio(momentum, inc)
    if noise / TRACK_FACTOR <= ratio_median <= noise * TRACK_FACTOR:
        return "tracks the learning rate"
    return "above the noise value" if ratio_median > noise else "below the noise value"


FINDING_RULE = (f"inconclusive if the median ratio ε*/ε over the reported phase (seeds pooled) is within "
                f"×{TRACK_FACTOR:g} of its pure-noise value (1/√(2(1−μ)) for snapshots one iteration apart): "
                "there ε* reports the learning rate it was given, so neither a match nor a mismatch with the "
                f"paper says anything about the curvature; otherwise reproduced if the median of ε* is within "
                f"×{ORDER_FACTOR:g} of the paper's 2–6 (\"same order\"), not reproduced if it is not")


def finding_verdict(order: str, track: str) -> str:
    """:data:`FINDING_RULE`: ``order`` is :func:`verdict` of the median ε*, ``track`` is
    :func:`tracking` of the median ε*/ε."""
    if track == "tracks the learning rate":
        return "inconclusive"
    return "reproduced" if order == "same order" else "not reproduced"


def track_summary(results: Sequence["HFResult"]) -> dict:
    """Where the snapshot estimate sits against its noise value over the reported phase, seeds
    pooled (the scorecard's finding and the chapter's sentence read the same numbers):
    ``{"state"`` (:func:`tracking`), ``"ratio_median"``, ``"near"`` (the share of windows
    within ×:data:`TRACK_FACTOR` of the noise value), ``"noise"``, ``"windows"}``."""
    import pandas as pd
    first = results[0]
    noise = noise_ratio(first.momentum, first.cfg["inc"])
    phases = pd.concat([r.phase() for r in results], ignore_index=True)
    ratio = phases["ratio"].to_numpy(dtype=float)
    ratio = ratio[np.isfinite(ratio)]
    med = float(np.median(ratio)) if len(ratio) else math.nan
    near = float(np.mean((ratio > noise / TRACK_FACTOR) & (ratio < noise * TRACK_FACTOR))) if len(ratio) else 0.0
    return dict(state=tracking(med, first.momentum, first.cfg["inc"]), ratio_median=med, near=near, noise=noise,
                windows=len(ratio))

EXPERIMENT = "the Hessian-free estimate over an LR ramp"


def findings(profile: str = "laptop", store: Optional[Store] = None) -> list:
    """Scorecard finding for ``hf.range`` from stored results only (the chapter's seeds)."""
    profile = experiments.resolve_profile(profile)
    res = stored(profile, store=store)
    if not res:
        return [CHAPTER.not_run("hf.range", profile, FINDING_RULE, experiment=EXPERIMENT)]
    s = pooled_summary(res)["eps_star"]
    v = verdict(s["median"])
    tr = track_summary(res)
    word = finding_verdict(v, tr["state"])
    until = res[0].cfg["report_until"]
    phase = f"the first {until} iterations" if until else "the whole ramp"
    ours = (f"ε* {_fmt_stats(s)} over {phase} ({v}); median ε*/ε {tr['ratio_median']:.2f} "
            f"against the pure-noise {tr['noise']:.2f}: {tr['state']}")
    return [verdicts.Finding("hf.range", profile, ours, word, FINDING_RULE, describe(res[0].spec["run"]),
                             EXPERIMENT, seeds=tuple(sorted(r.seed for r in res)))]


__all__ += ["findings", "FINDING_RULE", "TRACK_FACTOR", "tracking", "finding_verdict", "track_summary", "EXPERIMENT"]


#: The chapter's verdict rules as data: printed before the chapter trains, quoted by the scorecard.
RULES = {"the Hessian-free estimate's range": FINDING_RULE}

__all__ += ["RULES"]
