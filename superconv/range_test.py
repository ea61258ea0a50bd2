"""The learning-rate range test, and what to read off it.

The test (CLR paper, Smith 2017, §3.3 "How can one estimate reasonable minimum and maximum
boundary values?"): train for a short while with the LR rising from ``lr_min`` to ``lr_max``,
evaluate every few iterations and plot **accuracy vs LR**. The Super-Convergence paper
(Smith & Topin, §3 and §4, Fig. 3) runs it from 0 to 3 over 5k/20k/100k iterations with an
evaluation every 100 iterations and reads a *second* thing off it: when the accuracy stays high
over a wide LR range (Fig. 3a, ResNet-56 on CIFAR-10) super-convergence is possible; when it
peaks and falls quickly (Fig. 3b) it is not.

What is here:

- :func:`lr_range_test` runs the test with :func:`superconv.train.fit` (linear ramp as the
  papers do, or exponential as the loss-based finders of fastai and torch-lr-finder do) and
  leaves the model and the global torch RNG exactly as it found them.
- :class:`RangeTestResult` holds per-iteration LRs and raw and smoothed training losses, and the
  accuracy and loss on ``eval_data`` at every evaluation point, with suggestion methods:

  =================  =====================================================================
  ``max_lr``         accuracy-based, CLR §3.3: where accuracy peaks or turns ragged
  ``min_lr_rise``    accuracy-based, CLR §3.3: where accuracy starts to rise
  ``min_lr_ratio``   CLR §3.3 / Super-Convergence §3: ``max_lr / ratio`` (ratio 3..4)
  ``steepest``       loss-based: steepest descent of the smoothed loss vs log10(LR)
  ``valley``         loss-based: ~2/3 down the longest descending stretch of the loss
  ``min_loss_10``    loss-based: LR of the minimum smoothed loss, divided by 10
  =================  =====================================================================

  and :meth:`RangeTestResult.potential`, the Fig. 3a/3b distinction read at the top of the ramp
  (``superconv.potential``: the accuracy kept over the ramp's upper part, relative to the peak,
  and where it collapses); :meth:`RangeTestResult.high_range`, the LR range within a tolerance of
  the peak (a description of the curve, not a measure of potential: on a linear ramp from 0 its
  log-width is dominated by the small LRs).
- :func:`range_test_over_seeds` repeats the test over seeds and reports mean ± std bands and the
  spread of every suggestion, of the high range and of the retention (:class:`RangeTestSeeds`).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from . import _checks
from . import bounds as bounds_lib
from . import potential as potential_lib
from ._io import jsonable, restore_float, rng_state, set_rng_state
from .data import Split
from .range_loop import ModelSnapshot, ramp_loop
from .train import fit

MODES = ("linear", "exp")
EVAL_SPLITS = ("validation", "test")
ALIGNS = ("pad", "truncate")
SUGGESTIONS = ("max_lr", "min_lr_rise", "min_lr_ratio", "steepest", "valley", "min_loss_10")
# fit() arguments the range test sets itself
_RESERVED = ("lr", "iterations", "test_data", "log_every")

__all__ = ["MODES", "EVAL_SPLITS", "SUGGESTIONS", "Suggestion", "HighRange", "RangeTestResult",
           "RangeTestSeeds", "Spread", "SmoothedLossStop", "lr_range_test", "range_test_over_seeds",
           "make_ramp", "smooth_losses"]


# =========================================================================== building blocks

def make_ramp(lr_min: float, lr_max: float, iterations: int, mode: str = "linear") -> Callable[[int], float]:
    """The LR of batch ``it`` (0-based) in a range test of ``iterations`` batches.

    With ``t = it / (iterations - 1)``:

    * ``"linear"`` (the papers): ``lr = (1 - t)·lr_min + t·lr_max``;
    * ``"exp"`` (fastai, torch-lr-finder): ``lr = lr_min · (lr_max / lr_min)**t``, i.e. geometric,
      equal steps in log10(LR).

    Both give exactly ``lr_min`` at ``it = 0`` and exactly ``lr_max`` at ``it = iterations - 1``.
    """
    _check_ramp(lr_min, lr_max, iterations, mode)
    lo, hi, n = float(lr_min), float(lr_max), iterations - 1
    if mode == "linear":
        return lambda it: (1.0 - it / n) * lo + (it / n) * hi
    log_ratio = math.log(hi / lo)

    def exp_ramp(it: int) -> float:
        if it == n:
            return hi  # exact end point, no rounding of exp(log(.))
        return lo * math.exp(log_ratio * it / n)
    return exp_ramp


def smooth_losses(losses: Sequence[float], beta: float = 0.98) -> list:
    """Bias-corrected exponential moving average (as fastai and torch-lr-finder smooth the loss).

    ``avg_i = beta·avg_{i-1} + (1 - beta)·loss_i`` with ``avg_{-1} = 0``, and
    ``smoothed_i = avg_i / (1 - beta**(i + 1))`` (the division undoes the pull towards the zero
    start, so ``smoothed_0 = loss_0``). ``beta = 0`` returns the raw losses. A non-finite loss
    makes every later smoothed value non-finite, as it should.
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"smoothing={beta!r} must be in [0, 1)")
    out, avg = [], 0.0
    for i, v in enumerate(losses):
        avg = beta * avg + (1.0 - beta) * float(v)
        out.append(avg / (1.0 - beta ** (i + 1)))
    return out


class SmoothedLossStop:
    """``fit`` callback: stop when the smoothed loss exceeds ``stop_factor`` × its best so far.

    At every host sync (``on_log``) it smooths the losses that arrived since the last call
    (:func:`smooth_losses`, same formula, incrementally) and checks, for each new iteration
    ``i``, ``smoothed_i > stop_factor · min(smoothed_0 .. smoothed_{i-1})``. The first ``i``
    for which this holds is ``stop_iter``; ``on_log`` then returns True and ``fit`` stops after
    the current step. With ``log_every = 1`` that is exactly iteration ``stop_iter``; with a
    larger sync interval up to ``log_every - 1`` more steps run (and are kept in the history).
    ``stop_factor=None`` never stops (it still tracks the smoothed loss).
    """

    def __init__(self, smoothing: float = 0.98, stop_factor: Optional[float] = 4.0):
        self.beta = float(smoothing)
        self.stop_factor = stop_factor
        self.avg = 0.0
        self.n = 0
        self.smoothed: list = []
        self.best = math.inf
        self.best_iter: Optional[int] = None
        self.stop_iter: Optional[int] = None

    def update(self, losses: Sequence[float]) -> bool:
        """Feed the full loss history; returns True once the stop criterion has fired."""
        for v in losses[self.n:]:
            self.avg = self.beta * self.avg + (1.0 - self.beta) * float(v)
            s = self.avg / (1.0 - self.beta ** (self.n + 1))
            self.smoothed.append(s)
            if (self.stop_iter is None and self.stop_factor is not None and self.n > 0
                    and s > self.stop_factor * self.best):
                self.stop_iter = self.n
            if s < self.best:
                self.best, self.best_iter = s, self.n
            self.n += 1
        return self.stop_iter is not None

    def on_log(self, ctx) -> bool:
        return self.update(ctx.history.train_loss)

    def reason(self, lrs: Sequence[float]) -> str:
        i = self.stop_iter
        lr = f"{lrs[i]:.4g}" if i is not None and i < len(lrs) else "?"
        return (f"smoothed loss {self.smoothed[i]:.4g} > stop_factor {self.stop_factor:g} x best "
                f"{self.best_at(i):.4g} at iteration {i} (lr={lr})")

    def best_at(self, i: int) -> float:
        return min(self.smoothed[:i]) if i > 0 else self.smoothed[0]


# =========================================================================== results

@dataclass
class Suggestion:
    """A suggested LR (None when the curve does not allow one) and why."""

    lr: Optional[float]
    reason: str
    method: str = ""
    index: Optional[int] = None   # into ``lrs`` (loss-based) or the eval lists (accuracy-based)

    def __float__(self) -> float:
        return float("nan") if self.lr is None else float(self.lr)


@dataclass
class HighRange:
    """Width of the LR range over which eval accuracy stays near its peak (see ``high_range``)."""

    decades: Optional[float]        # log10(hi_lr / lo_lr); inf when lo_lr == 0
    ratio: Optional[float]          # hi_lr / lo_lr
    lo_lr: Optional[float]
    hi_lr: Optional[float]
    peak_acc: Optional[float]
    peak_lr: Optional[float]
    threshold: Optional[float]      # accuracy >= threshold inside the range
    tolerance: float
    relative: bool
    n_points: int                   # eval points in the range
    open_below: bool = False        # range starts at the first eval point: may extend below
    open_above: bool = False        # range ends at the last eval point: may extend above
    note: str = ""


@dataclass
class RangeTestResult:
    """One range test. Per iteration ``i`` (0-based): ``lrs[i]`` (LR of batch i), ``losses[i]``
    (its mini-batch loss, before its step), ``smoothed_losses[i]`` (:func:`smooth_losses`).
    Per evaluation point ``k``: ``eval_iters[k]`` completed iterations, ``eval_lrs[k]`` the LR of
    the last batch before it (``lrs[eval_iters[k] - 1]``), ``eval_acc[k]`` (%) and
    ``eval_loss[k]`` on the ``eval_split`` ("validation" or "test") data.
    """

    lrs: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    smoothed_losses: list = field(default_factory=list)
    eval_lrs: list = field(default_factory=list)
    eval_iters: list = field(default_factory=list)
    eval_acc: list = field(default_factory=list)
    eval_loss: list = field(default_factory=list)
    eval_split: Optional[str] = None
    mode: str = "linear"
    lr_min: float = 0.0
    lr_max: float = 1.0
    stopped_early: bool = False
    stop_reason: Optional[str] = None
    stopped_at: Optional[int] = None       # iteration where the stop criterion fired / loss went bad
    iterations: Optional[int] = None       # planned length of the test
    config: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ (de)serialization
    def to_dict(self) -> dict:
        """JSON-friendly: non-finite floats become the strings 'nan' / 'inf' / '-inf'."""
        return jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> "RangeTestResult":
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        for k in ("lrs", "losses", "smoothed_losses", "eval_lrs", "eval_acc", "eval_loss"):
            if k in kw:
                kw[k] = [restore_float(v) for v in kw[k]]
        for k in ("lr_min", "lr_max"):
            if k in kw:
                kw[k] = restore_float(kw[k])
        return cls(**kw)

    # ------------------------------------------------------------------ helpers
    def _acc(self, smooth: int = 1) -> np.ndarray:
        a = np.asarray(self.eval_acc, dtype=float)
        if smooth > 1 and len(a) > 1:
            h = smooth // 2
            a = np.array([a[max(0, k - h):k + h + 1].mean() for k in range(len(a))])
        return a

    def _loss_curve(self):
        """(indices, lrs, smoothed) of the usable part of the loss curve: up to the first
        non-finite smoothed loss (exclusive), and only LRs > 0 (log10 needs them)."""
        s = np.asarray(self.smoothed_losses, dtype=float)
        lrs = np.asarray(self.lrs[:len(s)], dtype=float)
        s = s[:len(lrs)]
        bad = np.flatnonzero(~np.isfinite(s))
        end = int(bad[0]) if len(bad) else len(s)
        idx = np.arange(end)
        idx = idx[lrs[:end] > 0]
        return idx, lrs[idx], s[idx]

    # ------------------------------------------------------------------ accuracy-based (CLR §3.3)
    def max_lr(self, drop: float = 5.0, smooth: int = 1) -> Suggestion:
        """CLR paper §3.3 (FACTS §1): ``max_lr`` is where the rise of the accuracy slows, turns
        ragged or falls. Implemented: "turns ragged or falls" as a fall below the running maximum
        (a mere slowing of the rise is not detected: on a flat plateau the first point reaching
        the maximum is returned).

        Algorithm, with ``a_k`` the eval accuracies (optionally a centred moving average over
        ``smooth`` points, the window shrinking at the ends) and ``M_k = max(a_0..a_k)``:

        1. *Ragged*: the first eval point ``k`` with ``a_k < M_{k-1} - drop`` (a fall of more than
           ``drop`` percentage points below the running maximum) **and** ``M_{k-1} >= a_0 + drop``
           (the accuracy has risen by more than the noise level first, so wobbles at chance level
           do not count). ``max_lr`` is the LR of the running maximum before the fall (its first
           occurrence).
        2. No such fall: the LR of the (first) global maximum. If that is the last eval point the
           accuracy is still rising at the end and the true ``max_lr`` may be beyond the test.

        ``drop`` is in accuracy points; raise it for small, noisy eval sets.
        """
        if drop < 0:
            raise ValueError(f"drop={drop!r} must be >= 0 (accuracy points)")
        if not isinstance(smooth, int) or smooth < 1:
            raise ValueError(f"smooth={smooth!r} must be a positive integer (eval points)")
        a = self._acc(smooth)
        if len(a) == 0:
            return Suggestion(None, "no evaluation points (eval_data was None?)", "max_lr")
        lrs = self.eval_lrs
        best_k = 0
        for k in range(1, len(a)):
            if a[k] < a[best_k] - drop and a[best_k] >= a[0] + drop:
                return Suggestion(float(lrs[best_k]),
                                  f"accuracy peaked at {a[best_k]:.2f}% (lr={lrs[best_k]:.4g}) and fell "
                                  f"to {a[k]:.2f}% at lr={lrs[k]:.4g}, more than drop={drop:g} points: "
                                  "turns ragged / falls", "max_lr", best_k)
            if a[k] > a[best_k]:
                best_k = k
        if len(a) == 1:
            return Suggestion(float(lrs[0]), "a single evaluation point: its LR, nothing to compare",
                              "max_lr", 0)
        if best_k == len(a) - 1:
            where = ("the run stopped early" if self.stopped_early else "the end of the test")
            return Suggestion(float(lrs[best_k]),
                              f"accuracy still at its maximum ({a[best_k]:.2f}%) at the last evaluation "
                              f"({where}, lr={lrs[best_k]:.4g}): the real max_lr may be larger",
                              "max_lr", best_k)
        return Suggestion(float(lrs[best_k]),
                          f"peak accuracy {a[best_k]:.2f}% at lr={lrs[best_k]:.4g}; no fall of more than "
                          f"drop={drop:g} points after it", "max_lr", best_k)

    def min_lr_rise(self, fraction: float = 0.1, drop: float = 5.0, smooth: int = 1) -> Suggestion:
        """CLR paper §3.3 (FACTS §1): ``base_lr`` is where the accuracy starts to rise.

        With ``a_0`` the accuracy at the first eval point and ``a_p`` the accuracy at the
        ``max_lr`` point (:meth:`max_lr` with the same ``drop``/``smooth``), the total rise is
        ``R = a_p - a_0``; ``min_lr`` is the LR of the first eval point ``k <= p`` with
        ``a_k >= a_0 + fraction·R``. None when the accuracy never rose (``R <= 0``).
        """
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction={fraction!r} must be in (0, 1)")
        top = self.max_lr(drop=drop, smooth=smooth)
        if top.index is None:
            return Suggestion(None, top.reason, "min_lr_rise")
        a = self._acc(smooth)
        p = top.index
        rise = a[p] - a[0]
        if rise <= 0:
            return Suggestion(None, f"accuracy never rose above its first value {a[0]:.2f}%", "min_lr_rise")
        level = a[0] + fraction * rise
        k = next(k for k in range(p + 1) if a[k] >= level)
        note = "" if rise > drop else f" (the whole rise is only {rise:.2f} points: weak signal)"
        return Suggestion(float(self.eval_lrs[k]),
                          f"first LR where accuracy {a[k]:.2f}% >= {a[0]:.2f}% + {fraction:g} x the rise of "
                          f"{rise:.2f} points up to max_lr{note}", "min_lr_rise", k)

    def min_lr_ratio(self, ratio: float = 4.0, drop: float = 5.0, smooth: int = 1) -> Suggestion:
        """CLR paper §3.3 (and Super-Convergence §3): ``base_lr = max_lr / ratio``, ratio 3..4."""
        if not ratio > 1:
            raise ValueError(f"ratio={ratio!r} must be > 1")
        top = self.max_lr(drop=drop, smooth=smooth)
        if top.lr is None:
            return Suggestion(None, top.reason, "min_lr_ratio")
        return Suggestion(top.lr / ratio, f"max_lr {top.lr:.4g} / {ratio:g}", "min_lr_ratio", top.index)

    # ------------------------------------------------------------------ loss-based
    def steepest(self, skip_start: int = 0, skip_end: int = 0) -> Suggestion:
        """The LR of the steepest descent of the smoothed loss against log10(LR) (fastai's
        'steep', torch-lr-finder's suggestion).

        ``g = d smoothed / d log10(lr)`` by central differences on the (possibly non-uniform)
        log10(LR) grid (``numpy.gradient``; one-sided at the ends), on the usable curve (LR > 0,
        up to the first non-finite smoothed loss). The minimum of ``g`` is searched from
        ``skip_start`` up to the minimum of the smoothed loss (the descending part; the blow-up
        after it is no candidate), minus ``skip_end`` points.
        """
        idx, lrs, s = self._loss_curve()
        if len(s) < 3:
            return Suggestion(None, f"too few usable loss points ({len(s)}; need 3)", "steepest")
        g = np.gradient(s, np.log10(lrs))
        stop = int(np.argmin(s)) + 1 - skip_end
        if stop <= skip_start:
            return Suggestion(None, "no descending part of the smoothed loss left after skipping", "steepest")
        j = skip_start + int(np.argmin(g[skip_start:stop]))
        if g[j] >= 0:
            return Suggestion(None, "the smoothed loss never decreases", "steepest")
        return Suggestion(float(lrs[j]), f"steepest descent of the smoothed loss, {g[j]:.4g} per decade, "
                          f"at lr={lrs[j]:.4g}", "steepest", int(idx[j]))

    def valley(self, position: float = 2 / 3) -> Suggestion:
        """A version of fastai's 'valley': ~2/3 of the way down the longest descent of the loss.

        1. On the usable curve (LR > 0, finite), find the longest strictly decreasing
           subsequence of the smoothed loss (``O(n log n)``, patience sorting with predecessor
           links; among equally long ones, the one that ends first). Its first and last points
           ``s`` and ``e`` bound the "valley" – the longest stretch along which the loss goes
           down, tolerant to bumps because points may be skipped.
        2. Go ``position`` (default 2/3) of the way from ``s`` to ``e`` in log10(LR) and return the
           sampled LR nearest to that point (in log10). For the exponential ramp log10(LR) is
           proportional to the iteration, so this is fastai's "2/3 of the indices".
        """
        if not 0.0 <= position <= 1.0:
            raise ValueError(f"position={position!r} must be in [0, 1]")
        idx, lrs, s = self._loss_curve()
        if len(s) < 2:
            return Suggestion(None, f"too few usable loss points ({len(s)}; need 2)", "valley")
        start, end, length = _longest_decreasing(s)
        if end == start:
            return Suggestion(None, "the smoothed loss never decreases", "valley")
        x = np.log10(lrs)
        target = x[start] + position * (x[end] - x[start])
        j = start + int(np.argmin(np.abs(x[start:end + 1] - target)))
        return Suggestion(float(lrs[j]), f"{position:.3g} of the way (in log10 LR) down the longest descent of "
                          f"the smoothed loss, lr {lrs[start]:.4g} -> {lrs[end]:.4g} "
                          f"({length} points)", "valley", int(idx[j]))

    def min_loss_10(self, divisor: float = 10.0) -> Suggestion:
        """The LR of the minimum smoothed loss divided by ``divisor`` (fastai's 'minimum' / 10):
        at the minimum the loss is about to blow up, an order of magnitude below is safe."""
        if not divisor > 0:
            raise ValueError(f"divisor={divisor!r} must be > 0")
        idx, lrs, s = self._loss_curve()
        if len(s) == 0:
            return Suggestion(None, "no usable loss points", "min_loss_10")
        j = int(np.argmin(s))
        return Suggestion(float(lrs[j] / divisor), f"minimum smoothed loss {s[j]:.4g} at lr={lrs[j]:.4g}, "
                          f"divided by {divisor:g}", "min_loss_10", int(idx[j]))

    def suggestions(self, drop: float = 5.0, smooth: int = 1, fraction: float = 0.1,
                    ratio: float = 4.0) -> dict:
        """All six suggestions (names in ``SUGGESTIONS``), default settings for the loss-based ones."""
        return dict(max_lr=self.max_lr(drop, smooth),
                    min_lr_rise=self.min_lr_rise(fraction, drop, smooth),
                    min_lr_ratio=self.min_lr_ratio(ratio, drop, smooth),
                    steepest=self.steepest(), valley=self.valley(), min_loss_10=self.min_loss_10())

    def plateau_bounds(self, smooth: int = 1, tolerance: float = bounds_lib.TOLERANCE,
                       ratio: float = bounds_lib.RATIO, reach: float = bounds_lib.REACH,
                       min_peak: float = 0.0) -> bounds_lib.Bounds:
        """1cycle bounds by the plateau rule (:func:`superconv.bounds.plateau_bounds`) on this
        test's evaluation accuracy, a centred moving average over ``smooth`` points; the ramp's
        top is ``lr_max``. ValueError without evaluation accuracies."""
        if not self.eval_acc:
            raise ValueError("the plateau rule needs evaluation accuracies: run the test with eval_data "
                             "(classification outputs)")
        return bounds_lib.plateau_bounds(self.eval_lrs, list(self._acc(smooth)), lr_max=self.lr_max,
                                         tolerance=tolerance, ratio=ratio, reach=reach, min_peak=min_peak)

    def plot(self, ax=None, suggestions: Sequence[str] = ("max_lr", "min_lr_ratio", "steepest", "valley")):
        """Draw the test on ``ax`` (None: a new figure): training loss vs LR (raw, faint, and
        smoothed), the evaluation accuracy on a right-hand axis where there is one, and a
        vertical line at each of ``suggestions`` (names in :data:`SUGGESTIONS`) that gives an LR.
        The LR axis is logarithmic for an exponential ramp. Returns ``ax``."""
        import matplotlib.pyplot as plt  # optional: matplotlib is in the book's extra

        unknown = [s for s in suggestions if s not in SUGGESTIONS]
        if unknown:
            raise ValueError(f"suggestions={list(suggestions)!r}: unknown {unknown}; allowed: {', '.join(SUGGESTIONS)}")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(self.lrs, self.losses, color="C0", alpha=0.25, lw=0.8, label="loss")
        ax.plot(self.lrs, self.smoothed_losses, color="C0", label="smoothed loss")
        finite = [v for v in self.smoothed_losses if math.isfinite(v)]
        if finite:  # the divergence at the end would flatten the curve
            ax.set_ylim(min(finite) - 0.05 * abs(min(finite)), 1.5 * finite[0] if finite[0] > 0 else None)
        if self.mode == "exp":
            ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        handles = ax.get_legend_handles_labels()
        if self.eval_acc:
            right = ax.twinx()
            right.plot(self.eval_lrs, self.eval_acc, "o-", color="C1", ms=3,
                       label=f"{self.eval_split or 'eval'} accuracy")
            right.set_ylabel("accuracy (%)")
            h, lab = right.get_legend_handles_labels()
            handles = (handles[0] + h, handles[1] + lab)
        every = self.suggestions()
        for k, name in enumerate(suggestions):
            sug = every[name]
            if sug.lr is not None and sug.lr > 0:
                line = ax.axvline(sug.lr, color=f"C{k + 2}", ls="--", lw=1)
                handles = (handles[0] + [line], handles[1] + [f"{name} {sug.lr:.3g}"])
        ax.legend(*handles, fontsize=10)
        return ax

    # ------------------------------------------------------------------ super-convergence potential
    def potential(self, top: float = potential_lib.TOP, collapse: float = potential_lib.COLLAPSE,
                  retain: float = potential_lib.RETAIN, min_peak: Optional[float] = None
                  ) -> Optional[potential_lib.Potential]:
        """The super-convergence potential (Super-Convergence §4, Fig. 3), read at the top of the
        ramp: ``superconv.potential.potential`` of this test's evaluations, the ramp ending at
        ``lr_max``; a run that stopped early collapses where it stopped (the earliest stop, for a
        seed-mean curve). ``min_peak``: the accuracy a net must reach to have learned at all
        (e.g. chance level plus a margin). None without evaluations."""
        if not self.eval_acc:
            return None
        stop = None
        if self.stopped_early:
            k = self.stopped_at if self.stopped_at is not None and self.stopped_at < len(self.lrs) else -1
            stop = self.lrs[k] if self.lrs else None
        return potential_lib.potential(self.eval_lrs, self.eval_acc, lr_max=self.lr_max, stopped_lr=stop,
                                       top=top, collapse=collapse, retain=retain, min_peak=min_peak)

    def high_range(self, tolerance: float = 5.0, relative: bool = False) -> HighRange:
        """How wide is the LR range over which eval accuracy stays near its peak?

        A description of the curve: for ResNet-56 on CIFAR-10 the accuracy of a range test stays
        high up to LR 3 (Super-Convergence Fig. 3a); for other nets it peaks and falls quickly
        (Fig. 3b). Its width in decades is *not* the potential: on a linear ramp from 0 the small
        LRs dominate a log width (use :meth:`potential`). Definition:

        * ``peak`` = the maximum eval accuracy (its first occurrence ``p``);
        * ``threshold = peak - tolerance`` (accuracy points) or, with ``relative=True``,
          ``peak·(1 - tolerance)`` (``tolerance`` a fraction in (0, 1));
        * the range is the **contiguous** stretch of eval points ``lo..hi`` containing ``p`` with
          every accuracy ``>= threshold`` (a later second hump does not count);
        * ``decades = log10(hi_lr / lo_lr)``, ``ratio = hi_lr / lo_lr`` (both inf if lo_lr = 0).

        Edge cases: no eval points → all None; one point in the range → 0 decades, ratio 1;
        the range reaching the last eval point → ``open_above`` (the note says the range extends
        past lr_max, or past where the run stopped early) and reaching the first →
        ``open_below``: then the width is a lower bound.
        """
        if relative and not 0.0 < tolerance < 1.0:
            raise ValueError(f"tolerance={tolerance!r} must be in (0, 1) with relative=True")
        if not relative and not tolerance >= 0:
            raise ValueError(f"tolerance={tolerance!r} must be >= 0 accuracy points")
        a = np.asarray(self.eval_acc, dtype=float)
        if len(a) == 0:
            return HighRange(None, None, None, None, None, None, None, tolerance, relative, 0,
                             note="no evaluation points")
        lrs = self.eval_lrs
        p = int(np.argmax(a))
        peak = float(a[p])
        thr = peak * (1.0 - tolerance) if relative else peak - tolerance
        lo = p
        while lo > 0 and a[lo - 1] >= thr:
            lo -= 1
        hi = p
        while hi < len(a) - 1 and a[hi + 1] >= thr:
            hi += 1
        lo_lr, hi_lr = float(lrs[lo]), float(lrs[hi])
        if lo_lr <= 0:
            ratio = decades = math.inf
        else:
            ratio = hi_lr / lo_lr
            decades = math.log10(ratio)
        notes = []
        if len(a) == 1:
            notes.append("a single evaluation point: no width can be measured")
        elif lo == hi:
            notes.append("a single evaluation point within tolerance of the peak: a sharp peak")
        open_above = hi == len(a) - 1
        open_below = lo == 0 and len(a) > 1
        if open_above:
            if self.stopped_early:
                notes.append(f"accuracy is within tolerance at the last evaluation (lr={hi_lr:.4g}) before "
                             f"the run stopped early ({self.stop_reason}): the range may extend further")
            else:
                notes.append(f"range extends past lr_max (accuracy within tolerance at lr={hi_lr:.4g}, "
                             "the last evaluation)")
        if open_below:
            notes.append(f"range starts at the first evaluation (lr={lo_lr:.4g}): may extend below")
        return HighRange(decades, ratio, lo_lr, hi_lr, peak, float(lrs[p]), thr, tolerance, relative,
                         hi - lo + 1, open_below, open_above, "; ".join(notes))

    def summary(self) -> str:
        """A few lines for a notebook: the test, how it ended, every suggestion, the potential."""
        lines = [f"LR range test ({self.mode}, {self.lr_min:g} -> {self.lr_max:g}, "
                 f"{len(self.lrs)}/{self.iterations or len(self.lrs)} iterations, eval on {self.eval_split})"]
        if self.stopped_early:
            lines.append(f"stopped early: {self.stop_reason}")
        for name, s in self.suggestions().items():
            lines.append(f"  {name:13s} {'-' if s.lr is None else f'{s.lr:.4g}':>10}  {s.reason}")
        hr = self.high_range()
        if hr.decades is not None:
            lines.append(f"  high range    {hr.decades:.3g} decades (x{hr.ratio:.3g}) within "
                         f"{hr.tolerance:g}{' (relative)' if hr.relative else ' points'} of "
                         f"{hr.peak_acc:.2f}%{'; ' + hr.note if hr.note else ''}")
        pot = self.potential()
        if pot is not None:
            lines.append(f"  potential     {pot.describe()}")
        return "\n".join(lines)


def _longest_decreasing(s: np.ndarray) -> tuple:
    """(start, end, length) of a longest strictly decreasing subsequence of ``s``.

    Patience sorting on ``-s`` (strictly increasing): ``tails[l]`` is the index of the smallest
    ``-s`` ending an increasing subsequence of length ``l+1`` seen so far. Among longest
    subsequences the one that ends first is returned.
    """
    neg = (-np.asarray(s, dtype=float)).tolist()
    tail_vals: list = []
    tail_idx: list = []
    pred = [-1] * len(neg)
    best_len, best_end = 0, 0
    for i, v in enumerate(neg):
        l = bisect.bisect_left(tail_vals, v)  # strictly increasing: replace the first >= v
        pred[i] = tail_idx[l - 1] if l > 0 else -1
        if l == len(tail_vals):
            tail_vals.append(v)
            tail_idx.append(i)
        else:
            tail_vals[l] = v
            tail_idx[l] = i
        if l + 1 > best_len:
            best_len, best_end = l + 1, i
    start = best_end
    while pred[start] != -1:
        start = pred[start]
    return start, best_end, best_len


# =========================================================================== running the test

def _check_ramp(lr_min, lr_max, iterations, mode) -> None:
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not a ramp; allowed: 'linear', 'exp'")
    for name, v in (("lr_min", lr_min), ("lr_max", lr_max)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name}={v!r} must be a finite number")
    if mode == "exp" and lr_min <= 0:
        raise ValueError(f"lr_min={lr_min!r} must be > 0 with mode='exp' (geometric ramp)")
    if lr_min < 0:
        raise ValueError(f"lr_min={lr_min!r} must be >= 0")
    if lr_min >= lr_max:
        raise ValueError(f"lr_min={lr_min!r} must be smaller than lr_max={lr_max!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 2:
        raise ValueError(f"iterations={iterations!r} must be an integer >= 2")


def _infer_eval_split(eval_data, eval_split) -> Optional[str]:
    if eval_split is not None and eval_split not in EVAL_SPLITS:
        raise ValueError(f"eval_split={eval_split!r} is not a split kind; allowed: 'validation', 'test', None (infer)")
    if eval_data is None:
        return None
    is_train = getattr(eval_data, "train", getattr(getattr(eval_data, "dataset", None), "train", None))
    inferred = None if is_train is None else ("validation" if is_train else "test")
    if eval_split is None:
        return inferred
    if inferred is not None and eval_split != inferred:
        raise ValueError(f"eval_split={eval_split!r} but eval_data.train={is_train} says it is a {inferred} split "
                         "(held out of the training data = 'validation'); allowed: "
                         f"{inferred!r} or None")
    return eval_split


#: Defaults by kind of data. A :class:`~superconv.data.Split` gets the papers' test (linear 0 -> 3
#: over 5,000 iterations, the authors' ResNet-56 runs); a ``DataLoader`` or any iterable of
#: batches gets the loss-based finders' (exponential 1e-7 -> 10 over 100 iterations, as
#: torch-lr-finder and fastai's ``lr_find``).
SPLIT_DEFAULTS = dict(lr_min=0.0, lr_max=3.0, iterations=5000, mode="linear")
LOADER_DEFAULTS = dict(lr_min=1e-7, lr_max=10.0, iterations=100, mode="exp")
DEFAULT_MOMENTUM = 0.9  # the papers' SGD; a user's own optimizer keeps its own unless momentum= is given
DEFAULT_WEIGHT_DECAY = 1e-4


def lr_range_test(model: nn.Module, train_data, eval_data=None, lr_min: Optional[float] = None,
                  lr_max: Optional[float] = None, iterations: Optional[int] = None, mode: Optional[str] = None,
                  *, optimizer: Optional[torch.optim.Optimizer] = None, criterion: Optional[Callable] = None,
                  eval_every: Optional[int] = None, batch_size: Optional[int] = None, momentum=None,
                  weight_decay: Optional[float] = None, stop_factor: Optional[float] = 4.0,
                  smoothing: float = 0.98, eval_split: Optional[str] = None, seed: Optional[int] = None,
                  log_every: int = 1, **fit_kwargs) -> RangeTestResult:
    """Run an LR range test on ``model`` and return a :class:`RangeTestResult`; ``model``, the
    optimizer (if one is given) and the global torch RNG are left exactly as they were.

    The test (CLR paper §3.3; Super-Convergence §3, Fig. 3): train for ``iterations`` batches,
    batch ``it`` at ``make_ramp(lr_min, lr_max, iterations, mode)(it)`` -- linear
    ``(1 - t)·lr_min + t·lr_max`` (the papers; the authors ran 0 → 3 over 5k/20k/100k
    iterations) or exponential ``lr_min·(lr_max/lr_min)**t`` (fastai and torch-lr-finder),
    ``t = it / (iterations - 1)`` -- at constant momentum, evaluating on ``eval_data`` every
    ``eval_every`` iterations and at the end.

    **Two kinds of data.**

    * ``train_data`` a :class:`superconv.data.Split` (the fast path): trains with
      :func:`superconv.train.fit` (data on the device, augmentation there, bf16 where supported)
      and fit's own SGD with ``momentum`` (default 0.9) and ``weight_decay`` (default 1e-4), batch
      ``batch_size`` (default 128); ``eval_data`` a Split too. Defaults :data:`SPLIT_DEFAULTS`,
      ``eval_every`` ``max(1, iterations // 50)``, ``seed`` 0 (fit's data order and
      augmentation). ``fit_kwargs`` go to ``fit`` (``sgd``, ``nesterov``, ``precision``,
      ``bn_momentum``, ``max_loss``, ``device``, ``callbacks``, ...; ``progress=False`` and
      ``train_eval_size=1`` by default). ``log_every`` is fit's host-synchronisation period, when
      the stop criterion can act: 1 (default) stops exactly at the offending iteration; ``k > 1``
      saves syncs but may train up to ``k - 1`` batches past the trigger.
    * anything else: a ``DataLoader`` or any iterable of ``(inputs, targets)`` batches of any
      tensors (re-iterated when it runs out; a one-shot iterator ends the test early), trained in
      a plain loop (:func:`superconv.range_loop.ramp_loop`) with the user's ``optimizer`` (LR and,
      if ``momentum`` is given, momentum driven by the test; other groups keep their LR ratio to
      group 0; its state is restored afterwards) and ``criterion(outputs, targets)`` (default
      cross-entropy). Without an ``optimizer``: SGD with ``momentum`` 0.9 and ``weight_decay``
      1e-4. ``eval_data`` is a loader too ("accuracy mode"): loss every evaluation, accuracy where
      outputs are ``(N, C)`` scores and targets ``(N,)`` classes. Defaults
      :data:`LOADER_DEFAULTS`, ``eval_every`` ``max(1, iterations // 20)``; the model runs in its
      own dtype on its own device; ``seed`` (None: leave the RNG as it is) seeds torch's global
      RNG first, e.g. for a shuffling DataLoader. The loss is read back every step.

    Early stop: when the bias-corrected EMA of the loss (``smoothing`` = beta, see
    :func:`smooth_losses`) exceeds ``stop_factor`` × its minimum so far (:class:`SmoothedLossStop`;
    ``stop_factor=None``: never), or on a non-finite loss (``fit``: also a loss above its
    ``max_loss``). The history up to the stop is kept and ``stopped_early``/``stop_reason``/
    ``stopped_at`` say what happened.

    ``eval_split`` names what ``eval_data`` is -- ``"validation"`` (held out of the training
    data) or ``"test"``; None infers it from ``eval_data.train`` (or its ``.dataset.train``), a
    contradiction is an error. ``eval_data=None`` skips evaluation (loss-based suggestions only).

    Restoration (try/finally, also after an exception or an early stop): parameter and buffer
    values (BN running statistics included) bit-identical, on their original device and layout,
    parameter ``.grad``, ``training`` flags, BN momenta, the optimizer's ``state_dict`` and the
    global torch RNG state (CPU and every CUDA device).

    Raises ``ValueError`` naming the parameter, before any training, for: ``lr_min >= lr_max``,
    ``lr_min < 0`` (``<= 0`` with ``mode="exp"``), ``iterations < 2``, an unknown ``mode``,
    ``stop_factor <= 1``, ``smoothing`` outside [0, 1), ``eval_every < 1``, ``log_every < 1``,
    an unknown ``eval_split``, and arguments that do not apply to the kind of data given
    (``optimizer``/``criterion`` with a Split; ``batch_size``, fit arguments or ``log_every`` with
    a loader; ``weight_decay`` beside a user's optimizer).
    """
    loader = not isinstance(train_data, Split)
    defaults = LOADER_DEFAULTS if loader else SPLIT_DEFAULTS
    lr_min = defaults["lr_min"] if lr_min is None else lr_min
    lr_max = defaults["lr_max"] if lr_max is None else lr_max
    iterations = defaults["iterations"] if iterations is None else iterations
    mode = defaults["mode"] if mode is None else mode
    # ---- validation, before any work
    _check_ramp(lr_min, lr_max, iterations, mode)
    iterations = int(iterations)
    if stop_factor is not None and (isinstance(stop_factor, bool) or not isinstance(stop_factor, (int, float))
                                    or not stop_factor > 1):
        raise ValueError(f"stop_factor={stop_factor!r} must be a number > 1 (or None: never stop on the loss)")
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing={smoothing!r} must be in [0, 1) (the EMA's beta)")
    if eval_every is None:
        eval_every = max(1, iterations // (20 if loader else 50))
    eval_every = _checks.positive_int("eval_every", eval_every)
    log_every = _checks.positive_int("log_every", log_every)
    for key in _RESERVED:
        if key in fit_kwargs:
            raise ValueError(f"{key}= is set by the range test itself; use lr_min/lr_max/iterations/"
                             "mode/eval_data/log_every instead")
    split_kind = _infer_eval_split(eval_data, eval_split)
    stopper = SmoothedLossStop(smoothing, stop_factor)
    ramp = make_ramp(lr_min, lr_max, iterations, mode)
    common = dict(lr_min=float(lr_min), lr_max=float(lr_max), iterations=iterations, mode=mode,
                  eval_every=eval_every, momentum=momentum, stop_factor=stop_factor, smoothing=float(smoothing),
                  eval_split=split_kind,
                  eval_data=None if eval_data is None else getattr(eval_data, "description",
                                                                   getattr(eval_data, "name", None)))
    if loader:
        return _loader_test(model, train_data, eval_data, ramp, stopper, common, optimizer, criterion,
                            batch_size, weight_decay, seed, log_every, fit_kwargs)

    for name, v in (("optimizer", optimizer), ("criterion", criterion)):
        if v is not None:
            raise ValueError(f"{name}= needs train_data as a DataLoader or an iterable of (inputs, targets) "
                             "batches; with a data.Split the test trains with fit's own SGD and cross-entropy "
                             "(momentum=, weight_decay=, sgd=, nesterov=)")
    momentum = DEFAULT_MOMENTUM if momentum is None else momentum
    weight_decay = DEFAULT_WEIGHT_DECAY if weight_decay is None else weight_decay
    batch_size = 128 if batch_size is None else batch_size
    seed = 0 if seed is None else seed
    user_callbacks = list(fit_kwargs.pop("callbacks", ()))
    fit_kwargs.setdefault("progress", False)
    fit_kwargs.setdefault("train_eval_size", 1)
    snapshot = ModelSnapshot(model)
    rng = rng_state()
    try:
        history = fit(model, train_data, eval_data, ramp, momentum, iterations, batch_size, weight_decay,
                      eval_every=eval_every, log_every=log_every, seed=seed,
                      callbacks=[stopper, *user_callbacks], **fit_kwargs)
    finally:
        snapshot.restore()
        set_rng_state(rng)

    n = min(len(history.lr), len(history.train_loss))
    lrs = [float(v) for v in history.lr[:n]]
    losses = [float(v) for v in history.train_loss[:n]]
    stopped_early, reason, stopped_at = False, None, None
    if history.diverged:
        stopped_early, stopped_at = True, history.diverged_at
        i = history.diverged_at
        if i is not None and i < n:
            reason = (f"fit diverged: training loss {losses[i]:.4g} at iteration {i} (lr={lrs[i]:.4g}) is "
                      f"non-finite or above max_loss={history.config.get('max_loss', float('nan')):.4g}")
        else:
            reason = f"fit diverged at iteration {i} (non-finite evaluation loss)"
    elif history.stopped_by is not None and stopper.stop_iter is not None:
        stopped_early, stopped_at = True, stopper.stop_iter
        reason = stopper.reason(lrs)
    elif history.stopped_by is not None:
        stopped_early, stopped_at = True, n - 1
        reason = f"stopped by callback {history.stopped_by} after iteration {n - 1}"
    elif n < iterations:
        stopped_early, stopped_at = True, n - 1
        reason = f"fit ended after {n} of {iterations} iterations"

    config = dict(common, momentum=momentum if isinstance(momentum, (int, float)) else repr(momentum),
                  batch_size=batch_size, weight_decay=weight_decay, seed=seed, log_every=log_every,
                  fit={k: v for k, v in history.config.items()}, wall_time=history.wall_time)
    return _result(lrs, losses, list(history.eval_iters), [float(v) for v in history.test_acc],
                   [float(v) for v in history.test_loss], stopped_early, reason, stopped_at, config)


def _result(lrs, losses, eval_iters, eval_acc, eval_loss, stopped_early, reason, stopped_at,
            config) -> RangeTestResult:
    return RangeTestResult(
        lrs=lrs, losses=losses, smoothed_losses=smooth_losses(losses, config["smoothing"]),
        eval_lrs=[lrs[k - 1] for k in eval_iters], eval_iters=eval_iters, eval_acc=eval_acc, eval_loss=eval_loss,
        eval_split=config["eval_split"], mode=config["mode"], lr_min=config["lr_min"], lr_max=config["lr_max"],
        stopped_early=stopped_early, stop_reason=reason, stopped_at=stopped_at, iterations=config["iterations"],
        config=config)


def _loader_test(model, train_data, eval_data, ramp, stopper, common, optimizer, criterion, batch_size,
                 weight_decay, seed, log_every, fit_kwargs) -> RangeTestResult:
    """The range test over a DataLoader / iterable of batches (see :func:`lr_range_test`)."""
    if not hasattr(train_data, "__iter__"):
        raise ValueError(f"train_data={type(train_data).__name__} is neither a data.Split nor an iterable of "
                         "(inputs, targets) batches (e.g. a torch DataLoader)")
    if eval_data is not None and (isinstance(eval_data, Split) or not hasattr(eval_data, "__iter__")):
        raise ValueError(f"eval_data={type(eval_data).__name__} must be an iterable of (inputs, targets) batches "
                         "like train_data (a DataLoader), or None")
    wrong = dict(fit_kwargs)
    if batch_size is not None:
        wrong["batch_size"] = batch_size
    if log_every != 1:
        wrong["log_every"] = log_every
    if wrong:
        raise ValueError(f"{', '.join(sorted(wrong))}= apply to a data.Split (superconv's fit); with a DataLoader "
                         "the loader sets the batch and the loop reads the loss every step")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer={type(optimizer).__name__} is not a torch.optim.Optimizer")
    if optimizer is not None and weight_decay is not None:
        raise ValueError("weight_decay= applies when the range test builds the optimizer; "
                         f"set it in your {type(optimizer).__name__} instead")
    _checks.optional(lambda n, v: _checks.integer(n, v, minimum=0), "seed", seed,
                     "an integer >= 0 (None: leave torch's RNG as it is)")
    momentum = common["momentum"]
    _checks.optional(_checks.fraction, "momentum", momentum, "a number in [0, 1), or None: the optimizer's own")
    if optimizer is None:
        momentum = DEFAULT_MOMENTUM if momentum is None else momentum
        weight_decay = DEFAULT_WEIGHT_DECAY if weight_decay is None else weight_decay
        optimizer = torch.optim.SGD(model.parameters(), lr=common["lr_min"], momentum=momentum,
                                    weight_decay=weight_decay)
        built = f"SGD(momentum={momentum:g}, weight_decay={weight_decay:g})"
    else:
        built = type(optimizer).__name__
    criterion = nn.CrossEntropyLoss() if criterion is None else criterion
    raw = ramp_loop(model, train_data, ramp, common["iterations"], optimizer, criterion, momentum=momentum,
                    stop=stopper.update, eval_batches=eval_data, eval_every=common["eval_every"], seed=seed)
    lrs, losses, n = raw["lrs"], raw["losses"], len(raw["lrs"])
    stopped_early, reason, stopped_at = False, None, None
    if raw["reason"] == "non-finite":
        stopped_early, stopped_at = True, n - 1
        reason = f"training loss {losses[-1]} at iteration {n - 1} (lr={lrs[-1]:.4g}) is non-finite"
    elif raw["reason"] == "stop":
        stopped_early, stopped_at = True, stopper.stop_iter
        reason = stopper.reason(lrs)
    elif n < common["iterations"]:
        stopped_early, stopped_at = True, n - 1
        reason = f"the data ran out after {n} of {common['iterations']} batches (a one-shot iterator)"
    config = dict(common, momentum=momentum, weight_decay=weight_decay, seed=seed, optimizer=built,
                  criterion=getattr(criterion, "__name__", type(criterion).__name__),
                  data=type(train_data).__name__)
    return _result(lrs, losses, raw["eval_iters"], raw["eval_acc"], raw["eval_loss"], stopped_early, reason,
                   stopped_at, config)


# =========================================================================== over seeds

@dataclass
class Spread:
    """Mean, sample std (ddof=1; NaN for fewer than 2 values), min, max over the seeds where the
    quantity exists (``n`` of them); ``values`` per seed (None where it does not)."""

    mean: float
    std: float
    min: float
    max: float
    n: int
    values: list

    @classmethod
    def of(cls, values: Sequence[Optional[float]]) -> "Spread":
        v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=float)
        if len(v) == 0:
            return cls(math.nan, math.nan, math.nan, math.nan, 0, list(values))
        std = float(np.std(v, ddof=1)) if len(v) > 1 else math.nan
        return cls(float(v.mean()), std, float(v.min()), float(v.max()), len(v), list(values))


def _band(rows: Sequence[Sequence[float]], align: str) -> tuple:
    """(mean, std, count) per column of ragged ``rows``: NaN-padded to the longest row
    (``align="pad"``) or cut to the shortest (``"truncate"``). Non-finite entries count as
    missing; std is the sample std (ddof=1), NaN where fewer than 2 values."""
    lengths = [len(r) for r in rows]
    L = (max(lengths) if align == "pad" else min(lengths)) if rows else 0
    m = np.full((len(rows), L), np.nan)
    for i, r in enumerate(rows):
        k = min(len(r), L)
        m[i, :k] = np.asarray(r[:k], dtype=float)
    m[~np.isfinite(m)] = np.nan
    ok = ~np.isnan(m)
    n = ok.sum(0)
    total = np.where(ok, m, 0.0).sum(0)
    mean = np.full(L, np.nan)
    mean[n > 0] = total[n > 0] / n[n > 0]
    sq = np.where(ok, (m - mean) ** 2, 0.0).sum(0)
    std = np.full(L, np.nan)
    std[n > 1] = np.sqrt(sq[n > 1] / (n[n > 1] - 1))
    return mean, std, n


@dataclass
class RangeTestSeeds:
    """Range tests repeated over seeds, on the common LR grid (all runs share the ramp).

    Bands: ``align="pad"`` (default) NaN-pads runs that stopped early to the longest run and
    averages over the seeds still running at each point (``n_loss``/``n_acc`` say how many);
    ``"truncate"`` cuts every run to the shortest. ``*_std`` are sample stds (ddof=1).
    ``suggestions[name]``, ``high_range`` (its width in decades), ``high_range_ratio`` (hi/lo) and
    ``retention`` (:meth:`RangeTestResult.potential`'s accuracy kept over the ramp's upper part,
    relative to the peak) are :class:`Spread` objects over the seeds.
    """

    seeds: list
    results: list
    align: str
    lrs: list
    smoothed_mean: list
    smoothed_std: list
    n_loss: list
    eval_iters: list
    eval_lrs: list
    acc_mean: list
    acc_std: list
    eval_loss_mean: list
    eval_loss_std: list
    n_acc: list
    suggestions: dict
    high_range: Spread
    high_range_ratio: Spread
    retention: Spread
    high_range_tolerance: float = 5.0

    @classmethod
    def from_results(cls, results: Sequence[RangeTestResult], seeds: Sequence[int], align: str = "pad",
                     high_range_tolerance: float = 5.0, suggest_kwargs: Optional[dict] = None) -> "RangeTestSeeds":
        if align not in ALIGNS:
            raise ValueError(f"align={align!r} is not an alignment; allowed: 'pad', 'truncate'")
        if not results:
            raise ValueError("results is empty: need at least one range test")
        if len(seeds) != len(results):
            raise ValueError(f"seeds has {len(seeds)} entries but results {len(results)}")
        ramps = {(r.mode, r.lr_min, r.lr_max, r.iterations) for r in results}
        if len(ramps) > 1:
            raise ValueError(f"results come from different ramps {sorted(map(str, ramps))}: no common LR grid")
        sm, sd, nl = _band([r.smoothed_losses for r in results], align)
        am, ad, na = _band([r.eval_acc for r in results], align)
        lm, ld, _ = _band([r.eval_loss for r in results], align)
        longest = max(results, key=lambda r: len(r.lrs))
        longest_eval = max(results, key=lambda r: len(r.eval_iters))
        sugg = [r.suggestions(**(suggest_kwargs or {})) for r in results]
        highs = [r.high_range(high_range_tolerance) for r in results]
        pots = [r.potential() for r in results]
        return cls(
            seeds=list(seeds), results=list(results), align=align,
            lrs=list(longest.lrs[:len(sm)]), smoothed_mean=sm.tolist(), smoothed_std=sd.tolist(),
            n_loss=nl.tolist(), eval_iters=list(longest_eval.eval_iters[:len(am)]),
            eval_lrs=list(longest_eval.eval_lrs[:len(am)]), acc_mean=am.tolist(), acc_std=ad.tolist(),
            eval_loss_mean=lm.tolist(), eval_loss_std=ld.tolist(), n_acc=na.tolist(),
            suggestions={name: Spread.of([s[name].lr for s in sugg]) for name in SUGGESTIONS},
            high_range=Spread.of([h.decades for h in highs]), high_range_ratio=Spread.of([h.ratio for h in highs]),
            retention=Spread.of([p.retention if p is not None else None for p in pots]),
            high_range_tolerance=high_range_tolerance)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["results"] = [r.to_dict() for r in self.results]
        return jsonable(d)

    def summary(self) -> str:
        lines = [f"LR range test over seeds {self.seeds} (align={self.align})"]
        for name, s in self.suggestions.items():
            lines.append(f"  {name:13s} {s.mean:.4g} ± {s.std:.2g}  [{s.min:.4g}, {s.max:.4g}]  (n={s.n})")
        p = self.high_range
        lines.append(f"  high range    {p.mean:.3g} ± {p.std:.2g} decades  [{p.min:.3g}, {p.max:.3g}]  "
                     f"(tolerance {self.high_range_tolerance:g} points, n={p.n})")
        r = self.retention
        lines.append(f"  retention     {r.mean:.3g} ± {r.std:.2g} of the peak over the ramp's upper part  "
                     f"[{r.min:.3g}, {r.max:.3g}]  (n={r.n})")
        return "\n".join(lines)


def range_test_over_seeds(make_model: Callable[[int], nn.Module], train_data, eval_data,
                          seeds: Sequence[int] = (0, 1, 2), *, align: str = "pad",
                          high_range_tolerance: float = 5.0, suggest_kwargs: Optional[dict] = None,
                          **kwargs) -> RangeTestSeeds:
    """:func:`lr_range_test` once per seed – ``make_model(seed)`` builds a fresh model and the
    seed also sets ``fit``'s batch order and global RNG – then mean ± std bands of the smoothed
    loss and eval accuracy/loss on the common LR grid and the spread of every suggestion, of the
    high range and of the retention (:class:`RangeTestSeeds`). ``kwargs`` go to :func:`lr_range_test`."""
    if align not in ALIGNS:
        raise ValueError(f"align={align!r} is not an alignment; allowed: 'pad', 'truncate'")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds=() is empty: give at least one seed")
    if "seed" in kwargs:
        raise ValueError("seed= is set per run from seeds=")
    results = [lr_range_test(make_model(s), train_data, eval_data, seed=s, **kwargs) for s in seeds]
    return RangeTestSeeds.from_results(results, seeds, align, high_range_tolerance, suggest_kwargs)
